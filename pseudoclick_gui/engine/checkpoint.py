"""Checkpoint files: weights (fp16 allowed) + architecture config + metadata, loaded with
``torch.load(..., weights_only=True)`` so a checkpoint can never run code.

Format: a dict ``{"format": "pseudoclick-gui/1", "config": {...}, "state_dict": {...}, "meta": {...}}``.
"""

from __future__ import annotations

import os
import re
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
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the usual mode of a new file, not mkstemp's private 0600
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
        # torch's message is long, multi-line and ends in advice about trusting the file: keep its first line
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", str(exc)).strip()  # no terminal colour codes
        first = text.splitlines()[0] if text else ""
        raise CheckpointError(f"{path.name} is not a readable checkpoint ({type(exc).__name__}: {first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"{path.name} is not a PseudoClick GUI checkpoint (expected format {FORMAT})")
    return payload


MAX_WIDTH = 1024  # the widest decoder a checkpoint may ask for (the shipped one: 64)


def _net_config(config) -> NetConfig:
    """The architecture a checkpoint asks for, checked before anything is built: a dict of small positive ints."""
    if not isinstance(config, dict):
        raise CheckpointError(f"the checkpoint's config is a {type(config).__name__}, not a dict")
    for key, value in config.items():
        if key in NetConfig.__dataclass_fields__ and (
                isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WIDTH):
            raise CheckpointError(f"the checkpoint's config has {key}={value!r}: a whole number 1..{MAX_WIDTH} is needed")
    return NetConfig.from_dict(config)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[PseudoClickNet, dict]:
    """Build the network from a checkpoint. Returns (model in eval mode on ``device``, metadata).
    CheckpointError for a bad config or metadata, weights that do not fit, or weights that are not finite."""
    payload = read_checkpoint(path)
    name = Path(path).name
    meta = payload.get("meta", {})
    if not isinstance(meta, dict):
        raise CheckpointError(f"{name}: the checkpoint's metadata is a {type(meta).__name__}, not a dict")
    try:
        config = _net_config(payload.get("config", {}))
    except CheckpointError as exc:
        raise CheckpointError(f"{name}: {exc}") from None
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{name}: its weights are not a table of tensors")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{name}: {len(bad)} weight tensors hold NaN or infinite values (e.g. {bad[0]}); "
                              "the file is broken")
    try:
        model = PseudoClickNet(config)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{name} does not fit the network: {str(exc)[:300]}") from None
    meta = dict(meta)
    meta.setdefault("path", str(path))
    return model.to(device).eval(), meta
