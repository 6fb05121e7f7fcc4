"""
engines.py — calls per second through a real kilnd's network engine against
the fake upstream with a fixed latency L, for C calls in flight, beside a
plain Python client with a thread pool of C doing the same job; writes its
section of docs/PERFORMANCE.md.

The job: WAVES x C rows of one image each (so one call per image) through
the a1111 engine (POST /sdapi/v1/txt2img, a 64x64 PNG in base64 back), every
image decoded, checked and written durably (temporary file, fsync, rename,
fsync of the directory), as kilnd does.  kilnd runs with C workers and
a1111.max_in_flight = C; its figure runs from the start request to the
batch's completion.  The reference does the same calls with
http.client in a ThreadPoolExecutor of C threads, in a process of its own.
The aim: at least 0.95 x C / L calls per second for C up to 256.  The fake
upstream (tests/e2e/fake_upstream.py) runs in its own process and counts
the calls in flight it sees.

usage: /usr/bin/python3 bench/engines.py [--latency S] [--conc 8,64,256] [--waves N]
                                         [--write docs/PERFORMANCE.md]
"""
import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import benchlib  # noqa: E402

BEGIN = "<!-- engines:begin -->"
END = "<!-- engines:end -->"


class Upstream:
    """The fake upstream in a process of its own."""

    def __init__(self, latency):
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "e2e", "fake_upstream.py"),
                                   "--bench", "--latency", str(latency)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port

    def ask(self, what):
        self.p.stdin.write(what + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def stats(self):
        return json.loads(self.ask("stats"))

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def workers_for(c):
    """C calls in flight, and a quarter more workers: those writing an image durably."""
    return c + max(2, c // 4)


def steady(samples, c, n):
    """
    Calls per second once the first C calls are done (the start-up ramp left out): the images
    made after the first C, over the time from the moment C were done to the moment all n were.
    samples: (seconds since the start, images done so far), in time order.
    """
    t_first = next(t for t, d in samples if d >= c)
    t_all = next(t for t, d in samples if d >= n)
    return (n - c) / (t_all - t_first)


def run_kilnd(up, c, n, tmp, latency, waves):
    from conftest import Kilnd
    rows = ["prompt,visibility,num_images"] + ["bench prompt %d,public,1" % i for i in range(n)]
    k = Kilnd(os.path.join(tmp, "kiln-%d" % c),
              ["--engine", "a1111", "--workers", str(workers_for(c)), "--set", "a1111.base_url=" + up.url,
               "--set", "a1111.max_in_flight=%d" % c, "--set", "a1111.base_size=64",
               "--set", "log_level=warn", "--set", "builtin.call_log=", "--set", "max_rows=100000"])
    k.start()
    try:
        b = k.upload_ok(("\n".join(rows) + "\n").encode())
        up.ask("reset")
        t0 = time.monotonic()
        assert k.start_batch(b["id"]).status == 200
        samples = []
        while True:
            cur = k.batch(b["id"])
            samples.append((time.monotonic() - t0, cur["images_done"]))
            if cur["state"] in ("completed", "failed"):
                break
            time.sleep(0.02)
        t = time.monotonic() - t0
        assert cur["state"] == "completed" and cur["images_done"] == n, cur
        mem = benchlib.status_of(k.proc.pid)
        seen = up.stats()
    finally:
        k.stop()
    return {"rate": n / t, "secs": t, "mem": mem, "upstream_max": seen["max_in_flight"],
            "service": seen["mean_service_s"], "steady": steady(samples, c, n)}


def reference_child(url, c, n, outdir):
    """The plain client: a thread pool of c, each call then the file written durably."""
    import http.client
    from urllib.parse import urlparse
    u = urlparse(url)
    body = {"prompt": "", "negative_prompt": "", "seed": -1, "width": 64, "height": 64,
            "batch_size": 1, "n_iter": 1, "steps": 25, "send_images": True, "save_images": False}
    dfd = os.open(outdir, os.O_RDONLY)

    def one(i):
        b = dict(body, prompt="bench prompt %d" % i)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        conn.request("POST", "/sdapi/v1/txt2img", json.dumps(b), {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = json.loads(r.read())
        conn.close()
        img = base64.b64decode(data["images"][0])
        assert r.status == 200 and img[:8] == b"\x89PNG\r\n\x1a\n"
        tmp = os.path.join(outdir, "%d.png.tmp" % i)
        with open(tmp, "wb") as f:
            f.write(img)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(outdir, "%d.png" % i))
        os.fsync(dfd)
        ends.append(time.monotonic() - t0)

    ends = []
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=c) as pool:
        list(pool.map(one, range(n)))
    t = time.monotonic() - t0
    ends.sort()
    print(json.dumps({"rate": n / t, "secs": t, "samples": [[e, i + 1] for i, e in enumerate(ends)],
                      "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def run_reference(up, c, n, tmp, latency, waves):
    d = os.path.join(tmp, "ref-%d" % c)
    os.makedirs(d)
    up.ask("reset")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", up.url, str(c), str(n), d],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    r["steady"] = steady(r.pop("samples"), c, n)
    seen = up.stats()
    r["upstream_max"] = seen["max_in_flight"]
    r["service"] = seen["mean_service_s"]
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--conc", default="8,64,256")
    ap.add_argument("--waves", type=int, default=6)
    ap.add_argument("--write", default=None)
    ap.add_argument("--child", nargs=4, default=None)
    a = ap.parse_args()
    if a.child:
        reference_child(a.child[0], int(a.child[1]), int(a.child[2]), a.child[3])
        return
    os.environ.setdefault("KILND", os.path.join(ROOT, "build", "kilnd"))
    results = []
    up = Upstream(a.latency)
    load = open("/proc/loadavg").read().split()[0]
    try:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
            for c in [int(x) for x in a.conc.split(",")]:
                n = a.waves * c
                kr = run_kilnd(up, c, n, tmp, a.latency, a.waves)
                pr = run_reference(up, c, n, tmp, a.latency, a.waves)
                ideal = c / a.latency
                print("C=%d L=%.1fs calls=%d ideal %.1f/s: kilnd steady %.1f/s (%.3f), start to end"
                      " %.1f/s (%.3f), peak RSS %.1f MiB, %d threads, upstream saw %d at once;"
                      " python pool steady %.1f/s (%.3f), start to end %.1f/s (%.3f), peak RSS %.1f MiB" %
                      (c, a.latency, n, ideal, kr["steady"], kr["steady"] / ideal, kr["rate"],
                       kr["rate"] / ideal, kr["mem"]["VmHWM"] / 1024, kr["mem"]["Threads"],
                       kr["upstream_max"], pr["steady"], pr["steady"] / ideal, pr["rate"],
                       pr["rate"] / ideal, pr["maxrss"] / 1024), flush=True)
                results.append((c, n, ideal, kr, pr))
    finally:
        up.close()
    if a.write:
        write_section(a.write, a.latency, a.waves, results, load)


def write_section(path, latency, waves, results, load):
    lines = [BEGIN, "## Network engines: calls in flight against a fake upstream", "",
             "`bench/engines.py`, run by `make bench` (alone: `make all && /usr/bin/python3"
             " bench/engines.py --write docs/PERFORMANCE.md`).  The fake upstream"
             " (`tests/e2e/fake_upstream.py --bench`, a process of its own, one asyncio thread)"
             " answers every `POST /sdapi/v1/txt2img` after a fixed latency L = %.1f s with a"
             " 64x64 PNG in base64, the documented answer.  For each C, %d x C rows of one image"
             " each go through kilnd's a1111 engine with `a1111.max_in_flight = C` (one call per"
             " image) and C + max(2, C/4) workers (the extra workers write images durably while"
             " C calls are in flight): the call made through the engine's one libcurl multi"
             " thread, the answer decoded and checked, the image written durably (temporary"
             " file, fsync, rename, fsync of the directory) and settled in the store.  The"
             " reference is a plain Python client, a `ThreadPoolExecutor` of C threads doing the"
             " same calls with http.client and writing each image the same way, in a process of"
             " its own, in the same run.  *Start to end* runs from the start request to the"
             " last image; *steady* leaves out the start-up ramp: the images after the first C,"
             " over the time from the moment C were done to the end.  The aim is at least"
             " 0.95 x C / L calls per second.  kilnd's memory is its peak resident set (VmHWM)"
             " at the end of the run; the 1-minute load average was %s on %d cores when this"
             " section started (other work shares the machine)."
             % (latency, waves, load, os.cpu_count()),
             "",
             "Run: %s, kiln %s." % (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), benchlib.commit()),
             "",
             "| C | calls | ideal C/L | kilnd steady | vs ideal | kilnd start to end | vs ideal |"
             " kilnd peak RSS | kilnd threads | upstream saw at once | Python pool steady |"
             " vs ideal | pool start to end | pool peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    met = True
    for c, n, ideal, kr, pr in results:
        met = met and kr["steady"] >= 0.95 * ideal
        lines.append("| %d | %d | %.1f/s | %.1f/s | %.3f | %.1f/s | %.3f | %.1f MiB | %d | %d |"
                     " %.1f/s | %.3f | %.1f/s | %.1f MiB |" %
                     (c, n, ideal, kr["steady"], kr["steady"] / ideal, kr["rate"], kr["rate"] / ideal,
                      kr["mem"]["VmHWM"] / 1024, kr["mem"]["Threads"], kr["upstream_max"],
                      pr["steady"], pr["steady"] / ideal, pr["rate"], pr["maxrss"] / 1024))
    lines += ["", "In this run the aim (steady) was %s.  kilnd's threads are its workers, the"
              " HTTP threads and one libcurl thread for the engine: every call in flight is an"
              " easy handle in that thread's multi handle, not a thread; a worker waits on its"
              " call, then writes the image.  The upstream never saw more than C calls at once."
              " Each worker has a thread and a SQLite connection of its own, so kilnd's memory"
              " grows with C (see the table).  A row of several images is one call (batch_size, num_images, n), so a"
              " batch of rows of 4 images needs a quarter of these calls." %
              ("**met**" if met else "**not met**"), END]
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    print("bench: wrote the engines section of %s" % path)


if __name__ == "__main__":
    main()
