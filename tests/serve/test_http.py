"""The server driven over HTTP as Label Studio drives it: its request bodies (``MLApi.make_predictions`` and
``MLApi.setup`` in label_studio/ml/api_connector.py, the smart keypoint context of its interactive mode), a real
waitress server on 127.0.0.1, the shipped network on small images."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

from pseudoclick_gui.serve.rle import decode_mask

W, H = 200, 160  # the task image: a red rectangle on black; one click in it gets a pseudo click proposed

LABEL_CONFIG = """<View>
  <Image name="image" value="$image" zoom="true"/>
  <BrushLabels name="tag" toName="image">
    <Label value="Car" background="#FF0000"/>
    <Label value="Sign" background="#0d14d3"/>
  </BrushLabels>
  <KeyPointLabels name="tag2" toName="image" smart="true">
    <Label value="Car" smart="true" background="#000000" showInline="true"/>
    <Label value="Sign" smart="true" background="#000000" showInline="true"/>
  </KeyPointLabels>
</View>"""

TASK = {  # a task as Label Studio serialises it for the backend
    "id": 7, "data": {"image": "/data/local-files/?d=rect.png"}, "meta": {}, "created_at": "2024-05-01T10:00:00Z",
    "updated_at": "2024-05-01T10:00:00Z", "is_labeled": False, "overlap": 1, "inner_id": 1,
    "total_annotations": 0, "cancelled_annotations": 0, "total_predictions": 0, "comment_count": 0,
    "unresolved_comment_count": 0, "last_comment_updated_at": None, "project": 3, "updated_by": None,
    "file_upload": None, "comment_authors": [], "annotations": [], "predictions": [], "drafts": [],
}


def keypoint(x_px: float, y_px: float, positive: bool = True, label: str = "Car", rid: str = "kp1") -> dict:
    """A smart keypoint as Label Studio puts it into ``params.context.result`` (percent coordinates)."""
    return {"original_width": W, "original_height": H, "image_rotation": 0,
            "value": {"x": (x_px + 0.5) / W * 100, "y": (y_px + 0.5) / H * 100, "width": 0.62,
                      "keypointlabels": [label]},
            "is_positive": positive, "id": rid, "from_name": "tag2", "to_name": "image",
            "type": "keypointlabels", "origin": "manual"}


def predict_body(context_result: list, task: dict | None = None) -> dict:
    return {"tasks": [task or TASK], "model_version": "", "project": "3.1714557600", "label_config": LABEL_CONFIG,
            "params": {"login": None, "password": None, "context": {"result": context_result}}}


@pytest.fixture
def rect_root(tmp_path):
    root = tmp_path / "ls-files"
    root.mkdir()
    img = np.zeros((H, W, 3), np.uint8)
    img[40:120, 50:150] = (200, 80, 60)
    cv2.imwrite(str(root / "rect.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (tmp_path / "outside.png").write_bytes((root / "rect.png").read_bytes())
    return root


def test_health_setup_and_an_interactive_prediction(make_server, rect_root):
    srv = make_server(image_root=rect_root)
    assert srv.request("GET", "/health") == (200, pytest.approx({**srv.request("GET", "/")[1]}))
    status, health = srv.request("GET", "/health")
    assert status == 200 and health["status"] == "UP"
    status, setup = srv.request("POST", "/setup", {"project": "3.1714557600", "schema": LABEL_CONFIG,
                                                   "hostname": "http://localhost:8080", "access_token": "x"})
    assert status == 200 and setup["model_version"]

    # opening a task, before any click: no context, nothing to draw
    assert srv.request("POST", "/predict", {**predict_body([]), "params": {"login": None, "password": None}}) \
        == (200, {"results": [], "model_version": setup["model_version"]})

    status, out = srv.request("POST", "/predict", predict_body([keypoint(100, 80)]))
    assert status == 200
    (pred,) = out["results"]
    brush = pred["result"][0]
    assert brush["type"] == "brushlabels" and brush["from_name"] == "tag" and brush["to_name"] == "image"
    assert brush["value"]["format"] == "rle" and brush["value"]["brushlabels"] == ["Car"]
    assert (brush["original_width"], brush["original_height"]) == (W, H)
    mask = decode_mask(brush["value"]["rle"], H, W)
    truth = np.zeros((H, W), bool)
    truth[40:120, 50:150] = True
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.5 and mask[80, 100]
    pseudo = pred["result"][1]  # this image gets a pseudo click proposed on the first click
    assert pseudo["type"] == "keypointlabels" and pseudo["from_name"] == "tag2"
    assert pseudo["id"].startswith("pseudo-") and "suggestion" in pseudo["meta"]["text"][0]
    assert 0 < pseudo["score"] <= 1 and isinstance(pseudo["is_positive"], bool)
    assert 0 <= pseudo["value"]["x"] <= 100 and pseudo["value"]["keypointlabels"] == ["Car"]


def test_a_new_click_costs_one_step_and_a_kept_suggestion_is_a_pseudo_click(make_server, rect_root, forwards):
    srv = make_server(image_root=rect_root)
    first = [keypoint(100, 80)]
    status, out = srv.request("POST", "/predict", predict_body(first))
    assert status == 200 and out["results"][0]["cache"] == "miss"
    suggestion = out["results"][0]["result"][1]

    # the annotator keeps the suggestion (Label Studio sends the region back) and clicks once more
    kept = copy.deepcopy(suggestion)
    second = first + [kept, keypoint(60, 50, rid="kp2")]
    n0 = forwards()
    status, out = srv.request("POST", "/predict", predict_body(second))
    extend_passes = forwards() - n0
    assert status == 200
    res = out["results"][0]
    assert res["cache"] == "hit"
    assert res["clicks"] == {"human": 2, "pseudo": 1, "added": 2, "undone": 0}

    # one more click: only it goes through the network
    third = second + [keypoint(140, 110, rid="kp3")]
    n0 = forwards()
    status, out = srv.request("POST", "/predict", predict_body(third))
    one_click_passes = forwards() - n0
    assert out["results"][0]["clicks"] == {"human": 3, "pseudo": 1, "added": 1, "undone": 0}

    # the same clicks on a task the server has not seen: a replay of all four
    other = {**TASK, "id": 8}
    n0 = forwards()
    status, out = srv.request("POST", "/predict", predict_body(third, other))
    replay_passes = forwards() - n0
    assert out["results"][0]["cache"] == "miss"
    assert out["results"][0]["clicks"] == {"human": 3, "pseudo": 1, "added": 4, "undone": 0}
    assert one_click_passes < replay_passes and extend_passes < replay_passes
    assert replay_passes - one_click_passes >= 3  # the three clicks the cache spared, one pass each

    # deleting the last keypoint undoes it without a network pass for it
    status, out = srv.request("POST", "/predict", predict_body(second))
    assert out["results"][0]["clicks"] == {"human": 2, "pseudo": 1, "added": 0, "undone": 1}

    _, metrics = srv.request("GET", "/metrics")
    assert metrics["cache_hits"] == 3 and metrics["cache_misses"] == 2 and metrics["pseudo_kept"] == 2


def test_a_click_placed_on_the_suggestion_is_the_pseudo_click(make_server, rect_root):
    srv = make_server(image_root=rect_root)
    _, out = srv.request("POST", "/predict", predict_body([keypoint(100, 80)]))
    s = out["results"][0]["result"][1]
    x = s["value"]["x"] / 100 * W - 0.5 + 1.0  # one pixel off, placed by hand with a new region id
    y = s["value"]["y"] / 100 * H - 0.5
    again = [keypoint(100, 80), keypoint(x, y, positive=s["is_positive"], rid="hand")]
    _, out = srv.request("POST", "/predict", predict_body(again))
    assert out["results"][0]["clicks"]["pseudo"] == 1 and out["results"][0]["clicks"]["human"] == 1


def test_bad_requests_get_json_errors_and_the_server_keeps_serving(make_server, rect_root, tmp_path):
    srv = make_server(image_root=rect_root, max_request_bytes=200_000, max_pixels=35_000)
    big = np.zeros((200, 200, 3), np.uint8)  # 40,000 pixels: above this server's 35,000 (the task image has 32,000)
    cv2.imwrite(str(rect_root / "big.png"), big)
    (rect_root / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (rect_root / "escape.png").symlink_to(tmp_path / "outside.png")
    kp = [keypoint(5, 5)]

    def with_image(ref):
        return predict_body(kp, {**TASK, "id": hash(ref) % 1000, "data": {"image": ref}})

    cases = [
        (srv.request("POST", "/predict", raw=b"{not json"), 400),
        (srv.request("POST", "/predict", raw=b"[1, 2]"), 400),
        (srv.request("POST", "/predict", {"tasks": []}), 400),
        (srv.request("POST", "/predict", predict_body(kp, {"id": 1})), 400),  # a task without data
        (srv.request("POST", "/predict", predict_body(kp, {"id": 1, "data": {"text": "x"}})), 400),
        (srv.request("POST", "/predict", with_image("/etc/passwd")), 403),
        (srv.request("POST", "/predict", with_image("../../etc/passwd")), 403),
        (srv.request("POST", "/predict", with_image("/data/local-files/?d=../outside.png")), 403),
        (srv.request("POST", "/predict", with_image("/data/local-files/?d=escape.png")), 403),
        (srv.request("POST", "/predict", with_image(str(tmp_path / "outside.png"))), 403),
        (srv.request("POST", "/predict", with_image("missing.png")), 404),
        (srv.request("POST", "/predict", with_image("https://example.com/cat.jpg")), 403),
        (srv.request("POST", "/predict", with_image("s3://bucket/cat.jpg")), 403),
        (srv.request("POST", "/predict", with_image("/data/upload/3/cat.jpg")), 403),  # no Label Studio URL set
        (srv.request("POST", "/predict", with_image("big.png")), 413),
        (srv.request("POST", "/predict", with_image("garbage.png")), 422),
        (srv.request("POST", "/predict", raw=b"{" + b" " * 300_000 + b"}"), 413),
        (srv.request("POST", "/predict", predict_body([{**keypoint(5, 5), "value": {"x": "left"}}])), 400),
        (srv.request("POST", "/predict", predict_body([{**keypoint(5, 5), "value": {"x": 250, "y": 3}}])), 400),
        (srv.request("POST", "/predict", {**predict_body(kp), "label_config": "<View><Image"}), 400),
        (srv.request("GET", "/nowhere"), 404),
        (srv.request("GET", "/predict"), 405),
    ]
    for i, ((status, body), expected) in enumerate(cases):
        assert status == expected, (i, status, body)
        assert set(body) == {"error", "status"} and body["status"] == expected, (i, body)
        assert "Traceback" not in body["error"] and str(rect_root) not in body["error"], (i, body)
    status, out = srv.request("POST", "/predict", predict_body([keypoint(100, 80)]))
    assert status == 200 and out["results"][0]["result"][0]["type"] == "brushlabels"


def test_basic_auth_when_set(make_server, rect_root):
    srv = make_server(image_root=rect_root, basic_auth="ls:s3cret")
    status, body = srv.request("GET", "/health")
    assert status == 401 and "authentication" in body["error"]
    srv.auth = "ls:wrong"
    assert srv.request("POST", "/predict", predict_body([keypoint(100, 80)]))[0] == 401
    srv.auth = "ls:s3cret"
    assert srv.request("GET", "/health")[0] == 200


def test_a_slow_answer_times_out_as_json_and_is_ready_next_time(make_server, rect_root):
    srv = make_server(image_root=rect_root, timeout=0.001)
    status, body = srv.request("POST", "/predict", predict_body([keypoint(100, 80)]))
    assert status == 504 and "busy" in body["error"]
    srv.pool.settings.timeout = 60.0  # the same server, patient again: the work was finished and cached
    import time

    deadline = time.time() + 60
    while srv.pool.stats().get("requests", 0) < 1 and time.time() < deadline:
        time.sleep(0.05)
    status, out = srv.request("POST", "/predict", predict_body([keypoint(100, 80)]))
    assert status == 200 and out["results"][0]["cache"] == "hit"
    assert out["results"][0]["clicks"]["added"] == 0
