import numpy as np
import torch

from pseudoclick_gui.engine.encoding import clicks_tensor, disk_maps
from pseudoclick_gui.engine.zoom import CropTransform, expand_roi, update_roi


def test_disk_maps_have_radius_five_and_separate_signs():
    maps = disk_maps(clicks_tensor([(20, 30, True), (40, 10, False)]), 60, 60)
    assert maps.shape == (1, 2, 60, 60)
    assert int(maps[0, 0].sum()) == 81  # integer points within radius 5
    assert int(maps[0, 1].sum()) == 81
    assert maps[0, 0, 20, 30] == 1 and maps[0, 0, 20, 35] == 1 and maps[0, 0, 20, 36] == 0
    assert maps[0, 1, 40, 10] == 1 and maps[0, 0, 40, 10] == 0


def test_disk_maps_ignore_padding_clicks():
    clicks = torch.tensor([[[5.0, 5.0, 0.0], [10.0, 10.0, 1.0]]])
    maps = disk_maps(clicks, 20, 20)
    assert maps[0, 0, 5, 5] == 0 and maps[0, 0, 10, 10] == 1 and maps[0, 1].sum() == 0


def test_expand_roi_grows_bbox_with_minimum_size_and_clamps():
    mask = np.zeros((1000, 1000), bool)
    mask[400:600, 300:500] = True  # 200 x 200 -> 280 x 280 about (400, 500)
    x0, y0, x1, y1 = expand_roi(mask, [])
    assert (x1 - x0, y1 - y0) == (280, 280)
    assert abs((x0 + x1) / 2 - 400) <= 1 and abs((y0 + y1) / 2 - 500) <= 1
    small = np.zeros((1000, 1000), bool)
    small[10:20, 10:20] = True
    x0, y0, x1, y1 = expand_roi(small, [])
    assert (x0, y0) == (0, 0) and (x1 - x0, y1 - y0) == (200, 200)  # min size, shifted inside the image


def test_update_roi_keeps_window_unless_positive_click_outside():
    mask = np.zeros((1000, 1000), bool)
    mask[400:600, 400:600] = True
    roi = expand_roi(mask, [])
    assert update_roi(roi, mask, [], (500, 500, True)) == roi
    moved = update_roi(roi, mask, [(900, 900)], (900, 900, True))
    assert moved != roi and moved[2] > 900 and moved[3] > 900


def test_crop_transform_inverse_puts_map_back_in_place():
    t = CropTransform.fit((100, 50, 300, 150), 400)
    assert (t.out_w, t.out_h) == (400, 200)
    x, y = t.forward_point(200, 100)
    assert abs(x - 200.5) < 1 and abs(y - 100.5) < 1
    crop = np.ones((200, 400), np.float32)
    full = t.inverse_map(crop, 300, 400)
    assert full.shape == (300, 400)
    assert full[50:150, 100:300].min() == 1 and full.sum() == 200 * 100


def test_forward_image_matches_forward_point():
    img = np.zeros((300, 600, 3), np.uint8)
    img[120:130, 400:410] = 255  # a bright square centred at (404.5, 124.5)
    t = CropTransform.fit((300, 50, 600, 250), 400)
    crop = t.forward_image(img)
    ys, xs = np.nonzero(crop[..., 0] > 127)
    cx, cy = t.forward_point(404.5, 124.5)
    assert abs(xs.mean() - cx) < 1.0 and abs(ys.mean() - cy) < 1.0


def test_windowed_disk_maps_equal_the_dense_definition():
    def dense(clicks, h, w, radius=5.0):
        n, k, _ = clicks.shape
        rows = torch.arange(h).float().view(1, 1, h, 1)
        cols = torch.arange(w).float().view(1, 1, 1, w)
        inside = ((rows - clicks[..., 0].view(n, k, 1, 1)) ** 2 + (cols - clicks[..., 1].view(n, k, 1, 1)) ** 2) <= radius**2
        sign = clicks[..., 2].view(n, k, 1, 1)
        return torch.stack([(inside & (sign > 0)).any(1), (inside & (sign < 0)).any(1)], 1).float()

    g = torch.Generator().manual_seed(0)
    clicks = torch.rand(4, 20, 3, generator=g) * torch.tensor([70.0, 90.0, 1.0])
    clicks[..., 2] = torch.randint(-1, 2, (4, 20), generator=g).float()
    clicks[0, 0] = torch.tensor([-3.0, 2.0, 1.0])  # partly outside the image
    clicks[1, 1] = torch.tensor([69.7, 89.6, -1.0])  # sub-pixel, at the far corner
    assert torch.equal(disk_maps(clicks, 70, 90), dense(clicks, 70, 90))


def test_inverse_planes_match_inverse_map_per_channel():
    t = CropTransform.fit((100, 50, 300, 150), 400)
    crop = np.random.default_rng(0).random((200, 400, 3)).astype(np.float32)
    planes = t.inverse_planes(crop, 300, 400)
    full = t.inverse_map(crop, 300, 400)
    assert len(planes) == 3
    for i, p in enumerate(planes):
        assert p.flags.c_contiguous and p.shape == (300, 400)
        np.testing.assert_array_equal(p, full[..., i])
