"""Label Studio's brush RLE: the format its brush tool stores masks in, written with numpy.

The format is thi.ng's ``rle-pack`` bit stream over the RGBA bytes of the image, row by row (H x W x 4 values):
a 32-bit value count, 5 bits ``word size - 1``, four 4-bit ``run-length field size - 1``, then chunks. A chunk
starts with one bit: 1 = a run (2-bit field index, ``length - 1`` in that field's width, one value), 0 = a
literal stretch (2-bit index, ``count - 1``, then ``count`` values). The stream is zero-padded to whole bytes and
sent as a list of byte values (0..255). Label Studio reads the alpha channel of every fourth value as the mask.

Every run of a mask's RGBA bytes is at least 4 values long (each pixel repeats its value 4 times), so
:func:`encode_mask` writes runs only, with the field sizes Label Studio's own encoder uses (3, 4, 8, 16 bits).
It is vectorised: a 2048 x 1536 mask encodes in milliseconds.
"""

from __future__ import annotations

import numpy as np

WORD_SIZE = 8
RLE_SIZES = (3, 4, 8, 16)
_MAX_RUN = 1 << 16


def encode_mask(mask: np.ndarray) -> list[int]:
    """``mask``: H x W (bool, or integers where nonzero = inside). Returns the RLE byte list Label Studio's
    ``{"format": "rle", "rle": [...]}`` brush value holds (inside pixels 255 in all four channels)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    flat = (m.reshape(-1) != 0).astype(np.uint8) * 255
    n_pixels = flat.size
    # runs over pixels; each pixel is 4 equal RGBA values, so every run is 4x as long in the value stream
    if n_pixels:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], change))
        lengths = np.diff(np.concatenate((starts, [n_pixels]))) * 4
        values = flat[starts]
        # runs longer than the widest field (2^16 values) are split into full chunks and a remainder
        n_chunks = (lengths + _MAX_RUN - 1) // _MAX_RUN
        values = np.repeat(values, n_chunks)
        chunk_len = np.full(int(n_chunks.sum()), _MAX_RUN, dtype=np.int64)
        last = np.cumsum(n_chunks) - 1
        chunk_len[last] = lengths - (n_chunks - 1) * _MAX_RUN
    else:
        values = np.zeros(0, np.uint8)
        chunk_len = np.zeros(0, np.int64)
    field = np.searchsorted(np.array([1 << s for s in RLE_SIZES]), chunk_len)  # smallest field that holds len-1
    field_bits = np.array(RLE_SIZES, dtype=np.int64)[field]
    # chunk code: 1 | field index (2 bits) | length - 1 (field_bits) | value (8 bits)
    width = 1 + 2 + field_bits + WORD_SIZE
    code = (np.int64(1) << (width - 1)) | (field.astype(np.int64) << (field_bits + WORD_SIZE)) \
        | ((chunk_len - 1) << WORD_SIZE) | values.astype(np.int64)
    header_codes = [4 * n_pixels, WORD_SIZE - 1] + [s - 1 for s in RLE_SIZES]
    header_widths = [32, 5, 4, 4, 4, 4]
    codes = np.concatenate((np.array(header_codes, np.int64), code))
    widths = np.concatenate((np.array(header_widths, np.int64), width))
    offsets = np.concatenate(([0], np.cumsum(widths)[:-1]))
    total = int(widths.sum())
    bits = np.zeros(total + (-total) % 8, dtype=np.uint8)
    for k in range(int(widths.max())):  # bit k (from the most significant) of every code at once
        has = k < widths
        pos = offsets[has] + k
        bits[pos] = (codes[has] >> (widths[has] - 1 - k)) & 1
    return np.packbits(bits).tolist()


def decode_mask(rle: list[int] | bytes, height: int, width: int) -> np.ndarray:
    """The inverse for masks: Label Studio's RLE bytes -> H x W bool (alpha channel > 0). Reads both runs and
    literal stretches, so it also decodes what Label Studio's brush tool writes."""
    data = np.frombuffer(bytes(bytearray(rle)), dtype=np.uint8)
    bits = np.unpackbits(data)
    pos = 0

    def read(n: int) -> int:
        nonlocal pos
        if pos + n > bits.size:
            raise ValueError("RLE stream ends early")
        v = 0
        for b in bits[pos:pos + n]:
            v = (v << 1) | int(b)
        pos += n
        return v

    num = read(32)
    word = read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    if num != height * width * 4:
        raise ValueError(f"RLE holds {num} values, a {width} x {height} RGBA image has {height * width * 4}")
    out = np.zeros(num, dtype=np.uint32)
    i = 0
    while i < num:
        is_run = read(1)
        j = min(num, i + 1 + read(sizes[read(2)]))
        if is_run:
            out[i:j] = read(word)
        else:
            for k in range(i, j):
                out[k] = read(word)
        i = j
    return out.reshape(height, width, 4)[:, :, 3] > 0
