"""The server's settings: one plain dataclass, picklable (worker processes get a copy)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 9090
    #: engine processes; 1 = the engine runs in the server process (a queue served by ``engine_threads``)
    workers: int = 1
    #: concurrent inferences per engine process (each a thread; torch releases the GIL inside its ops)
    engine_threads: int = 2
    #: torch intra-op threads per engine process; None = cores / (workers * engine_threads), at least 1
    torch_threads: int | None = None
    #: local images (plain paths, ``/data/local-files/?d=...``) are read only under this folder
    image_root: Path | None = None
    #: fetch http(s) image URLs other than Label Studio's own
    allow_remote: bool = False
    #: Label Studio's address, for ``/data/upload/...`` images (with ``api_key``)
    label_studio_url: str | None = None
    api_key: str | None = None
    #: ``"user:password"``: every request must carry it as HTTP basic auth
    basic_auth: str | None = None
    max_pixels: int = 40_000_000
    max_image_bytes: int = 64 << 20
    max_request_bytes: int = 16 << 20
    max_clicks: int = 200
    #: seconds a request may wait for its answer (queue included); the work finishes and is cached anyway
    timeout: float = 60.0
    #: requests waiting for an engine before new ones are refused with 503
    max_queue: int = 256
    #: engine sessions kept, per engine process, and their estimated memory budget
    cache_size: int = 64
    cache_mb: int = 2048
    #: a keypoint within this many pixels (or this fraction of the image's longer side, whichever is larger)
    #: of a proposed pseudo click is that pseudo click, kept by the annotator
    match_px: float = 4.0
    match_frac: float = 0.005
    #: None = the checkpoint's proposal rule; "paper" = the paper's rule (no extra network pass)
    proposal_rule: str | None = None
    device: str | None = None
    warm_up: bool = True

    @classmethod
    def from_env(cls, **overrides) -> ServeSettings:
        """Defaults, then ``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY`` and ``PSEUDOCLICK_SERVE_AUTH``
        (``user:password``) from the environment, then ``overrides`` (None values are ignored)."""
        s = cls()
        s.label_studio_url = os.environ.get("LABEL_STUDIO_URL") or None
        s.api_key = os.environ.get("LABEL_STUDIO_API_KEY") or None
        s.basic_auth = os.environ.get("PSEUDOCLICK_SERVE_AUTH") or None
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        if s.image_root is not None:
            s.image_root = Path(s.image_root).expanduser().resolve()
        if s.label_studio_url:
            s.label_studio_url = s.label_studio_url.rstrip("/")
        return s

    def resolved_torch_threads(self) -> int:
        if self.torch_threads:
            return max(1, int(self.torch_threads))
        cores = os.cpu_count() or 1
        return max(1, cores // max(1, self.workers * self.engine_threads))
