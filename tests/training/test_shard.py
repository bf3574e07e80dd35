"""The shard a lent GPU trains on: downsized copies of the training sets in the shared layout, within a size
budget, that the training stream reads as it reads the originals."""

import json

import cv2

from pseudoclick_gui.training.data import ClickSegStream, CropConfig, DatasetSpec, read_instances
from pseudoclick_gui.training.shard import build


def test_a_shard_holds_downsized_sets_the_training_stream_reads(tiny_dataset, tmp_path):
    out = tmp_path / "shard"
    m = build(out, [f"{tiny_dataset}:2.0:min_area=10"], max_mib=1.0, side=64, log=lambda s: None)
    (entry,) = m["sets"]
    assert entry["spec"] == "tiny:2.0:min_area=10" and entry["images"] == entry["of"] == 4
    assert json.loads((out / "manifest.json").read_text()) == m
    spec = DatasetSpec.parse(f"{out}/{entry['spec']}")
    inst = read_instances(spec)
    assert len(inst) == entry["instances"] == 6  # every object of the 4 images
    img = cv2.imread(str(inst[0].image))
    mask = cv2.imread(str(inst[0].mask), cv2.IMREAD_GRAYSCALE)
    assert max(img.shape[:2]) == 64 and img.shape[:2] == mask.shape and set(mask.ravel()) <= {0, 255}
    batch = ClickSegStream([spec], CropConfig(size=32), 2, seed=0).batch(0)
    assert batch["image"].shape[-2:] == (32, 32)
    # the size budget: a smaller one takes fewer images
    small = build(tmp_path / "small", [str(tiny_dataset)], max_mib=0.003, side=64, log=lambda s: None)
    assert 1 <= small["sets"][0]["images"] < 4
