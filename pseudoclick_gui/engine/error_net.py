"""A second, small network that looks at the first one's output and says where the mask is wrong.

Why: the main network's error head shares its features with its segmentation head, so at a pixel it calls an
error the segmentation head has already put its best guess; its proposals are right about 40 % of the time
(models/MODEL.md, session 10). Proposals become reliable only with information that pass did not use. This net
gets three kinds: the image crop again (at a coarse grid, seen whole), the network's **mirrored view** (one more
pass on the left-right mirrored inputs) and the clicks, besides the mask and both error maps. It is trained on
robot-user trajectories of the shipped network over the training sets (``training/error_net.py``) to predict the
TRUE false-positive and false-negative maps of the mask at that step; the paper's rule (largest region,
``largest_error_click``) then runs on its maps instead of the error head's.

Everything happens on a fixed ``GRID`` x ``GRID`` resampling of the zoom-in crop, so its cost does not grow with
the photo (a few ms on a CPU); the session maps the click back to image pixels.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

GRID = 96  # the net's input side (the zoom-in crop resampled to GRID x GRID)
# input planes, each scaled to [0, 1]: the crop's colours, the mask, both error maps, the mirrored view, and disks at
# the human and the live pseudo clicks of each sign
PLANES = ("r", "g", "b", "seg", "fp", "fn", "view", "human_pos", "human_neg", "pseudo_pos", "pseudo_neg")
CLICK_RADIUS = 2.5  # grid pixels


def click_planes(clicks: list[tuple[float, float, bool]], h: int, w: int, size: int = GRID) -> np.ndarray:
    """Disks (radius CLICK_RADIUS on the grid) at crop points (x, y, positive) -> 2 x size x size (pos, neg)."""
    out = np.zeros((2, size, size), np.float32)
    ys, xs = np.mgrid[0:size, 0:size]
    for x, y, positive in clicks:
        gx = (x + 0.5) * size / w - 0.5
        gy = (y + 0.5) * size / h - 0.5
        out[0 if positive else 1][(xs - gx) ** 2 + (ys - gy) ** 2 <= CLICK_RADIUS**2] = 1.0
    return out


def build_inputs(image: np.ndarray, maps: np.ndarray, view: np.ndarray, human: list[tuple[float, float, bool]],
                 pseudo: list[tuple[float, float, bool]], size: int = GRID) -> np.ndarray:
    """The net's input (len(PLANES) x size x size float32) from the crop: ``image`` (h x w x 3 uint8), ``maps``
    (h x w x 3 probabilities: mask, fp, fn), ``view`` (h x w, the mirrored view's mask probability) and the
    clicks in crop pixels (x, y, positive)."""
    h, w = maps.shape[:2]

    def rs(a: np.ndarray) -> np.ndarray:
        interp = cv2.INTER_AREA if max(h, w) > size else cv2.INTER_LINEAR
        return cv2.resize(np.ascontiguousarray(a, np.float32), (size, size), interpolation=interp)

    img = rs(image.astype(np.float32) / 255.0).transpose(2, 0, 1)
    m = rs(maps).transpose(2, 0, 1)
    v = rs(view)[None]
    return np.concatenate([img, m, v, click_planes(human, h, w, size), click_planes(pseudo, h, w, size)]).astype(np.float32)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ErrorNet(nn.Module):
    """A small U-Net: PLANES in at GRID, logits of (true FP, true FN) out at GRID. It works at half the grid and
    below (GRID / 2 ... GRID / 16): proposals are regions, not edges, and a CPU trains it in minutes."""

    def __init__(self, width: int = 16, planes: int = len(PLANES)):
        super().__init__()
        w = width
        self.width = width
        self.enc = nn.ModuleList([_block(planes, w, 2), _block(w, 2 * w, 2), _block(2 * w, 4 * w, 2),
                                  _block(4 * w, 4 * w, 2)])
        self.dec = nn.ModuleList([_block(8 * w, 2 * w), _block(4 * w, w), _block(2 * w, w)])
        self.head = nn.Conv2d(w, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        skips = []
        for block in self.enc:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for block in self.dec:
            skip = skips.pop()
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], 1))
        return nn.functional.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)

    def state_for_checkpoint(self) -> dict:
        """fp16 weights (BN statistics fp32) plus the width, for a checkpoint's ``error_net`` entry."""
        state = {k: (v.half() if v.is_floating_point() and "running_" not in k else v).detach().cpu().contiguous()
                 for k, v in self.state_dict().items()}
        return {"width": self.width, "grid": GRID, "planes": list(PLANES), "state_dict": state}

    @classmethod
    def from_checkpoint_entry(cls, entry: dict) -> ErrorNet:
        """The inverse of ``state_for_checkpoint``; ValueError when the entry does not fit."""
        if not isinstance(entry, dict) or "state_dict" not in entry:
            raise ValueError("the error net entry has no weights")
        if list(entry.get("planes", PLANES)) != list(PLANES) or int(entry.get("grid", GRID)) != GRID:
            raise ValueError("the error net was trained on other inputs than this version builds")
        net = cls(int(entry.get("width", 16)))
        try:
            net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in entry["state_dict"].items()})
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"the error net's weights do not fit: {str(e)[:200]}") from None
        return net.eval()

    @torch.inference_mode()
    def predict(self, inputs: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
        """``inputs`` from ``build_inputs`` -> out_h x out_w x 2 probabilities (true FP, true FN) on the crop grid."""
        p = torch.sigmoid(self(torch.from_numpy(inputs)[None]))[0].permute(1, 2, 0).numpy()
        return cv2.resize(np.ascontiguousarray(p), (out_w, out_h), interpolation=cv2.INTER_LINEAR)
