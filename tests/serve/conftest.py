"""Fixtures for the Label Studio backend: one network for the whole run, real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

pytest.importorskip("flask")
waitress = pytest.importorskip("waitress")


@pytest.fixture(scope="session")
def base_session():
    """The shipped network, loaded once (sessions spawned from it share it)."""
    from pseudoclick_gui.engine import Session

    return Session.from_default_checkpoint(device="cpu")


@pytest.fixture(scope="session")
def forwards():
    """Counts forward passes of the network (PseudoClickNet modules) while the test runs: ``forwards()``."""
    import torch

    from pseudoclick_gui.engine import PseudoClickNet

    count = [0]

    def hook(module, args, output):
        if isinstance(module, PseudoClickNet):
            count[0] += 1

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    yield lambda: count[0]
    handle.remove()


def object_image(h: int = 96, w: int = 128, centre=(64, 48), axes=(30, 20), colour=(210, 120, 50)):
    """A dark image with one bright ellipse; returns (rgb, mask)."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(20, 60, (h, w, 3), dtype=np.uint8)
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, centre, axes, 0, 0, 360, 255, -1)
    rgb[m > 0] = colour
    return rgb, m > 0


@pytest.fixture
def image_root(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    rgb, _ = object_image()
    cv2.imwrite(str(root / "obj.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (tmp_path / "secret.txt").write_text("not for you")
    return root


class Server:
    """A real waitress server on 127.0.0.1 in a thread, and a tiny JSON client for it."""

    def __init__(self, app):
        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self.auth: str | None = None
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str, body=None, raw: bytes | None = None, headers=None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=dict(headers or {}))
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(self.auth.encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            text = exc.read()
            return exc.code, json.loads(text)  # every error is JSON: this fails the test otherwise

    def close(self):
        self.server.close()


@pytest.fixture
def make_server(base_session):
    """``make_server(**settings) -> Server`` running the real app on a LocalPool with the shared network."""
    from pseudoclick_gui.serve.app import create_app
    from pseudoclick_gui.serve.pool import LocalPool
    from pseudoclick_gui.serve.predictor import Predictor
    from pseudoclick_gui.serve.settings import ServeSettings

    servers = []

    def make(**overrides):
        settings = ServeSettings(**{"warm_up": False, "torch_threads": 1, **overrides})
        pool = LocalPool(settings, Predictor(settings, base=base_session))
        srv = Server(create_app(settings, pool))
        srv.pool = pool
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.close()
        s.pool.close()
