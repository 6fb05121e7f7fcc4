"""
memory.py — kilnd's resident memory while it runs 999-row batches with 4
workers on the built-in engine, and whether it grows with the number of
batches in the store.

One kilnd on one data dir runs BATCHES batches one after the other, each
999 rows of one image (built-in engine, SIZE px, no delay), uploaded,
started and waited for; a thread samples /proc/PID/status (VmRSS) every
20 ms meanwhile.  For the batches numbered in CHECKPOINTS (1, 10, ... the
last) it prints the peak VmRSS seen during that batch, VmRSS after it, and
VmHWM (the kernel's own high-water mark since start).  The reference is the
same daemon idle before its first upload.

usage: /usr/bin/python3 bench/memory.py [BATCHES [SIZE]]      (100, 512)
prints one tab-separated line per checkpoint:
  "batch N<TAB>batches in store N<TAB>peak VmRSS KB<TAB>after KB<TAB>VmHWM KB<TAB>seconds"
"""
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from conftest import Kilnd  # noqa: E402


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """VmRSS of pid every 20 ms; peak() gives the highest since the last reset()."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.top, self.done = pid, 0, False

    def run(self):
        while not self.done:
            try:
                self.top = max(self.top, status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            time.sleep(0.02)

    def reset(self):
        top, self.top = self.top, 0
        return top


def main():
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    checkpoints = sorted({1, 10, batches} & set(range(1, batches + 1)))
    rows = ["prompt,visibility,num_images"] + ["prompt %d,public,1" % i for i in range(999)]
    data = ("\n".join(rows) + "\n").encode()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        k = Kilnd(os.path.join(tmp, "data"), ["--workers", "4", "--set", "builtin.size=%d" % size,
                                              "--set", "log_level=warn", "--set", "builtin.call_log=",
                                              "--set", "admin_credits=1000000000000"])
        k.start()
        pid = k.proc.pid
        try:
            time.sleep(0.5)
            idle = status_kb(pid, "VmRSS")
            print("idle\t0\t%d\t%d\t%d\t0" % (idle, idle, status_kb(pid, "VmHWM")), flush=True)
            s = Sampler(pid)
            s.start()
            for n in range(1, batches + 1):
                t0 = time.monotonic()
                s.reset()
                b = k.upload_ok(data, name="b%d.csv" % n)
                assert k.start_batch(b["id"]).status == 200
                while k.batch(b["id"])["state"] != "completed":
                    time.sleep(0.05)
                top = s.reset()
                if n in checkpoints:
                    print("batch %d\t%d\t%d\t%d\t%d\t%.1f" % (n, n, top, status_kb(pid, "VmRSS"),
                                                            status_kb(pid, "VmHWM"),
                                                            time.monotonic() - t0), flush=True)
            s.done = True
        finally:
            k.stop()


main()
