"""Lost-work cases of the project store: a full disk, two writers, a damaged file, a size-0 image row,
read-only projects, and SIGKILLs of a writer (a few quick rounds)."""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pseudoclick_gui.errors import DiskFullError, ProjectError, ProjectLockedError, ProjectReadOnlyError
from pseudoclick_gui.project import ProjectStore
from pseudoclick_gui.project import store as store_mod

REPO = Path(__file__).resolve().parents[2]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _project_with_image(tmp_path, image_dir):
    s = ProjectStore.open(tmp_path / "p.pcproj")
    iid = s.add_image(image_dir / "a.png")
    cid = s.add_category("thing")
    return s, iid, cid


def _damage(path, *statements) -> None:
    """Run SQL statements (a string, or ``(sql, parameters)``) on a closed project file, as another program."""
    conn = sqlite3.connect(path)
    for st in statements:
        conn.execute(*((st,) if isinstance(st, str) else st))
    conn.commit()
    conn.close()


# ------------------------------------------------------------------------------------------- full disk
def test_full_disk_says_so_keeps_the_store_usable_and_a_retry_saves(tmp_path, image_dir, rng, blob):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    h, w = s.image(iid).height, s.image(iid).width
    s.record_click(iid, 3, 4, True)
    conn = s._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the database cannot grow: SQLITE_FULL on the next page
    big = blob(h, w, rng, parts=3) | (rng.random((h, w)) > 0.5)  # noisy: many RLE runs, several pages
    with pytest.raises(DiskFullError) as ei:
        for _ in range(50):
            s.add_instance(iid, big, cid)
    msg = str(ei.value)
    assert "disk is full" in msg and "rollback" not in msg.lower() and "not saved" in msg
    assert not conn.in_transaction
    before = len(s.instances())
    # the caller kept the edit: once there is space, the same call goes through
    conn.execute("PRAGMA max_page_count = 1073741823")
    iid2 = s.add_instance(iid, big, cid)
    assert np.array_equal(s.instance_mask(iid2), big) and len(s.instances()) == before + 1
    assert [c.x for c in s.clicks(iid, include_undone=True)] == [3]  # committed work untouched
    s.close()
    with ProjectStore.open(tmp_path / "p.pcproj") as s2:
        assert s2.integrity_check() == "ok" and len(s2.instances()) == before + 1


def test_full_disk_at_open_says_so(tmp_path, monkeypatch):
    def failing_migrate(conn):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store_mod, "migrate", failing_migrate)
    monkeypatch.setattr(store_mod, "_free_bytes", lambda folder: 4096)
    with pytest.raises(DiskFullError, match="disk is full"):
        ProjectStore.open(tmp_path / "p.pcproj")
    assert not (tmp_path / "p.pcproj.lock").exists()  # the lock was given back


def test_rollback_is_not_repeated_after_sqlite_rolled_back(tmp_path):
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        with pytest.raises(ProjectError, match="boom"):
            with s.transaction() as conn:
                conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
                conn.execute("ROLLBACK")  # as SQLite does by itself on SQLITE_FULL
                raise ProjectError("boom")
        assert s.get_setting("a") is None and not s._conn.in_transaction


# ------------------------------------------------------------------------------------------ two writers
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pseudoclick_gui.project import ProjectStore
    s = ProjectStore.open(sys.argv[1])
    s.add_category("held")
    print("ready", flush=True)
    time.sleep(120)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_second_writer_is_refused_with_the_holder_named_and_can_view_read_only(tmp_path):
    path = tmp_path / "p.pcproj"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=_env())
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(ProjectLockedError) as ei:
            ProjectStore.open(path)
        assert ei.value.pid == proc.pid and f"pid {proc.pid}" in str(ei.value) and ei.value.host
        assert "read-only" in str(ei.value)
        with ProjectStore.open(path, read_only=True) as ro:  # viewing is fine
            assert [c.name for c in ro.categories()] == ["held"] and ro.read_only
            with pytest.raises(ProjectReadOnlyError, match="read-only"):
                ro.add_category("mine")
            with pytest.raises(ProjectReadOnlyError):
                ro.set_setting("x", 1)
        ro2 = ProjectStore(path, read_only=True)  # the constructor form
        assert ro2.read_only
        ro2.close()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # a SIGKILLed holder blocks nobody: its stale sidecar is simply locked again
    assert (tmp_path / "p.pcproj.lock").exists()
    with ProjectStore.open(path) as s:
        s.add_category("after")
        assert {c.name for c in s.categories()} == {"held", "after"}
    assert not (tmp_path / "p.pcproj.lock").exists()


def test_one_process_may_open_its_own_project_twice(tmp_path):
    a = ProjectStore.open(tmp_path / "p.pcproj")
    b = ProjectStore.open(tmp_path / "p.pcproj")  # e.g. the app reopening the project it has open
    b.add_category("x")
    b.close()
    a.add_category("y")  # still holds the lock
    assert (tmp_path / "p.pcproj.lock").exists()
    a.close()
    assert not (tmp_path / "p.pcproj.lock").exists()


SIGKILL_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pseudoclick_gui.project import ProjectStore
    s = ProjectStore.open(sys.argv[1])
    vid = s.add_volume(sys.argv[1] + ".vol", kind="test", shape=(32, 32, 2))
    img = s.add_image(None, volume_id=vid, axis="axial", slice_index=0)
    cat = s.ensure_category("obj")
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        s.record_click(img, i % 32, (i * 5) % 32, True)
        m = np.zeros((32, 32), bool)
        m[i % 20 : i % 20 + 8, 2:12] = True
        s.save_draft(img, m)
        if i % 3 == 0:
            print("instance", s.add_instance(img, m, cat), flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_rounds_lose_no_reported_commit_and_leave_no_lock_behind(tmp_path):
    path = tmp_path / "kill.pcproj"
    rng = np.random.default_rng(7)
    reported: set[int] = set()
    for _round in range(3):
        proc = subprocess.Popen([sys.executable, "-c", SIGKILL_CHILD, str(path)], stdout=subprocess.PIPE, text=True,
                                env=_env())  # fmt: skip
        try:
            assert proc.stdout.readline().strip() == "ready"
            target = int(rng.integers(3, 15))
            deadline = time.monotonic() + 30
            got = 0
            while got < target and time.monotonic() < deadline:
                parts = proc.stdout.readline().split()
                if not parts:
                    break
                reported.add(int(parts[1]))
                got += 1
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        t0 = time.monotonic()
        with ProjectStore.open(path) as s:  # the dead writer's lock does not block the next one
            assert time.monotonic() - t0 < 5
            assert s.integrity_check() == "ok"
            assert reported <= {i.id for i in s.instances()}


# ------------------------------------------------------------------------------------- damaged files
def test_missing_table_is_refused_at_open_and_never_written(tmp_path, image_dir):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    s.close()
    _damage(tmp_path / "p.pcproj", "DROP TABLE drafts")
    before = _sha(tmp_path / "p.pcproj")
    for ro in (False, True):
        with pytest.raises(ProjectError, match="damaged.*drafts"):
            ProjectStore.open(tmp_path / "p.pcproj", read_only=ro)
    assert _sha(tmp_path / "p.pcproj") == before
    assert not (tmp_path / "p.pcproj.lock").exists()


def test_unreadable_volume_row_is_refused_at_open(tmp_path):
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        s.add_volume(tmp_path / "v.nii.gz", kind="nifti", shape=(4, 4, 4))
    _damage(tmp_path / "p.pcproj", "UPDATE volumes SET shape = '[4, \"x\"'")
    with pytest.raises(ProjectError, match="damaged: volume 1"):
        ProjectStore.open(tmp_path / "p.pcproj")


def test_bad_setting_and_unknown_click_kind_do_not_stop_the_project(tmp_path, image_dir):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    good = s.record_click(iid, 1, 1, True)
    bad = s.record_click(iid, 2, 2, True)
    s.close()
    _damage(
        tmp_path / "p.pcproj",
        "PRAGMA ignore_check_constraints = ON",
        ("UPDATE clicks SET kind = 'bogus' WHERE id = ?", (bad,)),
        "INSERT INTO settings (key, value) VALUES ('gui.category', '{oops')",
    )
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        assert s.get_setting("gui.category", 5) == 5
        assert [c.id for c in s.clicks(iid)] == [good]
        assert [c.id for c in s.draft(iid).clicks] == [good]
        assert any("unknown kind" in w for w in s.warnings) and any("gui.category" in w for w in s.warnings)


def test_size0_image_row_is_repaired_at_open_and_the_draft_saves(tmp_path, image_dir, rng, blob):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    w, h = s.image(iid).width, s.image(iid).height
    s.close()
    _damage(tmp_path / "p.pcproj", "UPDATE images SET width = 0, height = 0")
    with ProjectStore.open(tmp_path / "p.pcproj", read_only=True) as ro:  # viewing cannot repair: it says so
        assert any("no size" in x for x in ro.warnings)
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        assert (s.image(iid).width, s.image(iid).height) == (w, h)
        assert any("repaired" in x for x in s.warnings)
        m = blob(h, w, rng)
        s.save_draft(iid, m)
        assert np.array_equal(s.draft(iid).mask, m)


def test_size0_image_row_that_cannot_be_repaired_gives_a_clear_error(tmp_path, image_dir, rng, blob):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    s.close()
    _damage(tmp_path / "p.pcproj", "UPDATE images SET width = 0, height = 0, path = 'gone.png'")
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        assert any("no size" in x for x in s.warnings)
        with pytest.raises(ProjectError, match="no size in the project"):
            s.save_draft(iid, np.zeros((30, 40), bool))
        with pytest.raises(ProjectError, match="no pixels"):
            s.add_image(image_dir / "b.png", width=0, height=5)


# ------------------------------------------------------------------------------------------ read-only
def test_read_only_open_writes_nothing_and_needs_no_lock(tmp_path, image_dir):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    for _ in range(3):
        s.record_click(iid, 1, 2, True)
    s.close()
    before = _sha(tmp_path / "p.pcproj")
    from pseudoclick_gui.cli import main

    assert main(["export", str(tmp_path / "p.pcproj"), "--coco", str(tmp_path / "o.json"), "--no-progress"]) == 0
    with ProjectStore.open(tmp_path / "p.pcproj", read_only=True) as ro:
        assert ro.stats()["human_clicks"] == 3
        names = {r[0] for r in ro._q("SELECT name FROM sqlite_master")}
    assert "sqlite_stat1" not in names
    assert _sha(tmp_path / "p.pcproj") == before
    with pytest.raises(ProjectError, match="no such project"):
        ProjectStore.open(tmp_path / "none.pcproj", read_only=True)


def test_a_file_that_cannot_be_written_opens_read_only(tmp_path, image_dir, monkeypatch):
    s, iid, cid = _project_with_image(tmp_path, image_dir)
    s.close()
    real = os.access
    monkeypatch.setattr(store_mod.os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        assert s.read_only and "read-only" in s.read_only_reason
        assert s.image(iid).width == 40
        with pytest.raises(ProjectReadOnlyError, match="the project is open read-only"):
            s.record_click(iid, 1, 1, True)
    assert not (tmp_path / "p.pcproj.lock").exists()
