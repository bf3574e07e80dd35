import numpy as np
import pycocotools.mask as pm
import pytest

from pseudoclick_gui.errors import ProjectError
from pseudoclick_gui.project import rle


def _coco_encode(m):
    return pm.encode(np.asfortranarray(m.astype(np.uint8)))


def _cases(rng, blob_mask):
    yield np.zeros((1, 1), bool)
    yield np.ones((1, 1), bool)
    yield np.zeros((7, 13), bool)
    yield np.ones((13, 7), bool)
    m = np.zeros((5, 9), bool)
    m[0, 0] = m[-1, -1] = True
    yield m
    for h, w in [(17, 31), (64, 48), (1, 97), (97, 1), (123, 77)]:
        yield blob_mask(h, w, rng, holes=True, parts=3)
        yield rng.random((h, w)) < 0.5  # many short runs
    big = np.zeros((400, 300), bool)
    big[10:390, 5:295] = True  # long runs: counts needing several 5-bit groups, negative deltas
    big[200, :] = False
    yield big


def test_encode_matches_pycocotools_bytes_and_decodes_both_ways(rng, blob):
    for m in _cases(rng, blob):
        ours = rle.encode(m)
        ref = _coco_encode(m)
        assert ours["size"] == list(ref["size"])
        assert ours["counts"].encode() == ref["counts"]
        # ours -> pycocotools, pycocotools -> ours
        assert np.array_equal(pm.decode({"size": ours["size"], "counts": ours["counts"].encode()}).astype(bool), m)
        assert np.array_equal(rle.decode(ref), m)
        assert rle.area(ours) == int(pm.area(ref)) == int(m.sum())
        assert rle.bbox(ours) == [int(v) for v in pm.toBbox(ref)] == rle.mask_bbox(m)


def test_uncompressed_counts_and_string_round_trip(rng, blob):
    m = blob(50, 60, rng, holes=True, parts=2)
    counts = rle.mask_counts(m)
    assert counts.sum() == m.size
    assert np.array_equal(rle.decode({"size": [50, 60], "counts": counts.tolist()}), m)
    assert np.array_equal(rle.string_to_counts(rle.counts_to_string(counts)), counts)
    # pycocotools' own uncompressed RLE object decodes with ours
    fr = pm.frPyObjects({"size": [50, 60], "counts": counts.tolist()}, 50, 60)
    assert np.array_equal(rle.decode(fr), m)


def test_mask_starting_with_foreground_has_leading_zero_count():
    m = np.zeros((3, 3), bool)
    m[0, 0] = True
    assert rle.mask_counts(m)[0] == 0


def test_corrupt_rle_is_a_project_error():
    with pytest.raises(ProjectError):
        rle.decode({"size": [4, 4], "counts": [3, 3]})  # sums to 6, not 16
    with pytest.raises(ProjectError):
        rle.decode({"size": [4, 4], "counts": "\x7f"})
    with pytest.raises(ProjectError):
        rle.encode(np.zeros((2, 2, 2), bool))
