"""
test_worker_nice.py — worker_nice: the worker threads lower their own
priority (their nice value, per thread on Linux) so that under load the
HTTP threads are scheduled first; every other thread keeps kilnd's.  Read
from /proc/<pid>/task/*/stat (field 19 is the nice value) and comm, where
the workers are named kilnd-worker.
"""
import os

from conftest import Kilnd, small_csv


def threads(pid):
    """[(name, nice)] of every thread of pid."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            text = f.read()
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        out.append((name, int(fields[16])))   # field 19 of stat(5), counted from state (3)
    return out


def check(k, workers, want_worker, want_other):
    ts = threads(k.proc.pid)
    mine = [n for name, n in ts if name == "kilnd-worker"]
    others = [n for name, n in ts if name != "kilnd-worker"]
    assert mine == [want_worker] * workers, ts
    assert others and set(others) == {want_other}, ts


def test_workers_run_below_the_http_threads_by_default(tmp_path):
    k = Kilnd(tmp_path / "data", ["--workers", "3"])
    k.start()
    try:
        check(k, 3, 10, 0)
        # and they still make images, and answers come while they do
        b = k.upload_ok(small_csv(6))
        assert k.start_batch(b["id"]).status == 200
        assert k.wait_state(b["id"], ["completed"])["images_done"] == 6
        check(k, 3, 10, 0)
    finally:
        k.stop()


def started(data, workers, want_worker, want_other, args=(), nice=None):
    """A kilnd with this many workers (under `nice -n nice` when given), checked, stopped."""
    k = Kilnd(data, ["--workers", str(workers)] + list(args))
    if nice is not None:
        k.wrapper = lambda: ["nice", "-n", str(nice)]
    k.start()
    try:
        check(k, workers, want_worker, want_other)
    finally:
        k.stop()


def test_worker_nice_zero_keeps_them_equal(tmp_path):
    started(tmp_path / "data", 2, 0, 0, ["--set", "worker_nice=0"])


def test_worker_nice_adds_to_kilnds_own_and_stops_at_19(tmp_path):
    """kilnd started at nice 5: workers at 5 + 7 = 12; at nice 15, 15 + 10 caps at 19."""
    started(tmp_path / "data", 2, 12, 5, ["--set", "worker_nice=7"], nice=5)
    started(tmp_path / "data2", 2, 19, 15, nice=15)


def test_worker_nice_bounds(tmp_path):
    import subprocess
    from conftest import KILND
    r = subprocess.run([KILND, "--set", "worker_nice=20", "--data-dir", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "worker_nice" in r.stderr
