"""``--workers 2``: two engine processes; a task always reaches the same one, so its session stays cached."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pseudoclick_gui.serve.errors import ServeError
from pseudoclick_gui.serve.pool import ProcessPool
from pseudoclick_gui.serve.predictor import Job
from pseudoclick_gui.serve.protocol import Interaction, Point
from pseudoclick_gui.serve.settings import ServeSettings


def test_two_worker_processes_route_tasks_and_keep_their_sessions(tmp_path):
    img = np.zeros((64, 80, 3), np.uint8)
    img[16:48, 20:60] = (60, 80, 200)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    pool = ProcessPool(ServeSettings(workers=2, warm_up=False, torch_threads=1, image_root=tmp_path.resolve()))
    try:
        def job(task: int, *points: Point) -> Job:
            return Job(("1", str(task), "a.png", "A"), "a.png", Interaction(list(points), "A", 80, 64, "b", "k", "image"))

        p1, p2 = Point(50.0, 50.0, True, "A", "h1"), Point(30.0, 40.0, True, "A", "h2")
        first = [pool.submit(job(t, p1)) for t in range(4)]
        assert all(f.result(timeout=120)["cache"] == "miss" for f in first)
        again = [pool.submit(job(t, p1, p2)).result(timeout=120) for t in range(4)]
        assert all(r["cache"] == "hit" and r["clicks"]["added"] == 1 for r in again)
        with pytest.raises(ServeError) as err:
            pool.submit(Job(("1", "9", "/etc/passwd", "A"), "/etc/passwd",
                            Interaction([p1], "A", 80, 64, "b", "k", "image"))).result(timeout=120)
        assert err.value.status == 403
        stats = pool.stats()
        assert stats["workers"] == 2 and stats["cache_hits"] == 4 and stats["cache_misses"] == 4
    finally:
        pool.close()
