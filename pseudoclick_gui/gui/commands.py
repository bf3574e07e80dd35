"""Undoable steps of the one app-level undo stack (``QUndoStack``). Each command calls the worker's sessions
(through :meth:`Annotator.run_op`) and the project store, so undo/redo keeps the network state, the screen and
the project file in step.

``ann`` is the :class:`~pseudoclick_gui.gui.annotator.Annotator`; commands only use its small surface:
``store``, ``image_id``, ``clicks``, ``token``, ``reopened``, ``seed``, ``run_op``, ``new_token``, ``activate``,
``notify`` and ``save``.

Writes: every change to the project goes through ``ann.save(what, write)``. When the disk is full the change
stays in memory and the annotator writes it (in order with the ones after it) once there is space, so a
command updates the screen and its own state whatever happens to the write; ``write`` reads ids made by
earlier writes (a click's ``store_id``, a new ``instance_id``) when it runs, never when it is made.

Drafts: whenever a command brings an object back as the current one (undo of a finish or a reset, a
re-open, a propagation), it saves the image's draft with that object's seed too (``save_draft(..., seed=)``),
so a crash right afterwards restores the same session; finishing or resetting drops the draft and its seed.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QUndoCommand

from ..engine.types import Click

log = logging.getLogger(__name__)


def guarded(method):
    """A failing store or session call inside undo/redo becomes a message, not an exception through Qt."""

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:  # noqa: BLE001
            log.exception("%s failed", method.__qualname__)
            self.ann.message.emit("error", f"{self.text()} failed: {exc}")

    return wrapper


STORE_KIND = {"human": "human", "pseudo": "pseudo_accepted", "withdrawn": "pseudo_withdrawn", "propagated": "propagated"}


@dataclass(eq=False)
class DraftClick:
    """A click of the object being drawn, as shown and stored. ``kind``: human | pseudo | withdrawn |
    propagated (derived from the neighbouring slice: a human click for the session, not for the stats)."""

    click: Click
    kind: str
    store_id: int | None = None

    @property
    def as_marker(self) -> tuple[float, float, bool, str]:
        return self.click.x, self.click.y, self.click.positive, self.kind


class ClickCommand(QUndoCommand):
    """A human click, an accepted proposal or a withdrawn proposal."""

    def __init__(self, ann, entry: DraftClick):
        names = {"human": "click", "pseudo": "accept proposal", "withdrawn": "withdraw proposal"}
        super().__init__(names[entry.kind])
        self.ann, self.entry = ann, entry
        self.token, self.image_id = ann.token, ann.image_id
        self.what = {"human": "the click", "pseudo": "the accepted suggestion",
                     "withdrawn": "the withdrawn suggestion"}[entry.kind]  # fmt: skip
        self._done_once = False

    @guarded
    def redo(self) -> None:
        ann, e, token = self.ann, self.entry, self.token
        c = e.click
        if not self._done_once:
            self._done_once = True
            if e.kind == "human":
                ann.run_op(lambda st: st.switch(token).add_click(c.x, c.y, c.positive) is not None)
            elif e.kind == "pseudo":
                ann.run_op(lambda st: st.switch(token).accept_pseudo_click(c) is not None)
            else:
                ann.run_op(lambda st: st.switch(token).withdraw_pseudo_click(c) or True)
            store, iid = ann.store, self.image_id

            def record() -> None:
                e.store_id = store.record_click(iid, c.x, c.y, c.positive, STORE_KIND[e.kind], c.confidence)

            ann.save(self.what, record)
        else:
            ann.run_op(lambda st: st.switch(token).redo() or True)
            store = ann.store
            ann.save(self.what, lambda: store.restore_click(e.store_id))
        ann.clicks.append(e)
        ann.proposal = None
        ann.notify(clicks=True)

    @guarded
    def undo(self) -> None:
        ann, token = self.ann, self.token
        ann.run_op(lambda st: st.switch(token).undo() or True)
        store, e = ann.store, self.entry
        ann.save(f"the undo of {self.what}", lambda: e.store_id is not None and store.delete_click(e.store_id))
        if self.entry in ann.clicks:
            ann.clicks.remove(self.entry)
        ann.proposal = None
        ann.notify(clicks=True)


class _ObjectSwitch(QUndoCommand):
    """Base: a command that moves from the current object (token) to a new one and back."""

    def __init__(self, ann, text: str):
        super().__init__(text)
        self.ann = ann
        self.image_id = ann.image_id
        self.old_token, self.new_token = ann.token, ann.new_token()
        self.old_clicks = list(ann.clicks)
        self.old_reopened = ann.reopened
        self.old_seed = ann.seed
        pred = ann.prediction
        self.old_mask = None if pred is None else pred.mask.copy()

    def _go_new(self, reopened=None, predict: bool = False, seed: np.ndarray | None = None) -> None:
        token = self.new_token
        if seed is None:
            self.ann.run_op(lambda st: st.switch(token) and predict, predict=predict)
        else:
            self.ann.run_op(lambda st: st.switch(token).set_previous_mask(seed) or True)
        self.ann.activate(token, [], reopened, seed)

    def _go_old(self) -> None:
        token = self.old_token
        self.ann.run_op(lambda st: st.switch(token) is not None)
        self.ann.activate(token, list(self.old_clicks), self.old_reopened, self.old_seed)


class FinishCommand(_ObjectSwitch):
    """The current mask becomes an instance (or replaces the re-opened instance's mask)."""

    def __init__(self, ann, category_id: int):
        super().__init__(ann, "finish object")
        self.category_id = category_id
        self.instance_id = self.old_reopened
        self.previous_instance_mask = (
            ann.instance_mask(self.old_reopened) if self.old_reopened is not None else None
        )
        self._done_once = False

    @guarded
    def redo(self) -> None:
        store = self.ann.store
        if self.old_reopened is not None:
            write = functools.partial(store.update_instance_mask, self.old_reopened, self.old_mask)  # + draft clicks
        elif not self._done_once:
            def write() -> None:
                self.instance_id = store.add_instance(self.image_id, self.old_mask, self.category_id)
        else:  # redo after undo: the same instance comes back and takes the draft's clicks again, atomically
            def write() -> None:
                with store.transaction():
                    store.restore_instance(self.instance_id)
                    store.save_draft(self.image_id, self.old_mask, instance_id=self.instance_id)
                    store.update_instance_mask(self.instance_id, self.old_mask)

        def write_and_show() -> None:
            write()
            self.ann.drop_unsaved_object(self)  # the project has it now: drawn from there

        mask = None if self.old_reopened is None else (self.old_reopened, self.old_mask)
        if not self.ann.save("the finished object", write_and_show, mask=mask) and self.old_reopened is None:
            self.ann.show_unsaved_object(self, self.image_id, self.old_mask, self.category_id)
        self._done_once = True
        self._go_new()
        self.ann.notify(instances=True)

    @guarded
    def undo(self) -> None:
        store = self.ann.store
        old_clicks = list(self.old_clicks)

        # the clicks go back to the draft in the project too, so a crash after this undo replays them
        def write() -> None:
            with store.transaction():
                if self.old_reopened is not None:
                    store.update_instance_mask(self.old_reopened, self.previous_instance_mask, attach_draft=False)
                    ids = [e.store_id for e in old_clicks if e.store_id is not None]
                    store.detach_clicks_to_draft(self.old_reopened, ids)
                    store.save_draft(self.image_id, self.old_mask, instance_id=self.old_reopened, seed=self.old_seed)
                else:
                    store.delete_instance(self.instance_id)
                    store.detach_clicks_to_draft(self.instance_id)
                    store.save_draft(self.image_id, self.old_mask, seed=self.old_seed)

        self.ann.drop_unsaved_object(self)  # it is the current object again
        mask = None if self.old_reopened is None else (self.old_reopened, self.previous_instance_mask)
        self.ann.save("the undo of the finished object", write, mask=mask)
        self._go_old()
        self.ann.notify(instances=True)


class ResetCommand(_ObjectSwitch):
    """Esc: forget the current object (its clicks are marked undone in the project)."""

    def __init__(self, ann):
        super().__init__(ann, "reset object")

    @guarded
    def redo(self) -> None:
        store, iid = self.ann.store, self.image_id
        self.ann.save("the reset", lambda: store.clear_draft(iid))
        self._go_new()
        self.ann.notify(instances=True)

    @guarded
    def undo(self) -> None:
        store = self.ann.store
        old_clicks = list(self.old_clicks)

        def write() -> None:
            with store.transaction():
                for e in old_clicks:
                    if e.store_id is not None:
                        store.restore_click(e.store_id)
                if self.old_mask is not None or self.old_reopened is not None or self.old_seed is not None:
                    store.save_draft(self.image_id, self.old_mask, instance_id=self.old_reopened, seed=self.old_seed)

        self.ann.save("the undo of the reset", write)
        self._go_old()
        self.ann.notify(instances=True)


class ReopenCommand(_ObjectSwitch):
    """Start refining an existing instance: its mask seeds a new session (``set_previous_mask``)."""

    def __init__(self, ann, instance_id: int):
        super().__init__(ann, "re-open object")
        self.instance_id = instance_id
        self.mask = ann.instance_mask(instance_id)

    @guarded
    def redo(self) -> None:
        store = self.ann.store
        self.ann.save("the re-opened object",
                      lambda: store.save_draft(self.image_id, self.mask, instance_id=self.instance_id, seed=self.mask))
        self._go_new(reopened=self.instance_id, seed=self.mask)
        self.ann.notify(instances=True)

    @guarded
    def undo(self) -> None:
        store = self.ann.store
        self.ann.save("the undo of the re-open", lambda: store.clear_draft(self.image_id, discard_clicks=False))
        self._go_old()
        self.ann.notify(instances=True)


class SeedCommand(_ObjectSwitch):
    """Start a new object from a mask and clicks derived from it (propagation from the neighbouring volume
    slice): the session gets ``set_previous_mask(seed)`` then the clicks (ordinary human-click input for the
    network), and predicts. The clicks are stored as the draft's clicks with kind ``propagated`` (nobody
    placed them: the stats do not count them as human clicks), the seed as the draft's seed (and as its mask
    until the first prediction replaces it)."""

    def __init__(self, ann, seed: np.ndarray, clicks: list[Click]):
        super().__init__(ann, "propagate object")
        self.seed = np.asarray(seed, bool).copy()
        self.entries = [DraftClick(Click(c.x, c.y, c.positive), "propagated") for c in clicks]
        self._done_once = False

    @guarded
    def redo(self) -> None:
        ann, store = self.ann, self.ann.store
        token, seed, clicks = self.new_token, self.seed, [e.click for e in self.entries]
        first = not self._done_once

        def write() -> None:
            with store.transaction():
                ids = []
                for e in self.entries:
                    if first:
                        ids.append(store.record_click(self.image_id, e.click.x, e.click.y, e.click.positive,
                                                      STORE_KIND[e.kind]))  # fmt: skip
                    else:
                        store.restore_click(e.store_id)
                store.save_draft(self.image_id, seed, seed=seed)
            for e, i in zip(self.entries, ids):  # only once it is all in (a full disk keeps none of it)
                e.store_id = i

        ann.save("the propagated object", write)
        self._done_once = True

        def op(st) -> bool:
            s = st.switch(token)
            if first:  # later redos find this token's session as it was
                s.set_previous_mask(seed)
                for c in clicks:
                    s.add_click(c.x, c.y, c.positive)
            return True

        ann.run_op(op)
        ann.activate(token, list(self.entries), None, self.seed)
        ann.notify(clicks=True)

    @guarded
    def undo(self) -> None:
        store = self.ann.store

        def write() -> None:
            with store.transaction():
                for e in self.entries:
                    if e.store_id is not None:
                        store.delete_click(e.store_id)
                store.clear_draft(self.image_id, discard_clicks=False)

        self.ann.save("the undo of the propagation", write)
        self._go_old()
        self.ann.notify(instances=True)


class DeleteInstanceCommand(QUndoCommand):
    def __init__(self, ann, instance_id: int):
        super().__init__("delete object")
        self.ann, self.instance_id = ann, instance_id

    @guarded
    def redo(self) -> None:
        store = self.ann.store
        self.ann.save("the deletion of the object", lambda: store.delete_instance(self.instance_id))
        self.ann.notify(instances=True)

    @guarded
    def undo(self) -> None:
        store = self.ann.store
        self.ann.save("the undo of the deletion", lambda: store.restore_instance(self.instance_id))
        self.ann.notify(instances=True)


class SetCategoryCommand(QUndoCommand):
    def __init__(self, ann, instance_id: int, category_id: int):
        super().__init__("change category")
        self.ann, self.instance_id, self.new = ann, instance_id, category_id
        self.old = ann.store.instance(instance_id).category_id

    @guarded
    def redo(self) -> None:
        store, iid, cid = self.ann.store, self.instance_id, self.new
        self.ann.save("the object's category", lambda: store.set_instance_category(iid, cid))
        self.ann.notify(instances=True)

    @guarded
    def undo(self) -> None:
        store, iid, cid = self.ann.store, self.instance_id, self.old
        self.ann.save("the object's category", lambda: store.set_instance_category(iid, cid))
        self.ann.notify(instances=True)


class BrushCommand(QUndoCommand):
    """One brush or eraser stroke (press -> release) on a finished instance's mask. Only the stroke's bounding
    box is kept, before and after (``old`` / ``new`` patches), so a long undo history stays small; redo and
    undo write the whole mask back with ``store.update_instance_mask``."""

    def __init__(self, ann, instance_id: int, box: tuple[int, int, int, int], old: np.ndarray, new: np.ndarray,
                 erase: bool):  # fmt: skip
        super().__init__("erase" if erase else "brush")
        self.ann, self.instance_id = ann, int(instance_id)
        self.box = tuple(int(v) for v in box)
        self.old = np.asarray(old, bool).copy()
        self.new = np.asarray(new, bool).copy()

    def _write(self, patch: np.ndarray) -> None:
        store, iid = self.ann.store, self.instance_id
        y0, y1, x0, x1 = self.box
        mask = self.ann.instance_mask(iid)  # as the user sees it (strokes waiting for space on the disk included)
        mask[y0:y1, x0:x1] = patch
        # attach_draft=False: a stroke never takes the draft's clicks (the annotator refuses to brush an object
        # that is being re-opened, this is belt and braces)
        self.ann.save(f"the {self.text()} stroke", lambda: store.update_instance_mask(iid, mask, attach_draft=False),
                      mask=(iid, mask))  # fmt: skip
        self.ann.notify(instances=True)

    @guarded
    def redo(self) -> None:
        self._write(self.new)

    @guarded
    def undo(self) -> None:
        self._write(self.old)
