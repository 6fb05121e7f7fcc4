"""
load.py — GET /v1/batches/{id} under load while a 999-row batch runs,
beside nginx serving the same JSON as a static file; 500 event-stream
clients connected meanwhile.  Writes its section of docs/PERFORMANCE.md.

One kilnd (build/kilnd, or $KILND) on a temporary data dir, 16 workers,
the built-in engine with builtin.delay_ms so that the batch lasts through
the measurement.  The 500 SSE clients (bench/events_fanout.py's raw-socket
clients, read by a thread of this process) connect first; then the batch
(999 rows of one image) is uploaded and started, its JSON is saved as a
file that an nginx of our own (a temporary prefix and config, a free port,
not the system service) serves, and wrk (64 connections, 2 threads,
--latency) runs against kilnd (with the Authorization header) and nginx
alternately, ROUNDS times each.  The figures are the medians of the rounds.
At the end the batch is waited for and the clients that got its
batch.completed counted.

usage: /usr/bin/python3 bench/load.py [--rounds N] [--seconds S] [--clients N]
                                      [--set KEY=VALUE]... [--perf FILE]
                                      [--write docs/PERFORMANCE.md]
"""
import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import benchlib  # noqa: E402
import events_fanout  # noqa: E402
from conftest import Kilnd, free_port, small_csv  # noqa: E402

NGINX_CONF = """
daemon off;
master_process on;
worker_processes auto;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log warn;
events { worker_connections 1024; }
http {
    access_log %(dir)s/access.log;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:%(port)d;
        root %(dir)s/www;
        location / { default_type application/json; }
    }
}
"""


def ms(text):
    """wrk's '1.23ms', '456.00us', '1.2s' in milliseconds."""
    m = re.match(r"([\d.]+)(us|ms|s|m)", text)
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000, "m": v * 60000}[m.group(2)]


def wrk(url, seconds, conns, headers=()):
    cmd = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "5s"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    r = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
         "requests": int(re.search(r"(\d+) requests in", out).group(1)),
         "non2xx": 0, "errors": 0}
    for p in ("50", "90", "99"):
        r["p" + p] = ms(re.search(r"^\s+%s%%\s+(\S+)" % p, out, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] = sum(int(x) for x in m.groups())
    return r


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--http-threads", type=int, default=0, help="0: kilnd's default")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a kilnd config key for this run (e.g. worker_nice=0)")
    ap.add_argument("--perf", default=None, help="perf record -g kilnd in the first round into FILE")
    ap.add_argument("--write", default=None)
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.clients + 1000), hard))
    tmp = tempfile.mkdtemp(prefix="kiln-load.")
    os.chmod(tmp, 0o755)
    # the batch must outlast the measurement: 999 images over 16 workers, delay per image
    measure_s = a.rounds * 2 * (a.seconds + 1) + 10
    delay = int(measure_s * 1000 * a.workers / 999) + 1
    args = ["--workers", str(a.workers), "--set", "builtin.delay_ms=%d" % delay,
            "--set", "builtin.size=64"]
    if a.http_threads:
        args += ["--set", "http_threads=%d" % a.http_threads]
    for kv in a.set:
        args += ["--set", kv]
    k = Kilnd(os.path.join(tmp, "data"), args)
    nginx = None
    load0 = benchlib.loadavg()
    try:
        k.start()
        sel, bufs = events_fanout.connect(k, a.clients)
        when = {}
        events_fanout.pump(sel, bufs, when, b": connected", timeout=60)
        connected = len(when)
        when.clear()
        got = {}
        reader = threading.Thread(target=events_fanout.pump,
                                  args=(sel, bufs, got, b"event: batch.completed", 600,
                                        lambda b: b[-256:]), daemon=True)
        reader.start()

        b = k.upload_ok(small_csv(999))
        bid = b["id"]
        assert k.start_batch(bid).status == 200
        t_start = time.monotonic()
        www = os.path.join(tmp, "www", "v1", "batches")
        os.makedirs(www)
        body = k.request("GET", "/v1/batches/" + bid).body
        with open(os.path.join(www, bid), "wb") as f:
            f.write(body)
        for p in (tmp, os.path.join(tmp, "www"), os.path.join(tmp, "www", "v1"), www):
            os.chmod(p, 0o755)
        nport = free_port()
        with open(os.path.join(tmp, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF % {"dir": tmp, "port": nport})
        nginx = subprocess.Popen(["nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf"),
                                  "-e", os.path.join(tmp, "error.log")])
        time.sleep(0.5)
        path = "/v1/batches/" + bid
        kurl = "http://127.0.0.1:%d%s" % (k.port, path)
        nurl = "http://127.0.0.1:%d%s" % (nport, path)
        auth = "Authorization: Bearer " + k.token
        wrk(kurl, 1, a.conns, [auth])
        wrk(nurl, 1, a.conns)
        kr, nr, kcpu, states = [], [], [], []
        loads = [benchlib.loadavg()]
        for i in range(a.rounds):
            perf = None
            if a.perf and i == 0:
                perf = subprocess.Popen(["perf", "record", "-g", "-o", a.perf, "-p", str(k.proc.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            c0 = cpu_seconds(k.proc.pid)
            r = wrk(kurl, a.seconds, a.conns, [auth])
            kcpu.append(cpu_seconds(k.proc.pid) - c0)
            if perf:
                perf.send_signal(2)
                perf.wait()
            kr.append(r)
            nr.append(wrk(nurl, a.seconds, a.conns))
            cur = k.batch(bid)
            states.append("%s %d/%d" % (cur["state"], cur["images_done"], cur["images_total"]))
            print("  round %d: kilnd %.0f/s p99 %.2f ms, nginx %.0f/s p99 %.2f ms; batch %s" %
                  (i + 1, kr[-1]["rps"], kr[-1]["p99"], nr[-1]["rps"], nr[-1]["p99"], states[-1]),
                  flush=True)
        loads.append(benchlib.loadavg())
        mem = benchlib.status_of(k.proc.pid)
        # the batch to its end, and every client's batch.completed
        cur = k.wait_state(bid, ["completed", "failed"], timeout=600)
        t_batch = time.monotonic() - t_start
        reader.join(timeout=60)
        completed = len(got)
        events_fanout.close(sel, bufs)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        k.stop()
    load1 = benchlib.loadavg()
    shutil.rmtree(tmp, ignore_errors=True)

    def med(rs, key):
        return statistics.median(r[key] for r in rs)

    res = {"k_rps": med(kr, "rps"), "n_rps": med(nr, "rps"), "k_p50": med(kr, "p50"),
           "k_p90": med(kr, "p90"), "k_p99": med(kr, "p99"), "n_p50": med(nr, "p50"),
           "n_p90": med(nr, "p90"), "n_p99": med(nr, "p99"),
           "k_err": sum(r["errors"] + r["non2xx"] for r in kr),
           "n_err": sum(r["errors"] + r["non2xx"] for r in nr),
           "k_req": sum(r["requests"] for r in kr), "n_req": sum(r["requests"] for r in nr)}
    ratio = res["k_rps"] / res["n_rps"]
    met = ratio >= 0.5 and res["k_p99"] < 10 and res["k_err"] == 0 and completed == a.clients
    print("median: kilnd %.0f/s (p99 %.2f ms, %d errors), nginx %.0f/s (p99 %.2f ms): %.2f; "
          "%d/%d clients connected, %d got batch.completed; batch %s in %.0f s; aim %s" %
          (res["k_rps"], res["k_p99"], res["k_err"], res["n_rps"], res["n_p99"], ratio, connected,
           a.clients, completed, cur["state"], t_batch, "met" if met else "NOT met"))
    if not a.write:
        return
    rounds = "; ".join("%.0f / %.0f" % (x["rps"], y["rps"]) for x, y in zip(kr, nr))
    lines = [
        "## Load: GET /v1/batches/{id} while a 999-row batch runs, beside nginx", "",
        "`bench/load.py`, run by `make bench`; alone: `make all && sh bench/run.sh load`"
        " (which installs wrk and nginx-light through `scripts/install-bench-deps.sh`).",
        "",
        "Machine: %s.  Run: %s, kiln %s.  The 1-minute load average was %s when the section"
        " started, %s before the first round, %s after the last, %s at the end (the machine is"
        " shared with other builds and tests; the two servers are measured in interleaved"
        " rounds so that both see the same load)." %
        (benchlib.machine(), benchlib.now_utc(), benchlib.commit(), load0, loads[0], loads[1], load1),
        "",
        "What runs: one kilnd with %d workers on the built-in engine (`builtin.delay_ms=%d`,"
        " 64 px) and its default `http_threads`%s; %d event-stream clients (`GET /v1/events`,"
        " the raw-socket clients of `bench/events_fanout.py`, read by one thread of the"
        " benchmark) connected before the batch is uploaded; a batch of 999 rows of one image"
        " started.  While it runs, `wrk -t2 -c%d -d%ds --latency` against"
        " `GET /v1/batches/{id}` with `-H 'Authorization: Bearer …'` (every request"
        " authenticated: token hashed and looked up, the batch read from SQLite, its JSON"
        " built), then the same against an nginx of the benchmark's own (nginx-light %s,"
        " `worker_processes auto`, access log on, a temporary prefix and config on a free"
        " port) serving the JSON that kilnd answered for that batch as a static file;"
        " %d rounds of each, alternating.  Medians of the rounds:" %
        (a.workers, delay, (", %d" % a.http_threads) if a.http_threads else "", a.clients, a.conns,
         a.seconds, nginx_version(), a.rounds),
        "",
        "| server | requests/s | p50 ms | p90 ms | p99 ms | requests | errors (socket + non-2xx) |",
        "|---|---|---|---|---|---|---|",
        "| kilnd | %.0f | %.2f | %.2f | %.2f | %d | %d |" %
        (res["k_rps"], res["k_p50"], res["k_p90"], res["k_p99"], res["k_req"], res["k_err"]),
        "| nginx (static file) | %.0f | %.2f | %.2f | %.2f | %d | %d |" %
        (res["n_rps"], res["n_p50"], res["n_p90"], res["n_p99"], res["n_req"], res["n_err"]),
        "",
        "Each round, kilnd / nginx requests/s: %s.  kilnd used %.1f s of CPU per %d s round"
        " (median; both cores are shared by kilnd, nginx, wrk's two threads and the"
        " event-stream reader).  Batch at the end of each round: %s.  kilnd's resident memory"
        " after the rounds: %.1f MiB (peak %.1f MiB), %d threads." %
        (rounds, statistics.median(kcpu), a.seconds, ", ".join(states), mem["VmRSS"] / 1024,
         mem["VmHWM"] / 1024, mem["Threads"]),
        "",
        "Event streams: %d of %d clients connected, and **%d of %d received the batch's"
        " `batch.completed`** (the batch ended %s, %.0f s after its start)." %
        (connected, a.clients, completed, a.clients, cur["state"], t_batch),
        "",
        "The aim: kilnd at least half of nginx's requests per second, p99 under 10 ms, no"
        " error, every client its completion event.  In this run kilnd made %.2f of nginx's"
        " requests per second with a p99 of %.2f ms: the aim was %s." %
        (ratio, res["k_p99"], "**met**" if met else "**not met**"),
    ]
    benchlib.write_section(a.write, "load", lines + EXTRA)


def nginx_version():
    r = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    m = re.search(r"nginx/(\S+)", r.stderr)
    return m.group(1) if m else "?"


# what the profile showed and what was changed, written with the figures
EXTRA = [
    "",
    "What the profile showed (`perf record -g` on kilnd during a round: `bench/load.py --perf FILE`;"
    " and the instructions of one request under `valgrind --tool=callgrind`, kilnd alone, 2026-11-24),"
    " and what was changed: the kernel's TCP work is about half of kilnd's CPU (one `sendmsg` per"
    " answer, and the 500 event streams each sent every `batch.progress` of the 999 images);"
    " libmicrohttpd zeroed its per-connection pool, then 128 KiB, after every request (7 % of the"
    " profile): the pool is now libmicrohttpd's default 32 KiB (a request whose headers total up to about 32 KiB is still read, past it 431;"
    " event streams cost less memory too); cJSON printed every whole number with `%1.15g` and read it"
    " back with `sscanf` to check (a third of the JSON time): whole numbers are now written as digits"
    " once (`api_add_int()`), 224,000 → 188,000 instructions per request.  `http_threads` from 2 to 8"
    " changed nothing measurable on two cores.",
    "",
    "Then (2026-11-25), per request, measured on kilnd alone with 16 sleeping workers"
    " (`builtin.delay_ms` long) and the same `wrk -c64` (CPU time from `/proc/<pid>/stat` over the"
    " requests, the old and the new kilnd run alternately; `strace -c` for the system calls;"
    " callgrind over 500 keep-alive requests): the request took three SQLite read transactions"
    " (token, batch with its running count, preview row), each taking and dropping the WAL read lock"
    " with `fcntl` (six calls), built the batch as a cJSON tree (an allocation per member and key,"
    " print, free: 53,000 instructions), drew its request id from `getrandom(2)`, and SQLite took a"
    " global mutex on every allocation for its memory statistics.  Changed: the token lookup and the"
    " handler of read-only routes share one read transaction (two `fcntl`); the batch object is"
    " written straight into one buffer (`api/jsonw.c`, byte for byte cJSON's text: 15,000"
    " instructions); request ids come from a per-thread SplitMix64 seeded once; SQLite's memory"
    " statistics are off; the token's SHA-256 is fetched from OpenSSL once, not looked up per"
    " digest.  Instructions per request 180,900 → 130,400 (about 49,000 of both are"
    " libmicrohttpd zeroing its 32 KiB pool, which callgrind counts per byte: cheap on the CPU);"
    " CPU per request 38 µs → 26.4 µs (user 19 → 13.8 µs, system 19 → 12.5 µs; load average 2.8 to"
    " 3.9 during those runs).  Event streams: the call after the one that sent an event asked the"
    " store again and found nothing — 1,000 store reads per event with 500 streams, now 500 (kilnd's"
    " CPU per image made with 500 streams connected: 10.4 → 8.1 ms).  The workers now run"
    " `worker_nice` (10) above kilnd's nice value, so a burst of requests is served before more"
    " rendering (with 16 workers rendering 768 px images without delay, the same wrk got 15,000 to"
    " 20,000 requests/s, p99 58 ms, against 2,200 to 4,100, p99 80 to 126 ms, with `worker_nice=0`;"
    " in this benchmark the workers mostly sleep, so it changes little here).  This benchmark on"
    " the shared machine (load average 3 to 4 from other builds, 2026-11-25): the kilnd before these"
    " changes made 0.45 of nginx's requests per second, p99 15.2 ms; after them 0.65 to 0.80 over"
    " six runs, p99 7.7 to 13.9 ms (nginx's own 4.6 to 8.2 ms); `http_threads` 2 against 4 showed"
    " no difference above that noise.  What remains per request: `sendmsg` and the loopback delivery to wrk (a quarter of"
    " the CPU), the access-log line's `write` (6 %), SQLite (the two statements, about 40,000"
    " instructions), the token's SHA-256, libmicrohttpd's parsing and pool zeroing.  The p99 is"
    " mostly scheduling: two cores for kilnd's HTTP threads and 16 workers, wrk, nginx's workers"
    " and the event reader; nginx's own p99 on the same machine is in the table.",
]

if __name__ == "__main__":
    main()
