"""
events_fanout.py — how one event reaches many /v1/events clients.

Starts a kilnd (build/kilnd, or $KILND) on a temporary data dir, connects N
raw-socket SSE clients (N = 1, the reference, then each N given, default
100 and 500), runs a one-image batch and measures, for every client, the
time from the start request's answer to the arrival of its
batch.completed; also kilnd's resident memory with the clients connected
(VmRSS) against the same kilnd with none.  Prints a Markdown table.

    /usr/bin/python3 bench/events_fanout.py [N ...]
"""
import os
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from conftest import Kilnd, small_csv  # noqa: E402


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def connect(k, n, path="/v1/events"):
    """n raw-socket SSE clients of k's admin, registered in a selector: (selector, buffers)."""
    req = ("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, k.token)).encode()
    sel = selectors.DefaultSelector()
    bufs = {}
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", k.port))
        c.sendall(req)
        c.setblocking(False)
        sel.register(c, selectors.EVENT_READ)
        bufs[c] = b""
    return sel, bufs


def pump(sel, bufs, when, mark, timeout=120, keep=None):
    """Reads every client until each has mark (or timeout); when[c] = arrival of mark.
    keep(data) may shorten what is kept of a buffer (long runs)."""
    n = len(bufs)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(when) < n:
        for key, _ in sel.select(timeout=1):
            data = key.fileobj.recv(65536)
            bufs[key.fileobj] += data
            if mark in bufs[key.fileobj] and key.fileobj not in when:
                when[key.fileobj] = time.monotonic()
            elif keep:
                bufs[key.fileobj] = keep(bufs[key.fileobj])


def close(sel, bufs):
    for c in bufs:
        c.close()
    sel.close()


def run(k, n):
    sel, bufs = connect(k, n)
    when = {}
    pump(sel, bufs, when, b": connected")
    when.clear()
    rss = rss_kib(k.proc.pid)
    b = k.upload_ok(small_csv(1))
    t0 = time.monotonic()
    assert k.start_batch(b["id"]).status == 200
    pump(sel, bufs, when, b"event: batch.completed")
    lat = sorted((when[c] - t0) * 1000 for c in bufs if c in when)
    close(sel, bufs)
    return rss, lat


def main():
    counts = [int(a) for a in sys.argv[1:]] or [100, 500]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(counts) + 300), hard))
    d = tempfile.mkdtemp(prefix="kiln-fanout.")
    k = Kilnd(os.path.join(d, "data"), ["--set", "builtin.size=64", "--set", "log_level=warn"])
    k.start()
    try:
        time.sleep(0.5)
        idle = rss_kib(k.proc.pid)
        print("| clients | got batch.completed | median ms | p99 ms | max ms | kilnd RSS |")
        print("|---|---|---|---|---|---|")
        print("| 0 (idle) | | | | | %d KiB |" % idle)
        for n in [1] + counts:
            rss, lat = run(k, n)
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print("| %d%s | %d | %.1f | %.1f | %.1f | %d KiB |" % (
                n, " (reference)" if n == 1 else "", len(lat), statistics.median(lat), p99,
                lat[-1], rss))
    finally:
        k.stop()


if __name__ == "__main__":
    main()
