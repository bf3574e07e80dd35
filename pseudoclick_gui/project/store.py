"""The project file: ONE SQLite database holding images, volumes, categories, instance masks, clicks,
the object being drawn (draft) and settings.

Durability
    Every public method that changes something runs in its own ``BEGIN IMMEDIATE ... COMMIT``
    transaction and returns only after the commit, so killing the process at any moment loses at most
    the call in flight (SQLite's journal rolls a half-written transaction back on the next open).
    ``journal_mode=WAL`` (readers never block the writer, commits append to one file);
    ``synchronous=FULL`` by default: with WAL, NORMAL already survives a *process* kill, but may lose the
    last commits on an OS crash or power cut; FULL fsyncs the WAL at each commit. Commits here are
    human-paced (a click, an accepted object), so the extra fsync (about a millisecond on an SSD) is not
    felt, and we prefer not to lose a minute of annotation to a power cut. Bulk imports batch their
    rows into few transactions. Pass ``synchronous="NORMAL"`` to :meth:`ProjectStore.open` to trade.
    ``foreign_keys=ON``; deleting an image cascades to its instances, clicks and draft.

Threads
    One connection (``check_same_thread=False``) guarded by a re-entrant lock: every public method holds
    the lock for its whole statement/transaction, so the GUI thread and a worker thread may both call the
    store; calls serialise (each is short: one row, or one mask of a few kB). Returned records are plain
    immutable dataclasses, safe to pass between threads.

Masks
    Stored as COCO compressed RLE strings (column-major, see :mod:`.rle`) with their size, area and bbox,
    so exports copy them without decoding.

Clicks
    ``kind``: ``human`` (placed by the user), ``pseudo_accepted`` / ``pseudo_withdrawn`` (a proposal the user
    accepted / rejected) or ``propagated`` (derived automatically from a neighbouring volume slice's mask;
    the network sees them as ordinary clicks, but nobody placed them, so :meth:`ProjectStore.stats` counts
    them apart from the human clicks).

Drafts
    The object being drawn: its latest mask, the instance it re-opens (if any), its clicks (those with
    ``instance_id IS NULL``) and its *seed* (``seed_rle``): the mask the session started from
    (``Session.set_previous_mask``: a propagated object's neighbour mask, a re-opened instance's mask), which
    a restore must give the session again before replaying the clicks.

One writer per project
    A store opened for writing holds an OS lock on ``<project>.lock`` (see :mod:`.lock`): a second process
    opening the same project for writing gets :class:`~pseudoclick_gui.errors.ProjectLockedError` naming
    the holder (pid, host); it may open it with ``read_only=True`` to view it. The lock dies with its
    process (a SIGKILLed holder blocks nobody).

Read-only
    ``ProjectStore.open(path, read_only=True)`` (or ``ProjectStore(path, read_only=True)``) opens the file
    with SQLite's ``mode=ro``: nothing is ever written (no lock, no WAL switch, no ``PRAGMA optimize``) and
    every write raises :class:`~pseudoclick_gui.errors.ProjectReadOnlyError`. A file (or folder) that this
    user cannot write is opened that way even when writing was asked; ``store.read_only`` and
    ``store.read_only_reason`` say so.

Errors
    A write that fails because the disk is full raises :class:`~pseudoclick_gui.errors.DiskFullError`
    ("the disk is full"); SQLite has rolled the call back, the store stays open and the same call can be
    made again later (so a caller can keep the edit in memory and retry). A damaged file (a missing table
    or column, an unreadable volume row) is refused at open with a ProjectError saying what is wrong; an
    image row without a size is repaired at open when the size can be found again (its file, its volume,
    its objects). Problems that do not stop the project from being used (a setting that is not JSON, clicks
    of an unknown kind, which are ignored) are listed in ``store.warnings``.

Schema version in ``PRAGMA user_version``; :func:`migrate` brings an older file up to date (each step one
transaction, so a file is either fully at the old version or fully at the new one) and refuses a newer one.
``PRAGMA application_id`` marks the file as a PseudoClick project. History: 1 initial; 2 click kind
``propagated`` (the clicks table is rebuilt: SQLite cannot alter a CHECK constraint) and ``drafts.seed_rle``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DiskFullError, ProjectError, ProjectReadOnlyError
from . import lock as _lock
from . import rle as _rle
from . import volume_axes

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
APPLICATION_ID = 0x50434C4B  # "PCLK"
IMAGE_STATUSES = ("untouched", "in_progress", "done")
CLICK_KINDS = ("human", "pseudo_accepted", "pseudo_withdrawn", "propagated")
_KINDS_SQL = ", ".join(f"'{k}'" for k in CLICK_KINDS)


class _KeepSeed:
    """Type of :data:`KEEP_SEED`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "KEEP_SEED"


KEEP_SEED = _KeepSeed()  # ``save_draft``'s default: leave the draft's seed as it is
DEFAULT_PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
)  # fmt: skip

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE volumes (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL DEFAULT 'volume',
    shape TEXT NOT NULL,              -- JSON list of ints
    affine TEXT,                      -- JSON 4x4 list
    series_uid TEXT,
    added REAL NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,               -- relative to the project file's folder when inside it, else absolute
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    checksum TEXT,
    status TEXT NOT NULL DEFAULT 'untouched' CHECK (status IN ('untouched', 'in_progress', 'done')),
    volume_id INTEGER REFERENCES volumes(id) ON DELETE CASCADE,
    axis TEXT CHECK (axis IS NULL OR axis IN ('axial', 'coronal', 'sagittal')),
    slice_index INTEGER,
    added REAL NOT NULL,
    updated REAL NOT NULL,
    CHECK ((volume_id IS NULL) = (axis IS NULL) AND (axis IS NULL) = (slice_index IS NULL))
);
CREATE UNIQUE INDEX images_key ON images (path, IFNULL(axis, ''), IFNULL(slice_index, -1));
CREATE INDEX images_volume ON images (volume_id, axis, slice_index);
CREATE TABLE categories (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    color TEXT NOT NULL,
    supercategory TEXT NOT NULL DEFAULT ''
);
CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    rle TEXT NOT NULL,                -- COCO compressed counts string
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    area INTEGER NOT NULL,
    bbox_x INTEGER NOT NULL, bbox_y INTEGER NOT NULL, bbox_w INTEGER NOT NULL, bbox_h INTEGER NOT NULL,
    source TEXT NOT NULL DEFAULT 'interactive',
    hidden INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,   -- soft delete, so undo can restore
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX instances_image ON instances (image_id, deleted);
CREATE INDEX instances_category ON instances (category_id);
CREATE TABLE clicks (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    instance_id INTEGER REFERENCES instances(id) ON DELETE CASCADE,  -- NULL: the object being drawn
    x REAL NOT NULL,
    y REAL NOT NULL,
    positive INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'pseudo_accepted', 'pseudo_withdrawn')),
    confidence REAL NOT NULL DEFAULT 1.0,
    time REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0     -- undo / abandoned draft; kept for the record
);
CREATE INDEX clicks_image ON clicks (image_id, instance_id);
CREATE INDEX clicks_instance ON clicks (instance_id);
CREATE TABLE drafts (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    rle TEXT,                              -- NULL: no mask yet
    height INTEGER,
    width INTEGER,
    instance_id INTEGER REFERENCES instances(id) ON DELETE SET NULL,  -- instance re-opened for editing
    updated REAL NOT NULL
);
"""

# v1 -> v2: click kind 'propagated' (rebuild of the clicks table, ids kept; SQLite's documented procedure:
# create the new table, copy, drop the old one, rename) and the draft's seed mask.
_MIGRATE_V2 = """
CREATE TABLE clicks_v2 (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    instance_id INTEGER REFERENCES instances(id) ON DELETE CASCADE,  -- NULL: the object being drawn
    x REAL NOT NULL,
    y REAL NOT NULL,
    positive INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'pseudo_accepted', 'pseudo_withdrawn', 'propagated')),
    confidence REAL NOT NULL DEFAULT 1.0,
    time REAL NOT NULL,
    undone INTEGER NOT NULL DEFAULT 0     -- undo / abandoned draft; kept for the record
);
INSERT INTO clicks_v2 (id, image_id, instance_id, x, y, positive, kind, confidence, time, undone)
    SELECT id, image_id, instance_id, x, y, positive, kind, confidence, time, undone FROM clicks ORDER BY id;
DROP TABLE clicks;
ALTER TABLE clicks_v2 RENAME TO clicks;
CREATE INDEX clicks_image ON clicks (image_id, instance_id);
CREATE INDEX clicks_instance ON clicks (instance_id);
ALTER TABLE drafts ADD COLUMN seed_rle TEXT;  -- COCO counts of the seed mask (the image's size); NULL: none
"""

# version -> SQL bringing a file from version-1 to version. Add new entries, never edit old ones.
_MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _MIGRATE_V2}


# --------------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class ImageRecord:
    id: int
    path: str  # absolute
    width: int
    height: int
    status: str
    checksum: str | None
    volume_id: int | None
    axis: str | None
    slice_index: int | None
    n_instances: int

    @property
    def is_slice(self) -> bool:
        return self.volume_id is not None

    @property
    def name(self) -> str:
        """Short display name: the file name, or ``<volume-stem>/<axis>_<index:04d>`` for a slice."""
        if self.is_slice:
            return f"{volume_stem(self.path)}/{self.axis}_{self.slice_index:04d}"
        return os.path.basename(self.path)


@dataclass(frozen=True)
class VolumeRecord:
    id: int
    path: str  # absolute
    kind: str
    shape: tuple[int, ...]
    affine: np.ndarray | None = field(compare=False)
    series_uid: str | None


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    color: str
    supercategory: str = ""


@dataclass(frozen=True)
class InstanceRecord:
    id: int
    image_id: int
    category_id: int
    area: int
    bbox: tuple[int, int, int, int]  # x, y, w, h
    hidden: bool
    deleted: bool
    source: str
    height: int
    width: int
    created: float
    updated: float
    counts: str = field(repr=False)

    @property
    def rle(self) -> dict:
        return {"size": [self.height, self.width], "counts": self.counts}

    def mask(self) -> np.ndarray:
        """H x W bool, decoded on demand."""
        return _rle.decode(self.rle)


@dataclass(frozen=True)
class ClickRecord:
    id: int
    image_id: int
    instance_id: int | None
    x: float
    y: float
    positive: bool
    kind: str
    confidence: float
    time: float
    undone: bool


@dataclass(frozen=True)
class Draft:
    image_id: int
    mask: np.ndarray | None = field(compare=False, repr=False)
    instance_id: int | None
    clicks: tuple[ClickRecord, ...]
    updated: float | None
    seed: np.ndarray | None = field(default=None, compare=False, repr=False)  # the session's starting mask


def volume_stem(path: str) -> str:
    name = os.path.basename(os.path.normpath(path))
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".tiff", ".tif", ".dcm"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; returns the version found. Each step is one
    transaction that also bumps ``user_version``, so an interrupted migration leaves the old version. The
    version is read again under the write lock, so two processes opening an old file at once migrate it
    once."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ProjectError(
            f"this project was written by a newer PseudoClick (schema {version} > {SCHEMA_VERSION}); update the app"
        )
    if version == 0:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if tables or app_id not in (0, APPLICATION_ID):
            raise ProjectError("this SQLite file is not a PseudoClick project")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] >= target:  # another connection did it
                conn.execute("COMMIT")
                continue
            for stmt in _split_sql(_MIGRATIONS[target]):
                conn.execute(stmt)
            bad = conn.execute("PRAGMA foreign_key_check").fetchall()
            if bad:
                raise ProjectError(f"schema migration to version {target} would break {len(bad)} reference(s)")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {target}")
            if target == 1:
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('created', ?), ('created_by', ?)",
                    (json.dumps(time.time()), json.dumps(_app_version())),
                )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    return version


def _rollback(conn: sqlite3.Connection) -> None:
    """ROLLBACK unless SQLite already rolled the transaction back itself (it does on SQLITE_FULL and
    some I/O errors; a second ROLLBACK would replace the real error by "no transaction is active")."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_LOW_SPACE = 1 << 20


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _is_disk_full(exc: BaseException, folder: Path) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    msg = str(exc).lower()
    if (code is not None and code & 0xFF == _SQLITE_FULL) or "disk is full" in msg:
        return True
    if (code is not None and code & 0xFF == _SQLITE_IOERR) or "disk i/o error" in msg:
        free = _free_bytes(folder)
        return free is not None and free < _LOW_SPACE
    return False


def _db_error(exc: sqlite3.Error, folder: Path, what: str) -> ProjectError:
    """The user-facing error for a failed write: DiskFullError when the disk is full, else ProjectError."""
    if _is_disk_full(exc, folder):
        free = _free_bytes(folder)
        if free is not None and free < _LOW_SPACE:
            where = f" ({_human_bytes(free)} free in {folder})"
        else:  # SQLITE_FULL with space left: the file reached SQLite's size limit
            where = " (or the project file reached its size limit)"
        return DiskFullError(f"{what}: the disk is full{where}; free some space, then try again (this change is not saved yet)")
    return ProjectError(f"{what}: {exc}")


def _human_bytes(n: int | None) -> str:
    n = float(n or 0)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


# table -> columns every schema-2 project has (a missing one means a damaged file)
_EXPECTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "settings": ("key", "value"),
    "volumes": ("id", "path", "kind", "shape", "affine", "series_uid", "added"),
    "images": ("id", "path", "width", "height", "checksum", "status", "volume_id", "axis", "slice_index", "added",
               "updated"),
    "categories": ("id", "name", "color", "supercategory"),
    "instances": ("id", "image_id", "category_id", "rle", "height", "width", "area", "bbox_x", "bbox_y", "bbox_w",
                  "bbox_h", "source", "hidden", "deleted", "created", "updated"),
    "clicks": ("id", "image_id", "instance_id", "x", "y", "positive", "kind", "confidence", "time", "undone"),
    "drafts": ("image_id", "rle", "height", "width", "instance_id", "updated", "seed_rle"),
}  # fmt: skip


def check_schema(conn: sqlite3.Connection) -> None:
    """ProjectError naming the first missing table or column (a damaged or hand-edited file)."""
    for table, cols in _EXPECTED_COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise ProjectError(f"the project file is damaged: its table {table!r} is missing")
        missing = [c for c in cols if c not in have]
        if missing:
            raise ProjectError(f"the project file is damaged: table {table!r} lacks column(s) {', '.join(missing)}")


def _parse_shape(text) -> tuple[int, ...]:
    shape = json.loads(text)
    if not isinstance(shape, list) or len(shape) not in (3, 4) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape
    ):
        raise ValueError(f"not a list of 3 positive integers: {text!r}")
    return tuple(shape)


def _parse_affine(text):
    if text is None:
        return None
    aff = np.asarray(json.loads(text), dtype=float)
    if aff.shape != (4, 4) or not np.all(np.isfinite(aff)):
        raise ValueError(f"not a finite 4 x 4 matrix: {str(text)[:60]!r}")
    return aff


def _split_sql(script: str) -> list[str]:
    out, buf = [], []
    for line in script.splitlines():
        buf.append(line)
        if sqlite3.complete_statement("\n".join(buf)):
            stmt = "\n".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
    return out


def _app_version() -> str:
    from .. import __version__

    return __version__


def _as_mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ProjectError(f"a mask must be 2-D (H x W), got shape {m.shape}")
    return m.astype(bool, copy=False)


# ----------------------------------------------------------------------------------------------- store
class ProjectStore:
    """See the module docstring. Create with :meth:`open` (or ``ProjectStore(path, read_only=...)``); use as a
    context manager or call :meth:`close`."""

    def __init__(self, path, conn: sqlite3.Connection | None = None, *, read_only: bool = False,
                 synchronous: str = "FULL", lock: bool = True):  # fmt: skip
        """``ProjectStore(path)`` opens the project like :meth:`open`; ``ProjectStore(path, conn)`` wraps an
        already open connection (no lock, no checks)."""
        self.read_only = False
        self.read_only_reason = ""
        self.warnings: list[str] = []
        self._lock_key: str | None = None
        self._lock = threading.RLock()
        if conn is None:
            path = Path(path).expanduser().absolute()
            conn = self._connect(path, read_only=read_only, synchronous=synchronous, lock=lock)
        self.path = Path(path)
        self.root = self.path.parent
        self._conn = conn

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, path, *, synchronous: str = "FULL", read_only: bool = False, lock: bool = True) -> ProjectStore:
        """Open the project file at ``path``, creating it when missing (not with ``read_only``).

        Raises ProjectError when the file is not an SQLite database, is another application's database, comes
        from a newer version or is damaged; ProjectLockedError when another live process has it open for
        writing (``read_only=True`` still opens it); DiskFullError when the disk is full. A file this user
        cannot write opens read-only (``store.read_only``). ``lock=False`` skips the writer's lock (tests,
        tools that know no app is running)."""
        return cls(path, read_only=read_only, synchronous=synchronous, lock=lock)

    def _connect(self, path: Path, *, read_only: bool, synchronous: str, lock: bool) -> sqlite3.Connection:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        if path.is_dir():
            raise ProjectError(f"{path} is a folder, not a project file")
        if not path.parent.is_dir():
            raise ProjectError(f"{path.parent}: {'not a folder' if path.parent.exists() else 'no such folder'}")
        if path.exists() and not path.is_file():
            raise ProjectError(f"{path}: not a regular file")
        if read_only:
            self.read_only_reason = "opened for viewing only"
        elif path.exists() and not os.access(path, os.W_OK):
            read_only, self.read_only_reason = True, "the file is read-only"
        elif not os.access(path.parent, os.W_OK):
            if not path.exists():
                raise ProjectError(f"{path.parent}: the folder is read-only, a project cannot be created there")
            read_only, self.read_only_reason = True, "its folder is read-only"
        self.read_only = read_only
        if read_only:
            return self._connect_read_only(path)
        if lock:
            try:
                self._lock_key = _lock.acquire(path)
            except OSError as exc:
                raise ProjectError(f"{path}: cannot lock the project ({exc.strerror or exc})") from None
        try:
            try:
                conn = sqlite3.connect(os.fspath(path), timeout=10.0, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise ProjectError(f"{path}: cannot open project ({exc})") from None
            try:
                conn.execute("PRAGMA busy_timeout = 10000")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # e.g. a file system without shared memory: still safe
                    conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                conn.execute("PRAGMA foreign_keys = ON")
                migrate(conn)
                check_schema(conn)
                self._check_rows(conn, path)
            except sqlite3.DatabaseError as exc:
                conn.close()
                if _is_disk_full(exc, path.parent):
                    raise _db_error(exc, path.parent, f"{path}: cannot open the project") from None
                raise ProjectError(f"{path}: not a valid project file ({exc})") from None
            except ProjectError as exc:
                conn.close()
                if str(exc).startswith(f"{path}:"):
                    raise
                raise type(exc)(f"{path}: {exc}") from None
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if self._lock_key is not None:
                _lock.release(self._lock_key)
                self._lock_key = None
            raise
        return conn

    def _connect_read_only(self, path: Path) -> sqlite3.Connection:
        if not path.is_file():
            raise ProjectError(f"{path}: no such project file")
        if path.stat().st_size == 0:
            raise ProjectError(f"{path}: empty file (0 bytes), not a project")
        base = "file:" + urllib.parse.quote(path.as_posix()) + "?mode=ro"
        last: Exception | None = None
        # a WAL file needs its -shm index: when it cannot be made (read-only folder), read the file as immutable
        for uri in (base, base + "&immutable=1"):
            conn = None
            try:
                conn = sqlite3.connect(uri, uri=True, timeout=10.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("PRAGMA query_only = ON")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise ProjectError(f"{path}: this project was written by a newer PseudoClick (schema {version} > "
                                       f"{SCHEMA_VERSION}); update the app")  # fmt: skip
                if version == 0 or app_id != APPLICATION_ID:
                    raise ProjectError(f"{path}: not a PseudoClick project")
                if version < SCHEMA_VERSION:
                    raise ProjectError(f"{path}: this project was written by an older PseudoClick (schema {version}); "
                                       "open it once for writing (in the app or with pseudoclick import) to upgrade it")  # fmt: skip
                check_schema(conn)
                self._check_rows(conn, path)
                return conn
            except ProjectError as exc:
                if conn is not None:
                    conn.close()
                if str(exc).startswith(f"{path}:"):
                    raise
                raise type(exc)(f"{path}: {exc}") from None
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                last = exc
                if "unable to open" not in str(exc).lower():
                    break
        raise ProjectError(f"{path}: not a valid project file ({last})") from None

    def _check_rows(self, conn: sqlite3.Connection, path: Path) -> None:
        """Refuse rows that would break the app later; repair or note the ones that need not."""
        for vid, shape, affine in conn.execute("SELECT id, shape, affine FROM volumes"):
            try:
                _parse_shape(shape)
                _parse_affine(affine)
            except (ValueError, TypeError) as exc:
                raise ProjectError(f"the project file is damaged: volume {vid} has an unreadable shape or affine "
                                   f"({exc})") from None  # fmt: skip
        bad = conn.execute(
            f"SELECT COUNT(*) FROM clicks WHERE kind NOT IN ({_KINDS_SQL})"
        ).fetchone()[0]
        if bad:
            self.warnings.append(f"{bad} click(s) of an unknown kind are ignored (the project file was edited by hand?)")
        for (key,) in conn.execute("SELECT key FROM settings WHERE json_valid(value) = 0"):
            self.warnings.append(f"setting {key!r} is not readable and is ignored")
        zero = conn.execute(
            "SELECT id, path, volume_id, axis FROM images WHERE width IS NULL OR height IS NULL OR width <= 0 OR height <= 0"
        ).fetchall()
        for iid, stored, volume_id, axis in zero:
            size = None if self.read_only else self._find_size(conn, path.parent, iid, stored, volume_id, axis)
            if size is None:
                self.warnings.append(f"image {iid} ({os.path.basename(stored)}) has no size in the project; it "
                                     "cannot be annotated or exported until it is added again")  # fmt: skip
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("UPDATE images SET width = ?, height = ? WHERE id = ?", (size[0], size[1], iid))
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            self.warnings.append(f"image {iid} ({os.path.basename(stored)}) had no size in the project; repaired "
                                 f"({size[0]} x {size[1]})")  # fmt: skip

    @staticmethod
    def _find_size(conn, root: Path, iid: int, stored: str, volume_id, axis) -> tuple[int, int] | None:
        """(width, height) for an image row without a size: from its volume, its objects or its file."""
        if volume_id is not None:
            r = conn.execute("SELECT shape, affine FROM volumes WHERE id = ?", (volume_id,)).fetchone()
            if r is not None and axis in volume_axes.AXES:
                try:
                    h, w = volume_axes.slice_shape(_parse_shape(r[0]), axis, _parse_affine(r[1]))
                    return int(w), int(h)
                except (ValueError, TypeError, ProjectError):
                    return None
            return None
        sizes = set(conn.execute("SELECT width, height FROM instances WHERE image_id = ?", (iid,)).fetchall())
        sizes |= set(conn.execute("SELECT width, height FROM drafts WHERE image_id = ? AND width IS NOT NULL", (iid,)).fetchall())
        if len(sizes) == 1:
            w, h = next(iter(sizes))
            if w and h and w > 0 and h > 0:
                return int(w), int(h)
        if sizes:
            return None
        from . import _imageio

        p = Path(stored)
        try:
            w, h = _imageio.image_size(p if p.is_absolute() else root / p)
        except Exception:  # missing or unreadable file: leave the row for the user to re-add
            return None
        return (int(w), int(h)) if w > 0 and h > 0 else None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                if not self.read_only:
                    try:
                        self._conn.execute("PRAGMA optimize")
                    except sqlite3.Error:
                        pass
                self._conn.close()
                self._conn = None
            if self._lock_key is not None:
                _lock.release(self._lock_key)
                self._lock_key = None

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a store dropped without close() still gives its lock back
        try:
            if self._lock_key is not None and self._conn is None:
                _lock.release(self._lock_key)
                self._lock_key = None
        except Exception:
            pass

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def schema_version(self) -> int:
        return self._q1("PRAGMA user_version")[0]

    def integrity_check(self) -> str:
        """``'ok'`` when SQLite finds the file sound."""
        return "; ".join(r[0] for r in self._q("PRAGMA integrity_check"))

    # ------------------------------------------------------------------ plumbing
    def _c(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ProjectError("the project is closed")
        return self._conn

    def _q(self, sql: str, params=()) -> list[tuple]:
        with self._lock:
            try:
                return self._c().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise ProjectError(f"project database error: {exc}") from exc

    def _q1(self, sql: str, params=()):
        rows = self._q(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self):
        """One write transaction (re-entrant: nested uses join the outer one). Yields the connection.

        Raises ProjectReadOnlyError on a read-only store, DiskFullError when the disk is full (nothing of the
        transaction is kept and the store stays usable: the same call can be made again later)."""
        with self._lock:
            conn = self._c()
            if self.read_only:
                raise ProjectReadOnlyError(
                    f"the project is open read-only ({self.read_only_reason}); changes cannot be saved"
                )
            if conn.in_transaction:
                yield conn
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise _db_error(exc, self.root, "cannot write to the project") from exc
            try:
                yield conn
            except sqlite3.Error as exc:
                _rollback(conn)
                raise _db_error(exc, self.root, "cannot save to the project") from exc
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise _db_error(exc, self.root, "cannot save to the project") from exc

    def _write(self, sql: str, params=()) -> sqlite3.Cursor:
        with self.transaction() as conn:
            try:
                return conn.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise ProjectError(f"refused by the project database: {exc}") from exc

    # ------------------------------------------------------------------ paths
    def _store_path(self, path) -> str:
        p = Path(path).expanduser().absolute()
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return os.fspath(p)

    def _abs_path(self, stored: str) -> str:
        p = Path(stored)
        return os.fspath(p if p.is_absolute() else self.root / p)

    # ------------------------------------------------------------------ images
    _IMAGE_SELECT = (
        "SELECT i.id, i.path, i.width, i.height, i.status, i.checksum, i.volume_id, i.axis, i.slice_index,"
        " (SELECT COUNT(*) FROM instances n WHERE n.image_id = i.id AND n.deleted = 0) FROM images i"
    )

    def _image_rec(self, r) -> ImageRecord:
        return ImageRecord(r[0], self._abs_path(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])

    def find_image(self, path, *, axis: str | None = None, slice_index: int | None = None) -> int | None:
        """Id of the image (or the volume slice) at ``path``, or None."""
        r = self._q1(
            "SELECT id FROM images WHERE path = ? AND IFNULL(axis, '') = ? AND IFNULL(slice_index, -1) = ?",
            (self._store_path(path), axis or "", -1 if slice_index is None else int(slice_index)),
        )
        return None if r is None else r[0]

    def add_image(
        self,
        path,
        *,
        volume_id: int | None = None,
        axis: str | None = None,
        slice_index: int | None = None,
        width: int | None = None,
        height: int | None = None,
        checksum: str | None = None,
    ) -> int:
        """Add an image file, or one slice of a volume (``volume_id``, ``axis``, ``slice_index``; ``path``
        may then be None: the volume's path is used). Idempotent: returns the existing id for the same
        path (and slice). Reads the image header for the size when not given; computes a checksum of
        plain image files when not given."""
        from . import _imageio

        if volume_id is not None:
            vol = self.volume(volume_id)
            if axis is None or slice_index is None:
                raise ProjectError("a volume slice needs both an axis and a slice index")
            if axis not in volume_axes.AXES:
                raise ProjectError(f"unknown slice axis {axis!r}; expected one of {', '.join(volume_axes.AXES)}")
            n = volume_axes.n_slices(vol.shape, axis, vol.affine)
            if not 0 <= int(slice_index) < n:
                raise ProjectError(f"{axis} slice {slice_index} out of range (volume has {n})")
            path = vol.path if path is None else path
            if width is None or height is None:
                height, width = volume_axes.slice_shape(vol.shape, axis, vol.affine)
        elif axis is not None or slice_index is not None:
            raise ProjectError("axis / slice_index are only meaningful with a volume_id")
        if path is None:
            raise ProjectError("add_image needs a path")
        existing = self.find_image(path, axis=axis, slice_index=slice_index)
        if existing is not None:
            return existing
        if width is None or height is None:
            width, height = _imageio.image_size(path)
        if int(width) <= 0 or int(height) <= 0:
            raise ProjectError(f"{path}: image has no pixels ({width} x {height})")
        if checksum is None and volume_id is None:
            checksum = _imageio.file_checksum(path)
        now = time.time()
        with self.transaction() as conn:
            existing = self.find_image(path, axis=axis, slice_index=slice_index)
            if existing is not None:  # added by another thread meanwhile
                return existing
            cur = conn.execute(
                "INSERT INTO images (path, width, height, checksum, volume_id, axis, slice_index, added, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._store_path(path), int(width), int(height), checksum, volume_id, axis,
                 None if slice_index is None else int(slice_index), now, now),
            )  # fmt: skip
            return int(cur.lastrowid)

    def images(self, *, include_slices: bool = True) -> list[ImageRecord]:
        sql = self._IMAGE_SELECT + ("" if include_slices else " WHERE i.volume_id IS NULL") + " ORDER BY i.id"
        return [self._image_rec(r) for r in self._q(sql)]

    def image(self, image_id: int) -> ImageRecord:
        r = self._q1(self._IMAGE_SELECT + " WHERE i.id = ?", (int(image_id),))
        if r is None:
            raise ProjectError(f"no image with id {image_id} in the project")
        return self._image_rec(r)

    def set_image_status(self, image_id: int, status: str) -> None:
        if status not in IMAGE_STATUSES:
            raise ProjectError(f"unknown image status {status!r}; expected one of {', '.join(IMAGE_STATUSES)}")
        cur = self._write("UPDATE images SET status = ?, updated = ? WHERE id = ?", (status, time.time(), int(image_id)))
        if cur.rowcount == 0:
            raise ProjectError(f"no image with id {image_id} in the project")

    def remove_image(self, image_id: int) -> None:
        """Remove an image and (cascade) its instances, clicks and draft."""
        self._write("DELETE FROM images WHERE id = ?", (int(image_id),))

    def _touch_image(self, conn, image_id: int) -> None:
        conn.execute(
            "UPDATE images SET status = 'in_progress', updated = ? WHERE id = ? AND status = 'untouched'",
            (time.time(), int(image_id)),
        )

    def _image_shape(self, image_id: int) -> tuple[int, int]:
        r = self._q1("SELECT height, width, path FROM images WHERE id = ?", (int(image_id),))
        if r is None:
            raise ProjectError(f"no image with id {image_id} in the project")
        if not r[0] or not r[1] or r[0] <= 0 or r[1] <= 0:
            raise ProjectError(f"image {image_id} ({os.path.basename(r[2])}) has no size in the project "
                               f"({r[1]} x {r[0]}); remove it and add it again")  # fmt: skip
        return int(r[0]), int(r[1])

    # ------------------------------------------------------------------ volumes
    def add_volume(self, path, *, kind: str, shape, affine=None, series_uid: str | None = None) -> int:
        """Register a volume (DICOM series folder, NIfTI file, ...); idempotent per path."""
        shape = [int(s) for s in shape]
        aff = None if affine is None else json.dumps(np.asarray(affine, dtype=float).reshape(4, 4).tolist())
        stored = self._store_path(path)
        with self.transaction() as conn:
            r = conn.execute("SELECT id FROM volumes WHERE path = ?", (stored,)).fetchone()
            if r is not None:
                return int(r[0])
            cur = conn.execute(
                "INSERT INTO volumes (path, kind, shape, affine, series_uid, added) VALUES (?, ?, ?, ?, ?, ?)",
                (stored, kind, json.dumps(shape), aff, series_uid, time.time()),
            )
            return int(cur.lastrowid)

    def _volume_rec(self, r) -> VolumeRecord:
        try:
            shape, aff = _parse_shape(r[3]), _parse_affine(r[4])
        except (ValueError, TypeError) as exc:
            raise ProjectError(f"the project file is damaged: volume {r[0]} has an unreadable shape or affine ({exc})") from None
        return VolumeRecord(r[0], self._abs_path(r[1]), r[2], shape, aff, r[5])

    def volumes(self) -> list[VolumeRecord]:
        return [self._volume_rec(r) for r in self._q("SELECT id, path, kind, shape, affine, series_uid FROM volumes ORDER BY id")]

    def volume(self, volume_id: int) -> VolumeRecord:
        r = self._q1("SELECT id, path, kind, shape, affine, series_uid FROM volumes WHERE id = ?", (int(volume_id),))
        if r is None:
            raise ProjectError(f"no volume with id {volume_id} in the project")
        return self._volume_rec(r)

    def volume_slices(self, volume_id: int, axis: str | None = None) -> list[ImageRecord]:
        """The slice images of a volume already in the project, by axis then index."""
        sql = self._IMAGE_SELECT + " WHERE i.volume_id = ?"
        params: tuple = (int(volume_id),)
        if axis is not None:
            sql += " AND i.axis = ?"
            params += (axis,)
        return [self._image_rec(r) for r in self._q(sql + " ORDER BY i.axis, i.slice_index", params)]

    def slice_image(self, volume_id: int, axis: str, slice_index: int) -> int:
        """Id of the image row for one volume slice, created when missing (what the GUI calls when the
        user starts drawing on a slice)."""
        return self.add_image(None, volume_id=volume_id, axis=axis, slice_index=slice_index)

    # ------------------------------------------------------------------ categories
    def categories(self) -> list[Category]:
        return [Category(*r) for r in self._q("SELECT id, name, color, supercategory FROM categories ORDER BY id")]

    def category(self, category_id: int) -> Category:
        r = self._q1("SELECT id, name, color, supercategory FROM categories WHERE id = ?", (int(category_id),))
        if r is None:
            raise ProjectError(f"no category with id {category_id}")
        return Category(*r)

    def category_by_name(self, name: str) -> Category | None:
        r = self._q1("SELECT id, name, color, supercategory FROM categories WHERE name = ?", (name,))
        return None if r is None else Category(*r)

    def add_category(self, name: str, color: str | None = None, supercategory: str = "") -> int:
        name = (name or "").strip()
        if not name:
            raise ProjectError("a category needs a name")
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM categories WHERE name = ?", (name,)).fetchone():
                raise ProjectError(f"a category named {name!r} already exists")
            if color is None:
                n = conn.execute("SELECT COUNT(*) FROM categories").fetchone()[0]
                color = DEFAULT_PALETTE[n % len(DEFAULT_PALETTE)]
            cur = conn.execute(
                "INSERT INTO categories (name, color, supercategory) VALUES (?, ?, ?)", (name, color, supercategory or "")
            )
            return int(cur.lastrowid)

    def ensure_category(self, name: str, color: str | None = None, supercategory: str = "") -> int:
        """Id of the category ``name``, created when missing."""
        with self.transaction():
            c = self.category_by_name(name.strip())
            return c.id if c is not None else self.add_category(name, color, supercategory)

    def rename_category(self, category_id: int, name: str) -> None:
        name = (name or "").strip()
        if not name:
            raise ProjectError("a category needs a name")
        with self.transaction() as conn:
            other = conn.execute("SELECT id FROM categories WHERE name = ?", (name,)).fetchone()
            if other is not None and other[0] != int(category_id):
                raise ProjectError(f"a category named {name!r} already exists")
            if conn.execute("UPDATE categories SET name = ? WHERE id = ?", (name, int(category_id))).rowcount == 0:
                raise ProjectError(f"no category with id {category_id}")

    def set_category_color(self, category_id: int, color: str) -> None:
        if self._write("UPDATE categories SET color = ? WHERE id = ?", (color, int(category_id))).rowcount == 0:
            raise ProjectError(f"no category with id {category_id}")

    def set_category_supercategory(self, category_id: int, supercategory: str) -> None:
        if self._write("UPDATE categories SET supercategory = ? WHERE id = ?", (supercategory, int(category_id))).rowcount == 0:
            raise ProjectError(f"no category with id {category_id}")

    def delete_category(self, category_id: int, *, reassign_to: int | None = None) -> None:
        """Delete a category. When instances (including soft-deleted ones) use it: move them to
        ``reassign_to`` if given, else refuse with a ProjectError saying how many use it."""
        cid = int(category_id)
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM categories WHERE id = ?", (cid,)).fetchone() is None:
                raise ProjectError(f"no category with id {category_id}")
            live, total = conn.execute(
                "SELECT SUM(deleted = 0), COUNT(*) FROM instances WHERE category_id = ?", (cid,)
            ).fetchone()
            if total:
                if reassign_to is None:
                    name = conn.execute("SELECT name FROM categories WHERE id = ?", (cid,)).fetchone()[0]
                    raise ProjectError(
                        f"category {name!r} is used by {live or 0} object(s)"
                        f"{f' (and {total - (live or 0)} deleted)' if total - (live or 0) else ''}; "
                        "choose a category to move them to"
                    )
                if int(reassign_to) == cid:
                    raise ProjectError("cannot move objects to the category being deleted")
                if conn.execute("SELECT 1 FROM categories WHERE id = ?", (int(reassign_to),)).fetchone() is None:
                    raise ProjectError(f"no category with id {reassign_to}")
                conn.execute(
                    "UPDATE instances SET category_id = ?, updated = ? WHERE category_id = ?",
                    (int(reassign_to), time.time(), cid),
                )
            conn.execute("DELETE FROM categories WHERE id = ?", (cid,))

    # ------------------------------------------------------------------ instances
    _INSTANCE_SELECT = (
        "SELECT id, image_id, category_id, area, bbox_x, bbox_y, bbox_w, bbox_h, hidden, deleted, source,"
        " height, width, created, updated, rle FROM instances"
    )

    @staticmethod
    def _instance_rec(r) -> InstanceRecord:
        return InstanceRecord(
            r[0], r[1], r[2], r[3], (r[4], r[5], r[6], r[7]), bool(r[8]), bool(r[9]), r[10], r[11], r[12],
            r[13], r[14], r[15],
        )  # fmt: skip

    def _check_mask(self, image_id: int, mask) -> np.ndarray:
        m = _as_mask(mask)
        h, w = self._image_shape(image_id)
        if m.shape != (h, w):
            raise ProjectError(f"mask shape {m.shape} does not match image {image_id} ({h} x {w})")
        return m

    @staticmethod
    def _mask_columns(m: np.ndarray) -> tuple:
        enc = _rle.encode(m)
        return enc["counts"], m.shape[0], m.shape[1], int(np.count_nonzero(m)), *_rle.mask_bbox(m)

    def add_instance(self, image_id: int, mask, category_id: int, *, source: str = "interactive",
                     attach_draft: bool = True) -> int:  # fmt: skip
        """Store a finished object. With ``attach_draft`` (default) the image's draft clicks (recorded with
        ``instance_id=None``) are attached to the new instance and the draft is cleared, in the same
        transaction."""
        m = self._check_mask(image_id, mask)
        cols = self._mask_columns(m)
        now = time.time()
        with self.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO instances (image_id, category_id, rle, height, width, area, bbox_x, bbox_y,"
                    " bbox_w, bbox_h, source, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (int(image_id), int(category_id), *cols, source, now, now),
                )
            except sqlite3.IntegrityError:
                raise ProjectError(f"no category with id {category_id}") from None
            iid = int(cur.lastrowid)
            if attach_draft:
                self._attach_draft(conn, int(image_id), iid)
            self._touch_image(conn, image_id)
            return iid

    def _attach_draft(self, conn, image_id: int, instance_id: int) -> None:
        # undone draft clicks move too (still flagged undone), so the draft is empty afterwards
        conn.execute(
            "UPDATE clicks SET instance_id = ? WHERE image_id = ? AND instance_id IS NULL", (instance_id, image_id)
        )
        conn.execute("DELETE FROM drafts WHERE image_id = ?", (image_id,))

    def detach_clicks_to_draft(self, instance_id: int, click_ids=None) -> int:
        """Give an instance's clicks (live and undone) back to its image's draft (``instance_id = NULL``), the
        inverse of the attachment done by :meth:`add_instance` / :meth:`update_instance_mask`: undoing a
        finish keeps the draft's click list in the project, so a crash afterwards replays it. ``click_ids``
        (optional): move only these clicks of the instance (e.g. the ones of one editing session of a
        re-opened instance). Returns how many clicks moved; ProjectError when there is no such instance."""
        inst = self.instance(instance_id)
        with self.transaction() as conn:
            if click_ids is None:
                cur = conn.execute("UPDATE clicks SET instance_id = NULL WHERE instance_id = ?", (inst.id,))
                return int(cur.rowcount)
            moved = 0
            for cid in click_ids:
                cur = conn.execute(
                    "UPDATE clicks SET instance_id = NULL WHERE id = ? AND instance_id = ?", (int(cid), inst.id)
                )
                moved += cur.rowcount
            return moved

    def update_instance_mask(self, instance_id: int, mask, *, attach_draft: bool = True) -> None:
        """Replace an instance's mask. When the image's draft re-opened this instance (``save_draft(...,
        instance_id=this)``) and ``attach_draft`` is true, the draft clicks join the instance and the
        draft is cleared, in the same transaction."""
        inst = self.instance(instance_id)
        m = self._check_mask(inst.image_id, mask)
        cols = self._mask_columns(m)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE instances SET rle = ?, height = ?, width = ?, area = ?, bbox_x = ?, bbox_y = ?, bbox_w = ?,"
                " bbox_h = ?, updated = ? WHERE id = ?",
                (*cols, time.time(), int(instance_id)),
            )
            d = conn.execute("SELECT instance_id FROM drafts WHERE image_id = ?", (inst.image_id,)).fetchone()
            if attach_draft and d is not None and d[0] == int(instance_id):
                self._attach_draft(conn, inst.image_id, int(instance_id))

    def _update_instance(self, instance_id: int, column: str, value) -> None:
        cur = self._write(f"UPDATE instances SET {column} = ?, updated = ? WHERE id = ?", (value, time.time(), int(instance_id)))
        if cur.rowcount == 0:
            raise ProjectError(f"no object with id {instance_id}")

    def set_instance_category(self, instance_id: int, category_id: int) -> None:
        try:
            self._update_instance(instance_id, "category_id", int(category_id))
        except ProjectError as exc:
            if "refused" in str(exc):
                raise ProjectError(f"no category with id {category_id}") from None
            raise

    def set_instance_hidden(self, instance_id: int, hidden: bool) -> None:
        self._update_instance(instance_id, "hidden", int(bool(hidden)))

    def delete_instance(self, instance_id: int) -> None:
        """Soft delete (undoable with :meth:`restore_instance`); exports and ``instances()`` skip it."""
        self._update_instance(instance_id, "deleted", 1)

    def restore_instance(self, instance_id: int) -> None:
        self._update_instance(instance_id, "deleted", 0)

    def purge_deleted(self) -> int:
        """Permanently remove soft-deleted instances (and their clicks); returns how many."""
        return self._write("DELETE FROM instances WHERE deleted = 1").rowcount

    def instance(self, instance_id: int) -> InstanceRecord:
        r = self._q1(self._INSTANCE_SELECT + " WHERE id = ?", (int(instance_id),))
        if r is None:
            raise ProjectError(f"no object with id {instance_id}")
        return self._instance_rec(r)

    def instances(self, image_id: int | None = None, *, include_deleted: bool = False) -> list[InstanceRecord]:
        """Instances of one image (or of the whole project when ``image_id`` is None), oldest first."""
        where, params = [], []
        if image_id is not None:
            where.append("image_id = ?")
            params.append(int(image_id))
        if not include_deleted:
            where.append("deleted = 0")
        sql = self._INSTANCE_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [self._instance_rec(r) for r in self._q(sql, params)]

    def instance_mask(self, instance_id: int) -> np.ndarray:
        return self.instance(instance_id).mask()

    # ------------------------------------------------------------------ clicks
    def record_click(self, image_id: int, x: float, y: float, positive: bool, kind: str = "human",
                     confidence: float = 1.0, instance_id: int | None = None) -> int:  # fmt: skip
        """Record one click (``instance_id=None``: it belongs to the object being drawn, the draft)."""
        if kind not in CLICK_KINDS:
            raise ProjectError(f"unknown click kind {kind!r}; expected one of {', '.join(CLICK_KINDS)}")
        with self.transaction() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO clicks (image_id, instance_id, x, y, positive, kind, confidence, time)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (int(image_id), instance_id, float(x), float(y), int(bool(positive)), kind, float(confidence),
                     time.time()),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                raise ProjectError(f"no image {image_id} / object {instance_id} for this click") from None
            self._touch_image(conn, image_id)
            return int(cur.lastrowid)

    def delete_click(self, click_id: int) -> None:
        """Mark a click undone (kept for the record, ignored by ``clicks()``, drafts and stats)."""
        if self._write("UPDATE clicks SET undone = 1 WHERE id = ?", (int(click_id),)).rowcount == 0:
            raise ProjectError(f"no click with id {click_id}")

    def restore_click(self, click_id: int) -> None:
        """Redo of :meth:`delete_click`."""
        if self._write("UPDATE clicks SET undone = 0 WHERE id = ?", (int(click_id),)).rowcount == 0:
            raise ProjectError(f"no click with id {click_id}")

    def set_click_kind(self, click_id: int, kind: str) -> None:
        """E.g. a pseudo click shown then withdrawn by the user."""
        if kind not in CLICK_KINDS:
            raise ProjectError(f"unknown click kind {kind!r}")
        if self._write("UPDATE clicks SET kind = ? WHERE id = ?", (kind, int(click_id))).rowcount == 0:
            raise ProjectError(f"no click with id {click_id}")

    def clicks(self, image_id: int | None = None, instance_id: int | None = None, draft_only: bool = False,
               *, include_undone: bool = False) -> list[ClickRecord]:  # fmt: skip
        where, params = [], []
        if image_id is not None:
            where.append("image_id = ?")
            params.append(int(image_id))
        if instance_id is not None:
            where.append("instance_id = ?")
            params.append(int(instance_id))
        if draft_only:
            where.append("instance_id IS NULL")
        if not include_undone:
            where.append("undone = 0")
        where.append(f"kind IN ({_KINDS_SQL})")  # a hand-edited row is ignored
        sql = "SELECT id, image_id, instance_id, x, y, positive, kind, confidence, time, undone FROM clicks"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [ClickRecord(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8], bool(r[9])) for r in self._q(sql, params)]

    # ------------------------------------------------------------------ drafts
    def save_draft(self, image_id: int, mask=None, instance_id: int | None = None, *, seed=KEEP_SEED) -> None:
        """Remember the object in progress on an image (its current mask, None before the first
        prediction; ``instance_id`` when an existing object was re-opened for editing).

        ``seed``: the mask the object's session started from (``Session.set_previous_mask``: the neighbour
        slice's mask of a propagated object, a re-opened instance's mask), given back by :meth:`draft` so a
        restore seeds the session before replaying the clicks. Left out (:data:`KEEP_SEED`), the draft keeps
        the seed it has (none for a new draft), so saving each new prediction need not repeat it; None
        removes it. The seed lives as long as the draft: :meth:`clear_draft` and finishing the object (the
        draft attached to an instance) drop it."""
        if mask is None:
            counts, h, w = None, None, None
        else:
            m = self._check_mask(image_id, mask)
            counts, h, w = _rle.encode(m)["counts"], m.shape[0], m.shape[1]
        keep = seed is KEEP_SEED
        seed_counts = None if keep or seed is None else _rle.encode(self._check_mask(image_id, seed))["counts"]
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO drafts (image_id, rle, height, width, instance_id, updated, seed_rle)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(image_id) DO UPDATE SET rle = excluded.rle, height = excluded.height,"
                    " width = excluded.width, instance_id = excluded.instance_id, updated = excluded.updated"
                    + ("" if keep else ", seed_rle = excluded.seed_rle"),
                    (int(image_id), counts, h, w, instance_id, time.time(), seed_counts),
                )
            except sqlite3.IntegrityError:
                raise ProjectError(f"no image {image_id} / object {instance_id} for this draft") from None
            self._touch_image(conn, image_id)

    def draft(self, image_id: int) -> Draft | None:
        """The object in progress on an image (mask, re-opened instance id, its non-undone clicks, seed), or
        None when there is neither a saved draft nor any draft click."""
        with self._lock:
            r = self._q1(
                "SELECT d.rle, d.height, d.width, d.instance_id, d.updated, d.seed_rle, i.height, i.width"
                " FROM drafts d JOIN images i ON i.id = d.image_id WHERE d.image_id = ?",
                (int(image_id),),
            )
            clicks = self.clicks(image_id, draft_only=True)
        if r is None and not clicks:
            return None
        if r is None:
            return Draft(int(image_id), None, None, tuple(clicks), None)
        mask = None if r[0] is None else _rle.decode({"size": [r[1], r[2]], "counts": r[0]})
        seed = None if r[5] is None else _rle.decode({"size": [r[6], r[7]], "counts": r[5]})
        return Draft(int(image_id), mask, r[3], tuple(clicks), r[4], seed)

    def clear_draft(self, image_id: int, *, discard_clicks: bool = True) -> None:
        """Forget the object in progress (e.g. the user pressed Esc), its mask and seed; its clicks are marked
        undone (with ``discard_clicks``)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM drafts WHERE image_id = ?", (int(image_id),))
            if discard_clicks:
                conn.execute("UPDATE clicks SET undone = 1 WHERE image_id = ? AND instance_id IS NULL", (int(image_id),))

    # ------------------------------------------------------------------ stats & settings
    def stats(self) -> dict:
        """Counts for the status bar / report (live clicks only, not undone ones). ``human_clicks`` counts
        the clicks a person placed (kind ``human``); ``propagated_clicks`` the ones derived from a neighbouring
        slice, which the network saw but nobody placed. ``human_clicks_saved`` is the number of accepted
        pseudo clicks: each one is a click the user did not have to place. ``clicks_per_instance``: (human +
        accepted pseudo clicks) per object, the user's effort (propagated clicks are not part of it)."""
        with self._lock:
            img = self._q1(
                "SELECT COUNT(*), SUM(status = 'done'), SUM(status = 'in_progress'), SUM(volume_id IS NOT NULL) FROM images"
            )
            inst = self._q1("SELECT SUM(deleted = 0), SUM(deleted = 1) FROM instances")
            ck = self._q1(
                "SELECT SUM(kind = 'human'), SUM(kind = 'pseudo_accepted'), SUM(kind = 'pseudo_withdrawn'),"
                " SUM(kind = 'human' AND positive = 1), SUM(kind = 'human' AND positive = 0),"
                " SUM(kind = 'propagated') FROM clicks WHERE undone = 0"
            )
            n_cat = self._q1("SELECT COUNT(*) FROM categories")[0]
            n_vol = self._q1("SELECT COUNT(*) FROM volumes")[0]
        human, accepted, withdrawn = int(ck[0] or 0), int(ck[1] or 0), int(ck[2] or 0)
        instances = int(inst[0] or 0)
        return {
            "images": int(img[0] or 0),
            "images_done": int(img[1] or 0),
            "images_in_progress": int(img[2] or 0),
            "volume_slices": int(img[3] or 0),
            "volumes": int(n_vol),
            "categories": int(n_cat),
            "instances": instances,
            "deleted_instances": int(inst[1] or 0),
            "human_clicks": human,
            "human_positive_clicks": int(ck[3] or 0),
            "human_negative_clicks": int(ck[4] or 0),
            "pseudo_accepted": accepted,
            "pseudo_withdrawn": withdrawn,
            "propagated_clicks": int(ck[5] or 0),
            "human_clicks_saved": accepted,
            "clicks_per_instance": (human + accepted) / instances if instances else 0.0,
        }

    def get_setting(self, key: str, default=None):
        """The stored value, or ``default`` when missing or unreadable (a damaged value is logged, not raised:
        settings are conveniences, and one bad row must not keep the project from opening)."""
        r = self._q1("SELECT value FROM settings WHERE key = ?", (key,))
        if r is None:
            return default
        try:
            return json.loads(r[0])
        except (TypeError, ValueError):
            log.warning("project setting %r is not readable (%.40r); using the default", key, r[0])
            return default

    def set_setting(self, key: str, value) -> None:
        """Store a JSON-serialisable value."""
        try:
            text = json.dumps(value)
        except TypeError as exc:
            raise ProjectError(f"setting {key!r}: value is not JSON-serialisable ({exc})") from None
        self._write(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, text),
        )

    def meta(self) -> dict:
        return {k: json.loads(v) for k, v in self._q("SELECT key, value FROM meta")}
