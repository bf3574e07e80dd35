"""PseudoClickNet: EfficientNet-Lite0 + click fusion + a segmentation head and an error head in parallel.

Inputs (all N x C x H x W float32, H and W any size: padded internally to a multiple of 32):
  image  : N x 3, RGB in [0, 1]
  maps   : N x 3, [previous mask probability, positive human-click disks, negative human-click disks]
  pseudo : N x 2, [positive pseudo-click disks, negative pseudo-click disks] (zeros when none)
Outputs: dict of logits at input resolution: ``seg`` N x 1, ``err`` N x 2 (channel 0 = FP, 1 = FN).

Design (see models/MODEL.md): the human maps go through RITM's Conv1S (1x1 conv -> LeakyReLU -> 3x3/2 conv,
times a learnable scale starting at 0.05) and are added to the stem output; the pseudo-click maps have their
own encoder of the same shape and are added to the same features (PseudoClick's element-wise merge). An FPN
trunk merges strides 32..4; both heads refine at stride 2 with the stride-2 backbone features and are
upsampled bilinearly to full resolution. The error head also sees the segmentation logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import FEATURE_CHANNELS, EfficientNetLite0, load_imagenet_weights

# Normalisation the EfficientNet-Lite ImageNet weights were trained with: (x * 255 - 127) / 128
INPUT_MEAN = 127.0 / 255.0
INPUT_STD = 128.0 / 255.0


@dataclass
class NetConfig:
    """Architecture hyper-parameters; stored in every checkpoint."""

    fpn_width: int = 64
    head_width: int = 32
    fine_width: int = 16
    click_hidden: int = 16

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def conv_bn_relu(cin: int, cout: int, k: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def sep_conv(cin: int, cout: int) -> nn.Sequential:
    """Depthwise 3x3 + pointwise: cheap on the CPU."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        conv_bn_relu(cin, cout, 1),
    )


class MapsEncoder(nn.Module):
    """RITM Conv1S: click/mask maps -> stem-resolution features, scaled by a learnable factor."""

    def __init__(self, cin: int, hidden: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, hidden, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.conv2 = nn.Conv2d(hidden, cout, 3, stride=2, padding=1)
        self.scale = nn.Parameter(torch.tensor(0.05))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.act(self.conv1(maps))) * self.scale


class Head(nn.Module):
    """Stride-4 trunk features + stride-2 backbone features -> logits at stride 2."""

    def __init__(self, trunk: int, extra_in: int, width: int, fine: int, cout: int):
        super().__init__()
        self.coarse = sep_conv(trunk + extra_in, width)
        self.fine_in = conv_bn_relu(width + FEATURE_CHANNELS[2], fine, 1)
        self.fine = sep_conv(fine, fine)
        self.out = nn.Conv2d(fine, cout, 1)

    def forward(self, trunk4: torch.Tensor, feat2: torch.Tensor, extra4: torch.Tensor | None = None) -> torch.Tensor:
        x = trunk4 if extra4 is None else torch.cat([trunk4, extra4], 1)
        x = self.coarse(x)
        x = F.interpolate(x, size=feat2.shape[-2:], mode="bilinear", align_corners=False)
        x = self.fine(self.fine_in(torch.cat([x, feat2], 1)))
        return self.out(x)


class PseudoClickNet(nn.Module):
    def __init__(self, config: NetConfig | None = None, pretrained_backbone: bool = False):
        super().__init__()
        self.config = config = config or NetConfig()
        self.backbone = EfficientNetLite0()
        if pretrained_backbone:
            load_imagenet_weights(self.backbone)
        stem = EfficientNetLite0.stem_channels
        self.human_encoder = MapsEncoder(3, config.click_hidden, stem)
        self.pseudo_encoder = MapsEncoder(2, config.click_hidden, stem)
        w = config.fpn_width
        self.lateral = nn.ModuleDict({str(s): conv_bn_relu(FEATURE_CHANNELS[s], w) for s in (4, 8, 16, 32)})
        self.smooth = nn.ModuleDict({str(s): sep_conv(w, w) for s in (4, 8, 16)})
        self.seg_head = Head(w, 0, config.head_width, config.fine_width, 1)
        self.err_head = Head(w, 1, config.head_width, config.fine_width, 2)
        self.register_buffer("mean", torch.tensor(INPUT_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(INPUT_STD), persistent=False)

    def forward(self, image: torch.Tensor, maps: torch.Tensor, pseudo: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        h, w = image.shape[-2:]
        ph, pw = (-h) % 32, (-w) % 32
        if ph or pw:
            image = F.pad(image, (0, pw, 0, ph))
            maps = F.pad(maps, (0, pw, 0, ph))
            if pseudo is not None:
                pseudo = F.pad(pseudo, (0, pw, 0, ph))
        if pseudo is None:  # always through the encoder: its bias is part of the "no pseudo click" input
            pseudo = maps.new_zeros((maps.shape[0], 2, *maps.shape[-2:]))
        x = self.backbone.forward_stem((image - self.mean) / self.std)
        x = x + self.human_encoder(maps) + self.pseudo_encoder(pseudo)
        feats = self.backbone.forward_blocks(x)
        top = self.lateral["32"](feats[32])
        for s in (16, 8, 4):
            lat = self.lateral[str(s)](feats[s])
            top = self.smooth[str(s)](lat + F.interpolate(top, size=lat.shape[-2:], mode="bilinear", align_corners=False))
        seg2 = self.seg_head(top, feats[2])
        seg4 = F.avg_pool2d(seg2, 2).detach()
        err2 = self.err_head(top, feats[2], seg4)
        out2 = torch.cat([seg2, err2], 1)
        out = F.interpolate(out2, scale_factor=2, mode="bilinear", align_corners=False)[..., :h, :w]
        return {"seg": out[:, :1], "err": out[:, 1:]}

    def freeze_backbone_bn(self) -> None:
        """Keep the backbone's BatchNorm statistics frozen (small CPU batches); call after ``train()``."""
        for m in self.backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
