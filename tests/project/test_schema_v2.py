"""Schema 2: click kind 'propagated' (counted apart from human clicks), the draft's seed mask, and the in-place
migration of schema-1 files (built here from the frozen schema-1 DDL, no binary fixture)."""

import sqlite3

import numpy as np
import pytest

from pseudoclick_gui.errors import ProjectError
from pseudoclick_gui.project import ProjectStore, rle
from pseudoclick_gui.project import store as store_mod

# The schema-1 DDL exactly as PseudoClick 1 wrote it (frozen copy: files in the wild have this schema).
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE volumes (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, kind TEXT NOT NULL DEFAULT 'volume',
    shape TEXT NOT NULL, affine TEXT, series_uid TEXT, added REAL NOT NULL
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, checksum TEXT,
    status TEXT NOT NULL DEFAULT 'untouched' CHECK (status IN ('untouched', 'in_progress', 'done')),
    volume_id INTEGER REFERENCES volumes(id) ON DELETE CASCADE,
    axis TEXT CHECK (axis IS NULL OR axis IN ('axial', 'coronal', 'sagittal')),
    slice_index INTEGER, added REAL NOT NULL, updated REAL NOT NULL,
    CHECK ((volume_id IS NULL) = (axis IS NULL) AND (axis IS NULL) = (slice_index IS NULL))
);
CREATE UNIQUE INDEX images_key ON images (path, IFNULL(axis, ''), IFNULL(slice_index, -1));
CREATE INDEX images_volume ON images (volume_id, axis, slice_index);
CREATE TABLE categories (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, color TEXT NOT NULL, supercategory TEXT NOT NULL DEFAULT ''
);
CREATE TABLE instances (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    rle TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL, area INTEGER NOT NULL,
    bbox_x INTEGER NOT NULL, bbox_y INTEGER NOT NULL, bbox_w INTEGER NOT NULL, bbox_h INTEGER NOT NULL,
    source TEXT NOT NULL DEFAULT 'interactive', hidden INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE INDEX instances_image ON instances (image_id, deleted);
CREATE INDEX instances_category ON instances (category_id);
CREATE TABLE clicks (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    instance_id INTEGER REFERENCES instances(id) ON DELETE CASCADE,
    x REAL NOT NULL, y REAL NOT NULL, positive INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('human', 'pseudo_accepted', 'pseudo_withdrawn')),
    confidence REAL NOT NULL DEFAULT 1.0, time REAL NOT NULL, undone INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX clicks_image ON clicks (image_id, instance_id);
CREATE INDEX clicks_instance ON clicks (instance_id);
CREATE TABLE drafts (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    rle TEXT, height INTEGER, width INTEGER,
    instance_id INTEGER REFERENCES instances(id) ON DELETE SET NULL,
    updated REAL NOT NULL
);
"""

H, W = 20, 30


def _disk(cy, cx, r):
    yy, xx = np.mgrid[:H, :W]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


# clicks of the v1 file: (image_id, instance_id, x, y, positive, kind, confidence, undone)
V1_CLICKS = [
    (1, 1, 5.0, 6.0, 1, "human", 1.0, 0),
    (1, 1, 7.5, 8.0, 1, "pseudo_accepted", 0.8, 0),
    (1, 1, 9.0, 9.0, 0, "pseudo_withdrawn", 0.6, 0),
    (1, None, 12.0, 4.0, 1, "human", 1.0, 0),  # the draft
    (1, None, 13.0, 4.0, 0, "human", 1.0, 1),  # undone draft click
    (2, None, 3.0, 3.0, 1, "human", 1.0, 0),
]


def make_v1_project(path):
    """A schema-1 project file with two images, a category, an instance, clicks of every v1 kind, two drafts
    (one re-opening the instance) and settings."""
    inst_mask, draft_mask = _disk(8, 8, 4), _disk(5, 14, 3)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript("BEGIN;" + V1_DDL + "COMMIT;")
    conn.execute(f"PRAGMA application_id = {store_mod.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO meta VALUES ('created', '1.0'), ('created_by', '\"0.1\"')")
    conn.execute("INSERT INTO settings VALUES ('gui.category', '1')")
    for i in (1, 2):
        conn.execute(
            "INSERT INTO images (id, path, width, height, status, added, updated) VALUES (?, ?, ?, ?, ?, 0, 0)",
            (i, f"img{i}.png", W, H, "in_progress"),
        )
    conn.execute("INSERT INTO categories VALUES (1, 'cell', '#ff0000', '')")
    x, y, w, h = rle.mask_bbox(inst_mask)
    conn.execute(
        "INSERT INTO instances (id, image_id, category_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h,"
        " created, updated) VALUES (1, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)",
        (rle.encode(inst_mask)["counts"], H, W, int(inst_mask.sum()), x, y, w, h),
    )
    for n, c in enumerate(V1_CLICKS, 1):
        conn.execute(
            "INSERT INTO clicks (id, image_id, instance_id, x, y, positive, kind, confidence, time, undone)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (10 * n, *c[:7], 100.0 + n, c[7]),
        )
    conn.execute("INSERT INTO drafts VALUES (1, ?, ?, ?, NULL, 5.0)", (rle.encode(draft_mask)["counts"], H, W))
    conn.execute("INSERT INTO drafts VALUES (2, NULL, NULL, NULL, 1, 6.0)")
    conn.close()
    return inst_mask, draft_mask


def _dump(path):
    """Every table's rows (except the drafts' new column), for before/after comparisons."""
    conn = sqlite3.connect(path)
    out = {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
        for t in ("meta", "settings", "images", "categories", "instances", "clicks")
    }
    out["drafts"] = conn.execute(
        "SELECT image_id, rle, height, width, instance_id, updated FROM drafts ORDER BY 1"
    ).fetchall()
    out["version"] = conn.execute("PRAGMA user_version").fetchone()[0]
    out["clicks_sql"] = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'clicks'").fetchone()[0]
    out["drafts_cols"] = [r[1] for r in conn.execute("PRAGMA table_info(drafts)")]
    out["indexes"] = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'"))
    conn.close()
    return out


def test_frozen_v1_ddl_builds_the_same_tables_as_the_store_migration_1():
    """The frozen copy above describes what ``_MIGRATIONS[1]`` creates (old migrations are never edited)."""

    def columns(conn):
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {t: [r[1:] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        out["indexes"] = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'"))
        return out

    a, b = sqlite3.connect(":memory:"), sqlite3.connect(":memory:")
    a.executescript(V1_DDL)
    b.executescript(store_mod._MIGRATIONS[1])
    assert columns(a) == columns(b)


def test_v1_file_is_upgraded_in_place_with_its_data(tmp_path):
    p = tmp_path / "old.pcproj"
    inst_mask, draft_mask = make_v1_project(p)
    before = _dump(p)
    assert before["version"] == 1 and "seed_rle" not in before["drafts_cols"]
    with ProjectStore.open(p) as s:
        assert s.schema_version == store_mod.SCHEMA_VERSION == 2
        assert s.integrity_check() == "ok"
        # records read back through the API
        assert [(c.id, c.image_id, c.instance_id, c.x, c.y, c.positive, c.kind, c.confidence, c.undone)
                for c in s.clicks(include_undone=True)] == [
            (10 * n, *c[:4], bool(c[4]), c[5], c[6], bool(c[7])) for n, c in enumerate(V1_CLICKS, 1)
        ]  # fmt: skip
        assert np.array_equal(s.instance_mask(1), inst_mask)
        d = s.draft(1)
        assert np.array_equal(d.mask, draft_mask) and d.seed is None and d.instance_id is None
        assert [c.id for c in d.clicks] == [40]
        assert s.draft(2).instance_id == 1 and s.draft(2).seed is None
        assert s.get_setting("gui.category") == 1 and s.meta()["created"] == 1.0
        st = s.stats()
        assert (st["human_clicks"], st["pseudo_accepted"], st["pseudo_withdrawn"], st["propagated_clicks"]) == (3, 1, 1, 0)
        # the new kind and the seed work on the upgraded file, ids go on after the old ones
        cid = s.record_click(2, 4, 4, True, kind="propagated")
        assert cid > 60
        s.save_draft(2, None, instance_id=1, seed=inst_mask)
        assert np.array_equal(s.draft(2).seed, inst_mask)
        # the rebuilt clicks table keeps its foreign keys: removing an image takes its clicks
        s.remove_image(2)
        assert s.clicks(2, include_undone=True) == [] and len(s.clicks(1, include_undone=True)) == 5
    after = _dump(p)
    assert after["version"] == 2
    for table in ("meta", "settings", "categories", "instances"):
        assert after[table] == before[table], table
    assert after["clicks"] == [r for r in before["clicks"] if r[1] == 1]
    assert after["drafts"] == [r for r in before["drafts"] if r[0] == 1]
    assert after["images"] == before["images"][:1]
    assert "'propagated'" in after["clicks_sql"] and "'propagated'" not in before["clicks_sql"]
    assert after["drafts_cols"] == before["drafts_cols"] + ["seed_rle"]
    assert after["indexes"] == before["indexes"]  # the clicks indexes were re-created
    with ProjectStore.open(p) as s:  # a second open finds version 2 and migrates nothing
        assert s.schema_version == 2 and len(s.clicks(include_undone=True)) == 5


def test_a_failing_migration_leaves_the_v1_file_untouched(tmp_path, monkeypatch):
    p = tmp_path / "old.pcproj"
    make_v1_project(p)
    before = _dump(p)
    # the v2 step fails at its very end, after the clicks table was dropped and rebuilt in the transaction
    monkeypatch.setitem(store_mod._MIGRATIONS, 2, store_mod._MIGRATIONS[2] + "\nSELECT no_such_function();\n")
    with pytest.raises(ProjectError):
        ProjectStore.open(p)
    assert _dump(p) == before  # still schema 1, same rows, same tables
    monkeypatch.undo()
    with ProjectStore.open(p) as s:
        assert s.schema_version == 2 and len(s.clicks(include_undone=True)) == len(V1_CLICKS)


def test_propagated_clicks_are_stored_and_counted_apart_from_human_clicks(store, image_dir):
    img = store.add_image(image_dir / "a.png")
    cat = store.add_category("obj")
    ids = [store.record_click(img, 5, 5, pos, kind="propagated") for pos in (True, True, False)]
    store.record_click(img, 8, 8, True)  # a correction by the user
    store.record_click(img, 9, 9, True, kind="pseudo_accepted", confidence=0.9)
    store.delete_click(ids[1])  # undone: counts nowhere
    assert [c.kind for c in store.draft(img).clicks] == ["propagated", "propagated", "human", "pseudo_accepted"]
    store.add_instance(img, np.ones((30, 40), bool), cat)
    path = store.path
    store.close()
    with ProjectStore.open(path) as s:
        st = s.stats()
        assert st["human_clicks"] == 1 and st["human_positive_clicks"] == 1 and st["human_negative_clicks"] == 0
        assert st["propagated_clicks"] == 2
        assert st["pseudo_accepted"] == st["human_clicks_saved"] == 1
        assert st["clicks_per_instance"] == 2.0  # human + accepted: the user's effort
        s.set_click_kind(ids[0], "human")
        assert (s.stats()["human_clicks"], s.stats()["propagated_clicks"]) == (2, 1)
        with pytest.raises(ProjectError):
            s.set_click_kind(ids[0], "automatic")


def test_draft_seed_round_trip_keep_replace_clear(store, image_dir, rng, blob):
    img = store.add_image(image_dir / "a.png")  # 40 x 30
    other = store.add_image(image_dir / "b.png")
    cat = store.add_category("obj")
    seed, m1, m2 = blob(30, 40, rng), blob(30, 40, rng), blob(30, 40, rng)
    store.record_click(img, 5, 5, True, kind="propagated")
    store.save_draft(img, seed, seed=seed)
    store.save_draft(img, m1)  # a new prediction: the seed stays
    path = store.path
    store.close()
    store = ProjectStore.open(path)
    d = store.draft(img)
    assert np.array_equal(d.seed, seed) and np.array_equal(d.mask, m1) and d.seed.dtype == bool
    assert store.draft(other) is None
    store.save_draft(img, m2, seed=m1)  # replaced
    assert np.array_equal(store.draft(img).seed, m1)
    store.save_draft(img, m2, seed=None)  # removed
    assert store.draft(img).seed is None and np.array_equal(store.draft(img).mask, m2)
    store.save_draft(img, None, seed=seed)  # a seed without a mask yet
    assert store.draft(img).mask is None and np.array_equal(store.draft(img).seed, seed)
    with pytest.raises(ProjectError, match="does not match"):
        store.save_draft(img, None, seed=np.ones((5, 5), bool))
    assert np.array_equal(store.draft(img).seed, seed)  # the refused call changed nothing
    # Esc: the draft goes, seed included; the next draft of this image starts without one
    store.clear_draft(img)
    store.record_click(img, 6, 6, True)
    store.save_draft(img, m1)
    assert store.draft(img).seed is None
    # finishing (the draft attached to the instance) drops the seed too
    store.save_draft(img, m1, seed=seed)
    inst = store.add_instance(img, m1, cat)
    assert store.draft(img) is None
    store.save_draft(img, m2, instance_id=inst)
    assert store.draft(img).seed is None
    # the same when a re-opened instance is finished
    store.save_draft(img, m2, instance_id=inst, seed=m1)
    store.update_instance_mask(inst, m2)
    assert store.draft(img) is None
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM drafts WHERE seed_rle IS NOT NULL").fetchone()[0] == 0
    conn.close()
