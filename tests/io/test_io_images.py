import hashlib
import struct
import time
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile, ImageOps

from pseudoclick_gui.errors import ImageLoadError
from pseudoclick_gui.io.images import (
    IMAGE_EXTENSIONS,
    count_pages,
    file_checksum,
    image_size,
    list_images,
    load_image,
    orient_array,
)


def _gradient_rgb(h=40, w=60):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 4 % 256, yy * 6 % 256, (xx + yy) % 256]).astype(np.uint8)


def _save_with_orientation(path, arr, orientation):
    im = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def test_rgb_png_roundtrip(tmp_path):
    arr = _gradient_rgb()
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.rgb.dtype == np.uint8 and img.rgb.shape == (40, 60, 3)
    np.testing.assert_array_equal(img.rgb, arr)
    assert (img.width, img.height, img.channels, img.bit_depth) == (60, 40, 3, 8)
    assert img.warnings == []


@pytest.mark.parametrize("orientation", [1, 2, 3, 4, 5, 6, 7, 8])
def test_orient_array_matches_pil_exif_transpose(tmp_path, orientation):
    arr = _gradient_rgb(30, 50)
    _save_with_orientation(tmp_path / "o.png", arr, orientation)
    with Image.open(tmp_path / "o.png") as im:
        expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(orient_array(arr, orientation), expected)
    img = load_image(tmp_path / "o.png")
    np.testing.assert_array_equal(img.rgb, expected)
    assert image_size(tmp_path / "o.png") == (expected.shape[1], expected.shape[0])


def test_jpeg_exif_rotation_is_honoured(tmp_path):
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :20] = 255  # white band on the left of the stored image
    _save_with_orientation(tmp_path / "r.jpg", arr, 6)  # 6 = display rotated 90 degrees clockwise
    img = load_image(tmp_path / "r.jpg")
    assert (img.width, img.height) == (40, 80)
    assert image_size(tmp_path / "r.jpg") == (40, 80)
    # rotating clockwise moves the stored left band to the top
    assert img.rgb[:20].mean() > 200 and img.rgb[30:].mean() < 50


def test_16bit_grey_png_normalised_and_raw_kept(tmp_path):
    rng = np.random.default_rng(1)
    arr = rng.integers(1000, 3000, size=(50, 70)).astype(np.uint16)
    arr[0, 0] = 65000  # a single hot pixel must not squash the rest (percentile window)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert img.raw.dtype == np.uint16 and img.bit_depth == 16 and img.channels == 1
    np.testing.assert_array_equal(img.raw, arr)
    grey = img.rgb[..., 0]
    assert np.array_equal(grey, img.rgb[..., 1]) and np.array_equal(grey, img.rgb[..., 2])
    assert grey[1:].std() > 40  # spread over the range, not crushed into a few levels
    lo, hi = np.percentile(arr, [0.5, 99.5])
    expected = np.clip((arr.astype(np.float64) - lo) / (hi - lo) * 255, 0, 255)
    assert np.abs(grey.astype(float) - expected).max() <= 1.0


def test_16bit_rgb_png_keeps_16_bits(tmp_path):
    import cv2

    rgb16 = np.zeros((20, 30, 3), np.uint16)
    rgb16[..., 0] = 60000
    rgb16[..., 2] = np.arange(30, dtype=np.uint16)[None, :] * 1000
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    img = load_image(tmp_path / "c16.png")
    assert img.raw.dtype == np.uint16 and img.bit_depth == 16
    np.testing.assert_array_equal(img.raw, rgb16)
    assert img.rgb[..., 0].mean() > img.rgb[..., 1].mean()


def test_16bit_tiff_and_float_tiff(tmp_path):
    arr = (np.arange(64 * 32).reshape(32, 64) * 20).astype(np.uint16)
    tifffile.imwrite(tmp_path / "t16.tif", arr)
    img = load_image(tmp_path / "t16.tif")
    np.testing.assert_array_equal(img.raw, arr)
    assert img.bit_depth == 16 and img.rgb.shape == (32, 64, 3)
    assert img.rgb[..., 0].min() == 0 and img.rgb[..., 0].max() == 255
    f = np.linspace(-1, 1, 32 * 64, dtype=np.float32).reshape(32, 64)
    f[0, 0] = np.nan
    tifffile.imwrite(
        tmp_path / "f.tif", np.dstack([f, f, f]), photometric="rgb"
    )  # float RGB: PIL cannot open it
    img = load_image(tmp_path / "f.tif")
    assert img.raw.dtype == np.float32 and img.raw.shape == (32, 64, 3)
    assert img.rgb[0, 0, 0] == 0 and img.rgb[-1, -1, 0] == 255


def test_rgba_composited_on_black_with_warning(tmp_path):
    arr = np.full((10, 10, 4), 200, np.uint8)
    arr[:, :5, 3] = 0  # left half transparent
    arr[:, 5:, 3] = 255
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.raw.shape == (10, 10, 4) and img.channels == 4
    assert (img.rgb[:, :5] == 0).all() and (img.rgb[:, 5:] == 200).all()
    assert any("alpha" in w for w in img.warnings)
    arr[..., 3] = 255
    Image.fromarray(arr, "RGBA").save(tmp_path / "opaque.png")
    assert load_image(tmp_path / "opaque.png").warnings == []


def test_palette_and_grey_and_bilevel(tmp_path):
    im = Image.fromarray(_gradient_rgb()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    im.save(tmp_path / "p.png")
    expected = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(load_image(tmp_path / "p.png").rgb, expected)
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(grey).save(tmp_path / "g.bmp")
    img = load_image(tmp_path / "g.bmp")
    assert img.channels == 1 and (img.rgb[..., 1] == grey).all()
    Image.fromarray(grey > 127).save(tmp_path / "b.png")
    img = load_image(tmp_path / "b.png")
    assert img.bit_depth == 1 and set(np.unique(img.rgb)) == {0, 255}


def test_multipage_tiff(tmp_path):
    pages = np.stack([np.full((8, 12), v, np.uint8) for v in (10, 20, 30)])
    tifffile.imwrite(tmp_path / "m.tif", pages, photometric="minisblack")
    assert count_pages(tmp_path / "m.tif") == 3
    img = load_image(tmp_path / "m.tif", page=2)
    assert img.n_pages == 3 and img.page == 2 and (img.raw == 30).all()
    with pytest.raises(ImageLoadError, match="page 3"):
        load_image(tmp_path / "m.tif", page=3)


def _jpeg_bytes():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, size=(200, 300, 3), dtype=np.uint8)
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_truncated_jpeg_is_an_error(tmp_path):
    data = _jpeg_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(tmp_path / "t.jpg")


def test_truncated_jpeg_is_an_error_even_if_pil_flag_set(tmp_path, monkeypatch):
    data = _jpeg_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(tmp_path / "t.jpg")
    (tmp_path / "ok.jpg").write_bytes(data)
    assert load_image(tmp_path / "ok.jpg").width == 300


def test_truncated_png_is_an_error(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(
        tmp_path / "a.png"
    )
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageLoadError):
        load_image(tmp_path / "t.png")


@pytest.mark.parametrize(
    "name,content,match",
    [
        ("noise.png", bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8)), "not an image"),
        ("empty.jpg", b"", "empty"),
        ("notes.txt", b"hello world\n" * 10, "not an image"),
    ],
)
def test_bad_files(tmp_path, name, content, match):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageLoadError, match=match):
        load_image(tmp_path / name)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


def _png_header_only(width, height):
    def chunk(kind, payload):
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )


def test_huge_dimensions_fail_fast(tmp_path):
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    t0 = time.perf_counter()
    with pytest.raises(ImageLoadError, match="large"):
        load_image(tmp_path / "bomb.png")
    assert time.perf_counter() - t0 < 2.0


def test_own_pixel_limit(tmp_path):
    Image.fromarray(_gradient_rgb(40, 60)).save(tmp_path / "a.png")
    with pytest.raises(ImageLoadError, match="megapixel"):
        load_image(tmp_path / "a.png", max_pixels=1000)


def test_large_photo_loads(tmp_path):
    arr = np.zeros((4000, 6000, 3), np.uint8)
    arr[::50] = 255
    Image.fromarray(arr).save(tmp_path / "big.jpg", quality=80)
    t0 = time.perf_counter()
    img = load_image(tmp_path / "big.jpg")
    elapsed = time.perf_counter() - t0
    assert (img.width, img.height) == (6000, 4000)
    assert elapsed < 5.0  # generous: the CI machine is slow and busy


def test_checksum_and_listing(tmp_path):
    data = b"abc" * 100_000
    (tmp_path / "x.bin").write_bytes(data)
    assert file_checksum(tmp_path / "x.bin", chunk_size=1000) == hashlib.sha1(data).hexdigest()
    for name in ["img10.png", "img2.PNG", "img1.jpg", "notes.txt", ".hidden.png", "scan.TIFF"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["img1.jpg", "img2.PNG", "img10.png", "scan.TIFF"]
    assert ".png" in IMAGE_EXTENSIONS and ".tiff" in IMAGE_EXTENSIONS
    with pytest.raises(ImageLoadError):
        list_images(tmp_path / "missing")
