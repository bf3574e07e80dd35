import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from pseudoclick_gui.project import ProjectStore

CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from pseudoclick_gui.project import ProjectStore

    store = ProjectStore.open(sys.argv[1])
    img = store.add_image(None, volume_id=store.add_volume(sys.argv[1] + ".vol", kind="test", shape=(64, 64, 4)),
                          axis="axial", slice_index=0)
    cat = store.add_category("obj")
    print("ready", img, flush=True)
    i = 0
    while True:
        i += 1
        c = store.record_click(img, i % 64, (i * 7) % 64, i % 3 != 0)
        print("click", c, flush=True)
        m = np.zeros((64, 64), bool)
        m[i % 50 : i % 50 + 10, (i * 3) % 50 : (i * 3) % 50 + 12] = True
        store.save_draft(img, m)
        if i % 4 == 0:
            inst = store.add_instance(img, m, cat)
            print("instance", inst, i % 50, (i * 3) % 50, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_run_keeps_every_reported_commit(tmp_path):
    path = tmp_path / "crash.pcproj"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    clicks, instances = [], {}
    deadline = time.monotonic() + 60
    try:
        first = proc.stdout.readline().split()
        assert first and first[0] == "ready", first
        while len(clicks) < 120 and time.monotonic() < deadline:
            parts = proc.stdout.readline().split()
            if not parts:
                break
            if parts[0] == "click":
                clicks.append(int(parts[1]))
            elif parts[0] == "instance":
                instances[int(parts[1])] = (int(parts[2]), int(parts[3]))
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-loop, no chance to clean up
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(clicks) >= 20 and instances

    with ProjectStore.open(path) as store:
        assert store.integrity_check() == "ok"
        fk = store._q("PRAGMA foreign_key_check")
        assert fk == []
        stored_clicks = {c.id for c in store.clicks(include_undone=True)}
        assert set(clicks) <= stored_clicks
        # at most the click in flight went through without being reported
        assert len(stored_clicks - set(clicks)) <= 1
        stored = {r.id: r for r in store.instances()}
        assert set(instances) <= set(stored)
        for iid, (r0, c0) in instances.items():
            expected = np.zeros((64, 64), bool)
            expected[r0 : r0 + 10, c0 : c0 + 12] = True
            assert np.array_equal(stored[iid].mask(), expected)
            # each instance got exactly the clicks recorded since the previous one
            assert len(store.clicks(instance_id=iid)) == 4
