"""Where task images may come from: local paths only under the image root, Label Studio URLs with its token,
other hosts only when allowed; sizes bounded. Remote cases use a throwaway HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading

import cv2
import numpy as np
import pytest

from pseudoclick_gui.serve.errors import ServeError
from pseudoclick_gui.serve.images import ImageSource
from pseudoclick_gui.serve.protocol import Tags, parse_context, parse_label_config, to_percent, to_pixels
from pseudoclick_gui.serve.settings import ServeSettings


@pytest.fixture
def png_bytes():
    img = np.zeros((30, 40, 3), np.uint8)
    img[5:20, 10:30] = (0, 0, 255)
    return cv2.imencode(".png", img)[1].tobytes()


@pytest.fixture
def web(png_bytes):
    """127.0.0.1 HTTP server: /img.png, /big.png (too large), /moved (302), /private.png (needs the token)."""
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/img.png")
                self.end_headers()
                return
            if self.path.startswith("/data/upload/") and self.headers.get("Authorization") != "Token t0k":
                self.send_response(401)
                self.end_headers()
                return
            body = png_bytes + (b"\0" * 5000 if self.path == "/big.png" else b"")
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.url, srv.seen = f"http://127.0.0.1:{srv.server_address[1]}", seen
    yield srv
    srv.shutdown()
    srv.server_close()


def status_of(source: ImageSource, ref: str) -> int:
    try:
        source.load(ref)
    except ServeError as exc:
        return exc.status
    return 200


def test_label_studio_uploads_are_fetched_with_its_token_and_no_redirects(web, png_bytes):
    src = ImageSource(ServeSettings.from_env(label_studio_url=web.url + "/", api_key="t0k"))
    assert src.load("/data/upload/3/cat.png").shape == (30, 40, 3)
    assert web.seen[-1] == ("/data/upload/3/cat.png", "Token t0k")
    assert src.load(web.url + "/data/upload/3/cat.png")[10, 20].tolist() == [255, 0, 0]
    assert status_of(src, web.url + "/moved") == 502  # a redirect from Label Studio is not followed
    assert status_of(src, "http://127.0.0.2:9/elsewhere.png") == 403  # another host, not allowed
    no_key = ImageSource(ServeSettings.from_env(label_studio_url=web.url, api_key=""))
    no_key.settings.api_key = None
    assert status_of(no_key, "/data/upload/3/cat.png") == 502  # Label Studio said 401


def test_remote_urls_only_when_allowed_and_bounded(web, png_bytes):
    assert status_of(ImageSource(ServeSettings()), web.url + "/img.png") == 403
    src = ImageSource(ServeSettings(allow_remote=True, max_image_bytes=len(png_bytes) + 100))
    assert src.load(web.url + "/img.png").shape == (30, 40, 3)
    assert status_of(src, web.url + "/big.png") == 413
    assert status_of(ImageSource(ServeSettings(allow_remote=True, max_pixels=1000)), web.url + "/img.png") == 413


def test_local_files_resolve_under_the_root_only(tmp_path, png_bytes):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.png").write_bytes(png_bytes)
    (tmp_path / "outside.png").write_bytes(png_bytes)
    src = ImageSource(ServeSettings.from_env(image_root=root))
    for ok in ("sub/a.png", str(root / "sub" / "a.png"), "/data/local-files/?d=sub/a.png",
               "/data/local-files/?d=sub%2Fa.png", "file://" + str(root / "sub" / "a.png"),
               "http://localhost:8080/data/local-files/?d=sub/a.png"):
        if ok.startswith("http"):
            src.settings.label_studio_url = "http://localhost:8080"
        assert src.load(ok).shape == (30, 40, 3), ok
    for bad in ("../outside.png", "sub/../../outside.png", str(root / "sub" / ".." / ".." / "outside.png"),
                "/data/local-files/?d=../outside.png", "file:///etc/passwd", "/etc/passwd", "C:/Windows/win.ini"):
        assert status_of(src, bad) in (403, 404), bad
    assert status_of(ImageSource(ServeSettings()), str(root / "sub" / "a.png")) == 403  # no root: no files


def test_keypoints_become_engine_clicks_and_back():
    tags = parse_label_config('<View><Image name="img" value="$photo"/><BrushLabels name="b" toName="img">'
                              '<Label value="A"/></BrushLabels><KeyPointLabels name="k" toName="img" smart="true">'
                              '<Label value="A"/><Label value="B"/></KeyPointLabels></View>')
    assert (tags.image, tags.data_key, tags.brush, tags.keypoint, tags.brush_labels) == ("img", "photo", "b", "k", ["A"])

    def kp(x, y, label, positive=True):
        return {"type": "keypointlabels", "original_width": 200, "original_height": 100, "is_positive": positive,
                "value": {"x": x, "y": y, "keypointlabels": [label]}}

    ctx = {"result": [kp(10, 20, "A"), kp(50, 50, "B"), kp(30, 40, "A", False),
                      {"type": "rectanglelabels", "value": {"x": 1, "y": 1, "width": 5, "height": 5}}]}
    it = parse_context(ctx, tags, 200)
    assert it.label == "A" and [p.positive for p in it.points] == [True, False]  # the last label's object
    assert (it.width, it.height, it.brush, it.keypoint) == (200, 100, "b", "k")
    px = to_pixels(it.points, 200, 100)
    assert (px[0].x, px[0].y) == (19.5, 19.5)
    assert to_percent(px[0].x, px[0].y, 200, 100) == pytest.approx((10, 20))
    assert parse_context({"result": []}, Tags(), 200) is None and parse_context(None, Tags(), 200) is None
    with pytest.raises(ServeError):
        parse_context({"result": [kp(10, 20, "A")] * 3}, tags, 2)
