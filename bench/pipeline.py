"""
pipeline.py — images per second through a real kilnd: a 999-row batch of 4
images per row (3,996 images) on the built-in engine with no delay, from
the start request to the batch's completion, polled every 10 ms.

usage: /usr/bin/python3 bench/pipeline.py WORKERS SIZE
prints: "kilnd workers=W  N images  S s  R images/s"
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from conftest import Kilnd  # noqa: E402


def main():
    workers, size = int(sys.argv[1]), int(sys.argv[2])
    rows = ["prompt,visibility,num_images"] + ["prompt %d,public,4" % i for i in range(999)]
    data = ("\n".join(rows) + "\n").encode()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        k = Kilnd(os.path.join(tmp, "data"), ["--workers", str(workers), "--set",
                                              "builtin.size=%d" % size, "--set", "log_level=warn",
                                              "--set", "builtin.call_log="])
        k.start()
        try:
            b = k.upload_ok(data)
            t0 = time.monotonic()
            assert k.start_batch(b["id"]).status == 200
            while True:
                cur = k.batch(b["id"])
                if cur["state"] == "completed":
                    break
                time.sleep(0.01)
            t = time.monotonic() - t0
            n = cur["images_done"]
            print("kilnd workers=%d\t%d images\t%.2f s\t%.0f images/s" % (workers, n, t, n / t))
        finally:
            k.stop()


main()
