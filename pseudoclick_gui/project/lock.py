"""One writer per project: an OS lock on a sidecar file ``<project>.lock``.

The writer holds an exclusive, non-blocking ``flock`` (``msvcrt.locking`` on Windows) on the sidecar for as
long as its store is open, and writes ``{"pid", "host", "since"}`` into it so a second process can say who
holds it. The operating system drops the lock when the holder exits, however it exits (SIGKILL, crash,
power cut), so a dead holder never blocks anyone: a stale sidecar left by a killed process is simply
locked again by the next writer. The sidecar is removed when the last store of this process closes.

Within one process the lock is shared (reference counted): the GUI may open the project it already has
open again (e.g. a reload) without locking itself out; the store's own re-entrant lock serialises threads.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

from ..errors import ProjectError, ProjectLockedError

_INFO_OFFSET = 16  # Windows locks byte 0; the holder's info lives after it so others can still read it
_held: dict[str, list] = {}  # lock path -> [fd, refcount]
_guard = threading.Lock()


def lock_path(project: Path) -> Path:
    return project.with_name(project.name + ".lock")


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (BlockingIOError, PermissionError):
        return False


def holder_info(project: Path) -> dict:
    """What the holder wrote into the sidecar (``pid``, ``host``, ``since``), or {} when unreadable."""
    try:
        with open(lock_path(project), "rb") as f:
            f.seek(_INFO_OFFSET)
            data = json.loads(f.read(4096).decode("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _locked_error(project: Path) -> ProjectLockedError:
    info = holder_info(project)
    pid, host, since = info.get("pid"), info.get("host"), info.get("since")
    who = "another PseudoClick process"
    if pid is not None:
        who += f" (pid {pid}" + (f" on {host}" if host else "")
        if isinstance(since, (int, float)):
            who += ", since " + time.strftime("%Y-%m-%d %H:%M", time.localtime(since))
        who += ")"
    return ProjectLockedError(
        f"{project}: the project is open for writing in {who}; close it there, or open this one read-only",
        pid=pid if isinstance(pid, int) else None,
        host=host if isinstance(host, str) else None,
        since=since if isinstance(since, (int, float)) else None,
    )


def acquire(project: Path) -> str:
    """Take (or share, within this process) the writer's lock of ``project``; returns a key for
    :func:`release`. Raises ProjectLockedError when another live process holds it, OSError when the
    sidecar cannot be created (e.g. a read-only folder)."""
    path = lock_path(project)
    key = os.path.normcase(os.fspath(path))
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return key
        for _ in range(20):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                raise _locked_error(project)
            # the previous holder may have removed the file between our open and our lock: lock the live one
            try:
                st, now = os.fstat(fd), os.stat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            if (st.st_ino, st.st_dev) != (now.st_ino, now.st_dev):
                os.close(fd)
                continue
            break
        else:  # pragma: no cover - only with a pathological file system
            raise ProjectError(f"{path}: cannot take the project's lock")
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode()
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, _INFO_OFFSET, os.SEEK_SET)
            os.write(fd, info)
        except OSError:  # the lock is what matters; the holder's name is a courtesy
            pass
        _held[key] = [fd, 1]
        return key


def release(key: str) -> None:
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[key]
        try:
            os.unlink(key)  # still holding the lock, so no other writer is using this file
        except OSError:
            pass
        os.close(entry[0])  # closing drops the lock


def held_here(project: Path) -> bool:
    """True when this process holds the writer's lock of ``project``."""
    with _guard:
        return os.path.normcase(os.fspath(lock_path(project))) in _held
