"""The brush RLE encoder against decoders: ours, and Label Studio's own when its SDK or converter is installed."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from pseudoclick_gui.serve.rle import decode_mask, encode_mask


def masks():
    rng = np.random.default_rng(1)
    yield "1x1 on", np.ones((1, 1), bool)
    yield "1x1 off", np.zeros((1, 1), bool)
    yield "noise", rng.random((37, 53)) > 0.5
    blob = np.zeros((120, 160), bool)
    blob[30:90, 40:150] = True
    yield "blob", blob
    yield "full, one run split in 2^16-value chunks", np.ones((300, 400), bool)
    edge = np.zeros((64, 64), bool)
    edge[:, -1] = True
    edge[-1, :] = True
    yield "edges", edge


@pytest.mark.parametrize("name,mask", list(masks()), ids=[n for n, _ in masks()])
def test_encoded_mask_decodes_to_itself(name, mask):
    rle = encode_mask(mask)
    assert all(isinstance(b, int) and 0 <= b <= 255 for b in rle)
    assert (decode_mask(rle, *mask.shape) == mask).all()


def test_header_says_rgba_value_count_and_label_studio_field_sizes():
    rle = encode_mask(np.zeros((3, 5), bool))
    bits = np.unpackbits(np.array(rle, np.uint8))
    num = int("".join(map(str, bits[:32])), 2)
    word = int("".join(map(str, bits[32:37])), 2) + 1
    sizes = [int("".join(map(str, bits[37 + 4 * i:41 + 4 * i])), 2) + 1 for i in range(4)]
    assert (num, word, sizes) == (3 * 5 * 4, 8, [3, 4, 8, 16])


def test_decoder_reads_literal_stretches_too():
    # hand-written stream: 8 values, word 8, sizes (3, 4, 8, 16); one literal chunk of 4 values then a run of 4
    fields = [(8, 32), (7, 5), (2, 4), (3, 4), (7, 4), (15, 4),
              (0, 1), (0, 2), (3, 3), (0, 8), (0, 8), (0, 8), (255, 8),  # literal: 0 0 0 255 (one pixel, alpha on)
              (1, 1), (0, 2), (3, 3), (0, 8)]  # run of 4 zeros
    bits = "".join(format(v, f"0{w}b") for v, w in fields)
    bits += "0" * (-len(bits) % 8)
    rle = [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]
    assert decode_mask(rle, 1, 2).tolist() == [[True, False]]


def test_wrong_size_is_refused():
    with pytest.raises(ValueError):
        decode_mask(encode_mask(np.zeros((4, 4), bool)), 4, 5)


def _label_studio_brush():
    for name in ("label_studio_sdk.converter.brush", "label_studio_converter.brush"):
        try:
            return importlib.import_module(name)
        except Exception:  # noqa: BLE001 - absent, or its package fails to import: skip below
            continue
    return None


@pytest.mark.parametrize("name,mask", list(masks()), ids=[n for n, _ in masks()])
def test_label_studio_decoder_reads_our_encoding(name, mask):
    brush = _label_studio_brush()
    if brush is None:
        pytest.skip("neither label-studio-sdk nor label-studio-converter is installed")
    h, w = mask.shape
    decoded = brush.decode_rle(encode_mask(mask)).reshape(h, w, 4)
    assert ((decoded[:, :, 3] > 0) == mask).all()
    assert (decode_mask(brush.mask2rle(mask.astype(np.uint8) * 255), h, w) == mask).all()
