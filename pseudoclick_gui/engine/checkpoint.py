"""Checkpoint files: weights (fp16 allowed) + architecture config + metadata, loaded with
``torch.load(..., weights_only=True)`` so a checkpoint can never run code.

Format: a dict ``{"format": "pseudoclick-gui/1", "config": {...}, "state_dict": {...}, "meta": {...}}``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ..errors import CheckpointError
from .network import NetConfig, PseudoClickNet

FORMAT = "pseudoclick-gui/1"


def save_checkpoint(model: PseudoClickNet, path: str | Path, meta: dict | None = None, fp16: bool = True) -> Path:
    """Write atomically (temp file + rename). fp16 halves the size; BN statistics stay fp32."""
    path = Path(path)
    state = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if fp16 and v.is_floating_point() and "running_" not in k:
            v = v.half()
        state[k] = v.contiguous()
    payload = {"format": FORMAT, "config": model.config.to_dict(), "state_dict": state, "meta": dict(meta or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Load and validate a checkpoint dict; CheckpointError with a clear message on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt zip, pickle with code, truncated file ...
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"{path.name} is not a PseudoClick GUI checkpoint (expected format {FORMAT})")
    return payload


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[PseudoClickNet, dict]:
    """Build the network from a checkpoint. Returns (model in eval mode on ``device``, metadata)."""
    payload = read_checkpoint(path)
    try:
        model = PseudoClickNet(NetConfig.from_dict(payload.get("config", {})))
        state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{Path(path).name} does not fit the network: {str(exc)[:300]}") from None
    meta = dict(payload.get("meta", {}))
    meta.setdefault("path", str(path))
    return model.to(device).eval(), meta
