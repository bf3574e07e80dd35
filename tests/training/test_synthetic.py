import random

import cv2
import numpy as np
import torch

from pseudoclick_gui.training.data import ClickSegStream, CropConfig, DatasetSpec
from pseudoclick_gui.training.synthetic import cells, lesion


def _draw(fn, seed, size=128):
    rng, prng = np.random.default_rng(seed), random.Random(seed)
    for _ in range(20):
        out = fn(size, rng, prng)
        if out is not None:
            return out
    raise AssertionError("no usable crop in 20 draws")


def _ring(mask, width):
    dil = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=width).astype(bool)
    return dil & ~mask


def test_a_cell_is_one_region_walled_off_by_a_membrane_from_its_neighbours():
    for seed in range(8):
        img, target, neighbours = _draw(cells, seed)
        assert img.dtype == np.uint8 and img.shape == (128, 128, 3)
        n, _ = cv2.connectedComponents(target.astype(np.uint8), connectivity=4)
        assert n == 2  # background + one piece
        assert neighbours and all(not (o & target).any() for o in neighbours)
        grey = img.astype(np.float32).mean(axis=2)
        ring = _ring(target, 1)  # the wall right outside the cell
        inner = cv2.erode(target.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3).astype(bool)
        # the membrane differs from the cell body (dark in most draws, bright in some)
        assert abs(np.median(grey[ring]) - np.median(grey[inner])) > 10
        near = _ring(target, 8)  # membranes are at most 5 px thick
        assert any((o & near).any() for o in neighbours)  # the distractors are the cells next door


def test_a_lesion_lies_inside_an_organ_that_is_a_distractor():
    for seed in range(8):
        img, target, others = _draw(lesion, seed)
        organ = others[0]
        assert not (organ & target).any()
        assert organ.sum() > 2 * target.sum()
        # mostly surrounded by organ (a blob may touch the organ's edge or another blob)
        held = organ.copy()
        for o in others[1:]:
            held |= o
        assert held[_ring(target, 2)].mean() > 0.4
        grey = img.astype(np.float32).mean(axis=2)
        assert grey[organ].mean() > grey[~(organ | target)].mean() + 30  # the organ stands out of a dark field


def test_synthetic_crops_are_deterministic_and_flow_through_the_stream(tiny_dataset):
    a, b = _draw(cells, 5), _draw(cells, 5)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    spec = [DatasetSpec.parse(str(tiny_dataset))]
    stream = ClickSegStream(spec, CropConfig(size=96, synth_prob=1.0), batch_size=4, seed=1)
    batch = stream.batch(0)
    assert torch.equal(batch["image"], stream.batch(0)["image"])
    assert (batch["gt"] >= 0).all()  # a synthetic crop is valid everywhere
    for i in range(4):
        n_target = int((batch["gt"][i] == 1).sum())
        assert 60 <= n_target < 0.6 * 96 * 96
        pos = batch["clicks"][i][batch["clicks"][i, :, 2] == 1]
        r, c = pos[0, :2].long()
        assert batch["gt"][i, 0, r, c] == 1  # the first positive click is on the target
    # synth_prob 0 keeps the stream as it was: the tiny images' ellipses, not tissue
    plain = ClickSegStream(spec, CropConfig(size=96, synth_prob=0.0), batch_size=4, seed=1).batch(0)
    assert not torch.equal(plain["image"], batch["image"])
