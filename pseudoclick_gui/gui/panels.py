"""Dock contents: files, instances, categories. They read the annotator's store and call the annotator;
they never write to the store themselves."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..errors import PseudoClickError
from ..project.store import volume_stem
from .slots import no_return

STATUS_GLYPH = {"untouched": "○", "in_progress": "◐", "done": "●"}
VOLUME_GLYPH = "▣"


def volume_display_name(path: str) -> str:
    """``<stem>`` of a volume file or folder; ``<folder>/<stem>`` for a DICOM file (one series of a folder that
    holds several)."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith((".dcm", ".dicom", ".ima")) or (p.is_file() and not name.endswith((".nii", ".nii.gz", ".tif", ".tiff"))):
        return f"{p.parent.name}/{volume_stem(str(p))}"
    return volume_stem(str(p))


def swatch(color: str, size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(color))
    return QIcon(pm)


class FilesPanel(QWidget):
    def __init__(self, ann, parent=None):
        super().__init__(parent)
        self.ann = ann
        self.list = QListWidget()
        self.list.itemActivated.connect(self._open)
        self.list.itemClicked.connect(self._open)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.list)
        ann.filesChanged.connect(self.refresh)

    def refresh(self) -> None:
        """Images (status glyph, object count), then volumes (annotated slices per plane)."""
        self.list.blockSignals(True)
        self.list.clear()
        current = self.ann.current_file()
        rows = []
        for r in self.ann.images():
            it = QListWidgetItem(f"{STATUS_GLYPH.get(r.status, '?')}  {r.name}" + (f"  ({r.n_instances})" if r.n_instances else ""))
            it.setToolTip(f"{r.path}\n{r.width} x {r.height}, {r.status.replace('_', ' ')}, {r.n_instances} object(s)")
            rows.append((("image", r.id), it))
        store = self.ann.store
        for v in store.volumes() if store is not None else []:
            per_axis: dict[str, int] = {}
            objects = 0
            for s in store.volume_slices(v.id):
                if s.n_instances:
                    per_axis[s.axis] = per_axis.get(s.axis, 0) + 1
                    objects += s.n_instances
            k = sum(per_axis.values())
            text = f"{VOLUME_GLYPH}  {volume_display_name(v.path)}"
            if k:
                text += f"  ({k} slice{'s' if k != 1 else ''} annotated)"
            it = QListWidgetItem(text)
            axes = ", ".join(f"{a} {n}" for a, n in sorted(per_axis.items())) or "none"
            it.setToolTip(f"{v.path}\nvolume {' x '.join(map(str, v.shape))} ({v.kind}); annotated slices: {axes}; "
                          f"{objects} object(s)")  # fmt: skip
            rows.append((("volume", v.id), it))
        for entry, it in rows:
            it.setData(Qt.ItemDataRole.UserRole, entry)
            self.list.addItem(it)
            if entry == current:
                it.setSelected(True)
                self.list.setCurrentItem(it)
        self.list.blockSignals(False)

    def _open(self, item: QListWidgetItem) -> None:
        entry = tuple(item.data(Qt.ItemDataRole.UserRole))
        if entry != self.ann.current_file():
            self.ann.open_file(entry)


class InstancesPanel(QWidget):
    selectionChanged = Signal(object)  # instance id or None
    dialogClosed = Signal()  # a button or dialog of the panel is done: the main window gives focus back

    def __init__(self, ann, parent=None):
        super().__init__(parent)
        self.ann = ann
        self.list = QListWidget()
        self.list.itemChanged.connect(self._visibility)
        self.list.currentItemChanged.connect(lambda *_: self.selectionChanged.emit(self.selected()))
        self.list.itemDoubleClicked.connect(lambda it: no_return(self.ann.reopen_instance, it.data(Qt.ItemDataRole.UserRole)))
        self.category = QComboBox()
        self.category.setToolTip("Category of the selected object")
        self.category.activated.connect(self._set_category)
        edit = QPushButton("Edit")
        edit.setToolTip("Re-open the selected object to keep refining it (E, or double-click)")
        edit.clicked.connect(self.reopen_selected)
        delete = QPushButton("Delete")
        delete.setToolTip("Delete the selected object (Del); undo with Ctrl+Z")
        delete.clicked.connect(self.delete_selected)
        for b in (edit, delete):  # Space and Enter belong to the canvas, never to a button
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(self.dialogClosed)
        self.category.activated.connect(lambda *_: self.dialogClosed.emit())
        row = QHBoxLayout()
        row.addWidget(self.category, 1)
        row.addWidget(edit)
        row.addWidget(delete)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.list)
        lay.addLayout(row)
        ann.instancesChanged.connect(self.refresh)
        ann.categoriesChanged.connect(self.refresh)

    def selected(self) -> int | None:
        it = self.list.currentItem()
        return None if it is None else it.data(Qt.ItemDataRole.UserRole)

    def refresh(self) -> None:
        sel = self.selected()
        self.list.blockSignals(True)
        self.list.clear()
        self.category.clear()
        store = self.ann.store
        if store is None or self.ann.image_id is None:
            self.list.blockSignals(False)
            return
        cats = {c.id: c for c in store.categories()}
        for c in cats.values():
            self.category.addItem(swatch(c.color), c.name, c.id)
        for k, inst in enumerate(store.instances(self.ann.image_id), start=1):
            c = cats.get(inst.category_id)
            editing = " (editing)" if inst.id == self.ann.reopened else ""
            it = QListWidgetItem(swatch(c.color if c else "#888"), f"{k}. {c.name if c else '?'}  ·  {inst.area} px{editing}")
            it.setData(Qt.ItemDataRole.UserRole, inst.id)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Unchecked if inst.hidden else Qt.CheckState.Checked)
            it.setToolTip("Tick: visible. Double-click: re-open for editing.")
            self.list.addItem(it)
            if inst.id == sel:
                self.list.setCurrentItem(it)
        self.list.blockSignals(False)
        self._sync_combo()

    def _sync_combo(self) -> None:
        iid = self.selected()
        if iid is None or self.ann.store is None:
            return
        try:
            cid = self.ann.store.instance(iid).category_id
        except PseudoClickError:
            return
        i = self.category.findData(cid)
        if i >= 0:
            self.category.setCurrentIndex(i)

    def _visibility(self, item: QListWidgetItem) -> None:
        self.ann.set_instance_hidden(item.data(Qt.ItemDataRole.UserRole), item.checkState() != Qt.CheckState.Checked)

    def _set_category(self, index: int) -> None:
        iid = self.selected()
        if iid is not None:
            self.ann.set_instance_category(iid, self.category.itemData(index))

    def reopen_selected(self) -> None:
        iid = self.selected()
        if iid is not None:
            self.ann.reopen_instance(iid)

    def delete_selected(self) -> None:
        iid = self.selected()
        if iid is not None:
            self.ann.delete_instance(iid)


class CategoriesPanel(QWidget):
    """The current category (the one a finished object gets) is the selected row."""

    dialogClosed = Signal()  # a button or dialog of the panel is done: the main window gives focus back

    def __init__(self, ann, parent=None):
        super().__init__(parent)
        self.ann = ann
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._current)
        self.list.itemDoubleClicked.connect(lambda _: self.rename())
        buttons = QHBoxLayout()
        for text, tip, slot in (("Add", "Add a category", self.add), ("Rename", "Rename the selected category", self.rename),
                                ("Colour", "Change the selected category's colour", self.recolour),
                                ("Delete", "Delete the selected category", self.delete)):  # fmt: skip
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and Enter belong to the canvas, never to a button
            b.clicked.connect(lambda _=False, f=slot: no_return(f))
            b.clicked.connect(self.dialogClosed)
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.list)
        lay.addLayout(buttons)
        ann.categoriesChanged.connect(self.refresh)

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        if self.ann.store is not None:
            for c in self.ann.store.categories():
                it = QListWidgetItem(swatch(c.color), c.name)
                it.setData(Qt.ItemDataRole.UserRole, c.id)
                self.list.addItem(it)
                if c.id == self.ann.category_id:
                    self.list.setCurrentItem(it)
        self.list.blockSignals(False)

    def _current(self, item, _prev=None) -> None:
        if item is not None:
            self.ann.set_category(item.data(Qt.ItemDataRole.UserRole))

    def select_next(self) -> None:
        n = self.list.count()
        if n:
            self.list.setCurrentRow((self.list.currentRow() + 1) % n)

    def _try(self, what: str, fn) -> bool:
        """Make a category change through the annotator (kept in memory and saved later when the disk is full);
        False with a message when the project refuses it."""
        if not self.ann._can_edit():
            return False
        try:
            self.ann.save(what, fn)
        except PseudoClickError as exc:
            QMessageBox.warning(self, "Categories", str(exc))
            return False
        self.ann.categoriesChanged.emit()
        self.ann.instancesChanged.emit()
        return True

    def add(self, name: str | None = None) -> None:
        if self.ann.store is None:
            return
        if not name:
            name, ok = QInputDialog.getText(self, "New category", "Name:")
            if not ok or not name.strip():
                return
        store = self.ann.store

        def write() -> None:  # the new category becomes the current one once it is in the project
            self.ann.set_category(store.add_category(name))

        if self._try("the new category", write):
            self.refresh()

    def _selected(self):
        it = self.list.currentItem()
        return None if it is None else it.data(Qt.ItemDataRole.UserRole)

    def rename(self) -> None:
        cid = self._selected()
        if cid is None:
            return
        old = self.ann.store.category(cid).name
        name, ok = QInputDialog.getText(self, "Rename category", "Name:", text=old)
        if ok and name.strip() and name != old:
            store = self.ann.store
            self._try("the category's name", lambda: store.rename_category(cid, name))

    def recolour(self) -> None:
        cid = self._selected()
        if cid is None:
            return
        c = QColorDialog.getColor(QColor(self.ann.store.category(cid).color), self, "Category colour")
        if c.isValid():
            store, color = self.ann.store, c.name()
            self._try("the category's colour", lambda: store.set_category_color(cid, color))

    def delete(self) -> None:
        cid = self._selected()
        if cid is None or self.ann.store is None:
            return
        others = [c for c in self.ann.store.categories() if c.id != cid]
        if not others:
            QMessageBox.information(self, "Categories", "A project keeps at least one category.")
            return
        used = any(i.category_id == cid for i in self.ann.store.instances(include_deleted=True))
        target = None
        if used:
            names = [c.name for c in others]
            name, ok = QInputDialog.getItem(self, "Delete category", "Objects of this category move to:", names, 0, False)
            if not ok:
                return
            target = others[names.index(name)].id
        store = self.ann.store
        if self._try("the deletion of the category", lambda: store.delete_category(cid, reassign_to=target)):
            if self.ann.category_id == cid:
                self.ann.set_category(others[0].id)
            self.refresh()
