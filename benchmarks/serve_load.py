"""Many annotators at once against ``pseudoclick serve``: requests/s, p50/p95 latency, errors, peak RSS.

Starts the server on 127.0.0.1 (one process per design compared), generates images with one object each
(kept in a temporary ``--image-root``), and runs K simulated annotators for a bounded time per K. Each annotator
is a robot user sending ``/predict`` bodies as Label Studio does: it clicks the interior point of the largest
error region (positive on a missed part, negative on a false one), keeps the proposed pseudo click when it lies
in a true error of its sign (the kept keypoint goes back in the next context), and moves to a new task after
``--clicks`` clicks or IoU >= 0.9. Traffic goes to 127.0.0.1 only. Prints figures, asserts nothing.

    python benchmarks/serve_load.py [--designs 1,2] [--k 1,4,16] [--seconds 30] [--size 320x240]
                                    [--clicks 5] [--engine-threads 2] [--proposal-rule paper]

A design is the ``--workers`` value: 1 = one server process whose engine queue is served by
``--engine-threads`` threads; N > 1 = N engine processes, tasks routed by id. Peak RSS is the server's
process tree (server + workers), sampled every 0.2 s from /proc (Linux).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from pseudoclick_gui.serve.rle import decode_mask

LABEL_CONFIG = ('<View><Image name="image" value="$image"/><BrushLabels name="tag" toName="image">'
                '<Label value="Obj"/></BrushLabels><KeyPointLabels name="tag2" toName="image" smart="true">'
                '<Label value="Obj" smart="true"/></KeyPointLabels></View>')


def make_images(root: Path, n: int, w: int, h: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (0, 0), 3)
        m = np.zeros((h, w), np.uint8)
        c = (int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h))
        ax = (int(rng.uniform(0.12, 0.3) * w), int(rng.uniform(0.12, 0.3) * h))
        cv2.ellipse(m, c, ax, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        if i % 2:  # a notch: objects that need more than one click
            cv2.circle(m, (c[0] + ax[0] // 2, c[1]), max(3, ax[1] // 3), 0, -1)
        colour = rng.integers(120, 255, 3)
        img[m > 0] = (0.6 * colour + 0.4 * img[m > 0]).astype(np.uint8)
        name = f"obj_{i:03d}.png"
        cv2.imwrite(str(root / name), img)
        out.append((name, m > 0))
    return out


def interior_point(region: np.ndarray) -> tuple[int, int]:
    d = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    r, c = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(c), int(r)


def next_click(mask: np.ndarray, truth: np.ndarray) -> tuple[int, int, bool]:
    fn, fp = truth & ~mask, mask & ~truth
    positive = int(fn.sum()) >= int(fp.sum())
    err = fn if positive else fp
    n, lab, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), 8)
    if n > 1:
        err = lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y = interior_point(err)
    return x, y, positive


def keypoint(x: float, y: float, w: int, h: int, positive: bool, rid: str) -> dict:
    return {"original_width": w, "original_height": h, "image_rotation": 0,
            "value": {"x": (x + 0.5) / w * 100, "y": (y + 0.5) / h * 100, "width": 0.6, "keypointlabels": ["Obj"]},
            "is_positive": positive, "id": rid, "from_name": "tag2", "to_name": "image", "type": "keypointlabels",
            "origin": "manual"}


def post(url: str, body: dict, timeout: float = 300.0) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read()[:200].decode(errors="replace")}
    except (urllib.error.URLError, OSError) as exc:
        return 0, {"error": str(exc)}


class Annotator(threading.Thread):
    def __init__(self, idx: int, url: str, images, w: int, h: int, clicks: int, deadline: float, record):
        super().__init__(daemon=True)
        self.idx, self.url, self.images, self.w, self.h = idx, url, images, w, h
        self.clicks, self.deadline, self.record = clicks, deadline, record

    def run(self) -> None:
        task = 0
        while time.monotonic() < self.deadline:
            task += 1
            name, truth = self.images[(self.idx * 7 + task) % len(self.images)]
            task_id = self.idx * 100000 + task
            mask = np.zeros_like(truth)
            context: list[dict] = []
            for k in range(self.clicks):
                if time.monotonic() >= self.deadline:
                    return
                x, y, pos = next_click(mask, truth) if k else (*interior_point(truth), True)
                context.append(keypoint(x, y, self.w, self.h, pos, f"h{k}"))
                body = {"tasks": [{"id": task_id, "data": {"image": f"/data/local-files/?d={name}"}}],
                        "project": "1.1700000000", "label_config": LABEL_CONFIG,
                        "params": {"login": None, "password": None, "context": {"result": context}}}
                t0 = time.perf_counter()
                status, out = post(self.url + "/predict", body)
                self.record(time.perf_counter() - t0, status)
                if status != 200:
                    break
                regions = out["results"][0]["result"]
                mask = decode_mask(regions[0]["value"]["rle"], self.h, self.w)
                if len(regions) > 1:  # keep the suggestion when it lands in a true error of its sign
                    s = regions[1]
                    px = min(self.w - 1, int(s["value"]["x"] / 100 * self.w))
                    py = min(self.h - 1, int(s["value"]["y"] / 100 * self.h))
                    right = (truth[py, px] and not mask[py, px]) if s["is_positive"] else \
                        (mask[py, px] and not truth[py, px])
                    if right:
                        context.append(s)
                iou = (mask & truth).sum() / max(1, (mask | truth).sum())
                if iou >= 0.9:
                    break


def tree_rss_mb(pid: int) -> float:
    pids, total = [pid], 0
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Latencies and errors from all annotators, and the server's peak RSS sampled every 0.2 s."""

    def __init__(self, pid: int):
        self.pid, self.lat, self.errors, self.lock = pid, [], 0, threading.Lock()
        self.peak = tree_rss_mb(pid)
        self.stop = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def __call__(self, dt: float, status: int) -> None:
        with self.lock:
            self.lat.append(dt)
            self.errors += status != 200

    def _sample(self) -> None:
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, tree_rss_mb(self.pid))

    def close(self) -> None:
        self.stop.set()
        self.sampler.join()


def measure(k: int, workers: int, pid: int, url: str, images, w: int, h: int, args) -> dict:
    rec = Recorder(pid)
    t_start = time.monotonic()
    deadline = t_start + args.seconds
    team = [Annotator(i + 1000 * k, url, images, w, h, args.clicks, deadline, rec) for i in range(k)]
    for a in team:
        a.start()
    for a in team:
        a.join()
    elapsed = time.monotonic() - t_start
    rec.close()
    lat_ms = sorted(x * 1000 for x in rec.lat) or [float("nan")]

    def q(p: float) -> float:
        return lat_ms[min(len(lat_ms) - 1, int(p * len(lat_ms)))]

    n = len(rec.lat)
    return {"workers": workers, "K": k, "requests": n, "req_s": n / elapsed, "p50_ms": q(0.5), "p95_ms": q(0.95),
            "max_ms": lat_ms[-1], "mean_ms": statistics.fmean(lat_ms), "errors": rec.errors,
            "peak_rss_mb": rec.peak, "elapsed_s": elapsed}


def run_design(workers: int, args, root: Path, images, w: int, h: int) -> list[dict]:
    port = free_port()
    cmd = [sys.executable, "-m", "pseudoclick_gui.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--image-root", str(root), "--workers", str(workers), "--engine-threads", str(args.engine_threads),
           "--timeout", str(args.timeout)]
    if args.proposal_rule:
        cmd += ["--proposal-rule", args.proposal_rule]
    log = open(root / f"serve-{workers}.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() - t0 > 300:
            proc.kill()
            raise SystemExit(f"the server did not start; see {root / f'serve-{workers}.log'}")
        time.sleep(0.5)
    print(f"workers={workers}: server up in {time.monotonic() - t0:.1f} s", flush=True)
    rows = []
    try:
        for k in args.k:
            rows.append(measure(k, workers, proc.pid, url, images, w, h, args))
            r = rows[-1]
            print(f"workers={workers} K={k:>2}: {r['requests']:>4} requests in {r['elapsed_s']:5.1f} s = "
                  f"{r['req_s']:5.2f} req/s, p50 {r['p50_ms']:7.0f} ms, p95 {r['p95_ms']:7.0f} ms, "
                  f"max {r['max_ms']:7.0f} ms, errors {r['errors']}, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            print(f"  server metrics: {resp.read().decode()}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--designs", default="1,2", help="--workers values to compare (default 1,2)")
    p.add_argument("--k", default="1,4,16", help="simulated annotators (default 1,4,16)")
    p.add_argument("--seconds", type=float, default=30.0, help="time per K (default 30)")
    p.add_argument("--clicks", type=int, default=5, help="clicks per object at most (default 5)")
    p.add_argument("--size", default="320x240", help="image size WxH (default 320x240)")
    p.add_argument("--images", type=int, default=24)
    p.add_argument("--engine-threads", type=int, default=2)
    p.add_argument("--timeout", type=float, default=120.0, help="the server's per-request timeout")
    p.add_argument("--proposal-rule", choices=("paper",), default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = p.parse_args()
    args.k = [int(x) for x in args.k.split(",")]
    w, h = (int(v) for v in args.size.lower().split("x"))
    print(f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.2f}; images {w}x{h}; "
          f"{args.seconds:g} s per K; at most {args.clicks} clicks per object")
    rows = []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        root = Path(tmp)
        images = make_images(root, args.images, w, h)
        for workers in (int(x) for x in args.designs.split(",")):
            rows += run_design(workers, args, root, images, w, h)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
