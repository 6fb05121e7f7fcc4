#!/usr/bin/python3
"""
soak.py — the crash campaign: kill -9 kilnd at random moments,
restart it, and check after every kill that nothing was lost, made twice,
half-counted or left unbalanced.

DESIGN
One kilnd (built-in engine, a few workers, a small per-image delay) on a
temporary data dir, a local webhook receiver that answers slowly, and a
seeded random.Random driving everything.  Each round picks a moment —
upload, start, generation, stop, resume, archive download or webhook
delivery — starts that operation (in a thread when it is a request in
flight), waits a random few milliseconds and kills kilnd with SIGKILL.

With kilnd dead, the data dir is checked as the crash left it:
  - PRAGMA integrity_check is ok; for every account available + reserved +
    charged = granted, each balance is what its ledger lines add up to, and
    charged is the cost of the images delivered (test_ledger_property's
    snapshot_checks(), which also checks every batch's counts and
    reservation, and each done image's file size);
  - every done image's file has the stored CRC-32 (read back);
  - no image that was done (or staged: file written and recorded) at an
    earlier kill is anything but done now (nothing lost);
  - no file under its final name belongs to an image that is not done or
    staged (no orphan a zip or the gallery could count);
  - every batch is in a state its last acknowledged request allows (a
    request cut by the kill allows the state before and after it), and an
    upload cut by the kill left either nothing or the whole batch.
Then kilnd is restarted on the same data dir and the batch states are
checked again (a stop survives a crash: stopping becomes stopped).

At the end every stopped batch is resumed and all run to completion; then
every image is done exactly once (the engine's call log: no image called
again after it was done or staged, at most one extra call per worker per
kill or stop), each batch completed with its failed rows failed, every completed
batch's archive is whole, every webhook delivery arrived, and the ledger
checks pass once more; kilnd stops cleanly on SIGTERM and its log has no
sanitizer report (run it with build/asan/kilnd too).  A summary line is
printed.

    /usr/bin/python3 tests/soak/soak.py [--kills N] [--seed S] [--kilnd PATH]

The seed is printed first; passing it again replays the same sequence of
moments (the other draws, and the instant of kilnd's work each kill lands
on, follow what kilnd had done by then, so they differ from run to run:
that is the point).  Exit status 0 when every check passed.
"""
import argparse
import http.client
import http.server
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

from conftest import Kilnd  # noqa: E402
from test_ledger_property import snapshot_checks  # noqa: E402

MOMENTS = ("upload", "start", "generation", "stop", "resume", "archive", "webhook")
WORKERS = 3


class Receiver:
    """Webhook receiver: answers 200 after `slow` seconds; records each delivery id."""

    def __init__(self, slow=0.25):
        self.slow = slow
        self.lock = threading.Lock()
        self.deliveries = {}          # X-Kiln-Delivery -> times received
        self.in_flight = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(n)
                outer.in_flight.set()
                time.sleep(outer.slow)
                did = self.headers.get("X-Kiln-Delivery", "")
                with outer.lock:
                    outer.deliveries[did] = outer.deliveries.get(did, 0) + 1
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def batch_csv(rng, name):
    rows = rng.randint(3, 12)
    lines = ["prompt,visibility,num_images"]
    fails = 0
    for i in range(rows):
        n = rng.randint(1, 4)
        prompt = "%s row %d" % (name, i)
        if rng.random() < 0.08:
            prompt += " [[kiln:fail]]"
            fails += n
        lines.append("%s,%s,%d" % (prompt, rng.choice(["public", "private"]), n))
    return ("\n".join(lines) + "\n").encode(), rows


class Campaign:
    def __init__(self, kilnd, seed, kills, workdir, verbose=False):
        self.rng = random.Random(seed)
        self.moment_rng = random.Random(seed)   # the moments alone: the same order on a replay
        self.seed = seed
        self.kills_wanted = kills
        self.verbose = verbose
        self.receiver = Receiver()
        os.environ["KILND"] = kilnd
        import conftest
        conftest.KILND = kilnd
        self.k = Kilnd(os.path.join(workdir, "data"),
                       ["--workers", str(WORKERS), "--set", "builtin.delay_ms=40",
                        "--set", "builtin.size=24", "--set", "webhooks.allow_private=true",
                        "--set", "max_active_batches=0", "--set", "max_queued_images=0",
                        "--set", "webhooks.timeout_seconds=5"])
        self.batches = {}             # id -> {"allowed": set of states, "rows": n, "name"}
        self.uploads = {}             # name -> rows, for uploads a kill may have cut
        self.ever_done = set()        # images done or staged at some kill
        self.done_at_line = {}        # image id -> call-log lines when first seen done/staged
        self.kills = 0
        self.moments = dict.fromkeys(MOMENTS, 0)
        self.checks = 0
        self.states_seen = set()
        self.archive_cut = set()
        self.restart_ms = []
        self.stops = 0                # stop requests: each may cancel up to WORKERS calls
        self.n = 0

    def log(self, *a):
        if self.verbose:
            print(*a, flush=True)

    # -- requests ---------------------------------------------------------------

    def req(self, *a, **kw):
        return self.k.request(*a, **kw)

    def upload(self, in_thread=False):
        self.n += 1
        name = "s%d.csv" % self.n
        data, rows = batch_csv(self.rng, name)
        self.uploads[name] = rows
        if in_thread:
            return self.in_thread(lambda: self.k.upload(data, name))
        r = self.k.upload(data, name)
        check(r.status == 201, "upload: %r" % r)
        self.batches[r.json()["id"]] = {"allowed": {"draft"}, "rows": rows, "name": name}
        return r.json()["id"]

    def in_thread(self, fn):
        """Runs a request that the kill may cut; returns a function giving its response or None."""
        box = {}

        def run():
            try:
                box["r"] = fn()
            except (OSError, http.client.HTTPException):
                box["r"] = None
        t = threading.Thread(target=run, daemon=True)
        t.start()

        def result():
            t.join(30)
            return box.get("r")
        return result

    def pick(self, states):
        ids = [b for b, v in self.batches.items() if v["allowed"] & set(states)]
        return self.rng.choice(sorted(ids)) if ids else None

    def state(self, bid):
        return self.k.batch(bid)["state"]

    def control(self, bid, action, ok_states):
        """POST start/stop/resume in a thread; the kill may cut it."""
        body = {"webhook_url": self.receiver.url} if action == "start" else None
        self.stops += action == "stop"
        before = set(self.batches[bid]["allowed"])
        self.batches[bid]["allowed"] = before | set(ok_states)
        return self.in_thread(lambda: self.req("POST", "/v1/batches/%s/%s" % (bid, action),
                                               body=body)), bid, ok_states, before

    # -- one round: a moment, a kill, the checks, a restart --------------------

    def round(self):
        moment = MOMENTS[self.kills % len(MOMENTS)] if self.moment_rng.random() < 0.5 else \
            self.moment_rng.choice(MOMENTS)
        pending = None
        bid = None
        if moment == "upload":
            pending = self.upload(in_thread=True)
            time.sleep(self.rng.uniform(0, 0.02))
        elif moment in ("start", "generation", "webhook"):
            bid = self.pick(["draft"]) or self.upload()
            if self.state(bid) == "draft" and moment != "start":
                self.settle(*self.control(bid, "start", {"queued", "running", "completed"}))
            if moment == "start":
                pending = self.control(bid, "start", {"queued", "running", "completed"})
                time.sleep(self.rng.uniform(0, 0.02))
            elif moment == "generation":
                time.sleep(self.rng.uniform(0.05, 0.4))
            else:
                # a batch's end sends its webhook: stop one (fast) and kill while the receiver holds it
                self.receiver.in_flight.clear()
                self.settle(*self.control(bid, "stop", {"stopping", "stopped"}))
                if not self.receiver.in_flight.wait(3):
                    self.log("no delivery in flight; killing anyway")
                time.sleep(self.rng.uniform(0, self.receiver.slow))
        elif moment == "stop":
            bid = self.pick(["queued", "running"])
            if bid is None:
                bid = self.upload()
                self.settle(*self.control(bid, "start", {"queued", "running", "completed"}))
            time.sleep(self.rng.uniform(0, 0.15))
            pending = self.control(bid, "stop", {"stopping", "stopped"})
            time.sleep(self.rng.uniform(0, 0.02))
        elif moment == "resume":
            bid = self.pick(["stopped"])
            if bid is None or self.state(bid) not in ("stopped", "stopping"):
                bid = self.pick(["draft"]) or self.upload()
                if self.state(bid) == "draft":
                    self.settle(*self.control(bid, "start", {"queued", "running", "completed"}))
                self.settle(*self.control(bid, "stop", {"stopping", "stopped"}))
                self.k.wait_state(bid, ("stopped", "completed"), timeout=30)
            pending = self.control(bid, "resume", {"queued", "running", "completed"})
            time.sleep(self.rng.uniform(0, 0.03))
        elif moment == "archive":
            done = [b for b in sorted(self.batches) if self.k.batch(b)["images_done"] > 0]
            bid = self.rng.choice(done) if done else None
            if bid:
                pending = (self.in_thread(lambda: self.slow_download(bid)), bid, None, None)
                self.archive_cut.add(bid)
                time.sleep(self.rng.uniform(0.005, 0.05))
        self.kill(moment)
        if isinstance(pending, tuple) and pending[2] is not None:
            self.settle(*pending, cut=True)
        elif isinstance(pending, tuple):
            pending[0]()              # an archive download
        elif pending is not None:
            pending()                 # an upload: found again (or not) by its name below
        self.dead_checks()
        t0 = time.monotonic()
        self.k.start()
        self.restart_ms.append((time.monotonic() - t0) * 1000)
        self.after_restart()

    def slow_download(self, bid):
        conn = http.client.HTTPConnection("127.0.0.1", self.k.port, timeout=30)
        conn.request("GET", "/v1/batches/%s/archive" % bid,
                     headers={"Authorization": "Bearer " + self.k.token})
        r = conn.getresponse()
        got = 0
        while True:
            chunk = r.read(4096)
            if not chunk:
                break
            got += len(chunk)
            time.sleep(0.002)
        conn.close()
        return got

    def settle(self, result, bid, ok_states, before, cut=False):
        """Narrows what bid may be once the request's answer is known."""
        r = result()
        if r is None:
            check(cut, "a request failed without a kill")
            return                    # cut by the kill: before or after, both allowed
        if r.status == 200:
            self.batches[bid]["allowed"] = set(ok_states) | {r.json()["state"]}
        else:
            check(r.status == 409, "control: %r" % r)
            self.batches[bid]["allowed"] = before

    def kill(self, moment):
        self.k.kill9()
        self.kills += 1
        self.moments[moment] += 1
        self.log("kill %d at %s" % (self.kills, moment))

    # -- checks -------------------------------------------------------------------

    def calls(self):
        try:
            with open(self.k.call_log) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def dead_checks(self):
        d = self.k.data_dir
        snapshot_checks(d)
        db = sqlite3.connect(os.path.join(d, "kiln.db"), timeout=30)
        try:
            rows = db.execute("SELECT b.id, i.id, i.state, i.staged, i.ext, i.bytes, i.crc32"
                              " FROM images i JOIN batches b ON b.seq = i.batch_seq").fetchall()
            batches = dict(db.execute("SELECT id, state FROM batches").fetchall())
            names = dict(db.execute("SELECT name, id FROM batches").fetchall())
            nrows = dict(db.execute("SELECT b.id, count(*) FROM batch_rows r JOIN batches b"
                                    " ON b.seq = r.batch_seq GROUP BY b.id").fetchall())
        finally:
            db.close()
        lines = len(self.calls())
        final = {}
        for bid, iid, state, staged, ext, nbytes, crc in rows:
            if state == "done":
                p = os.path.join(d, "images", bid, "%s.%s" % (iid, ext))
                with open(p, "rb") as f:
                    check(zlib.crc32(f.read()) == crc, "CRC of %s" % p)
            if state == "done" or (state == "running" and staged):
                final[(bid, iid)] = True
                self.done_at_line.setdefault(iid, lines)
            else:
                check(iid not in self.ever_done, "image %s was done, now %s" % (iid, state))
        self.ever_done |= {iid for (_, iid) in final}
        for bid in os.listdir(os.path.join(d, "images")) if os.path.isdir(os.path.join(d, "images")) else []:
            for fn in os.listdir(os.path.join(d, "images", bid)):
                if fn.startswith(".") and fn.endswith(".tmp"):
                    continue          # a write the kill cut: never counted, removed at start
                iid = fn.split(".")[0]
                check((bid, iid) in final, "orphan file %s/%s" % (bid, fn))
        # uploads: all or nothing
        for name, want in self.uploads.items():
            bid = names.get(name)
            if bid is None:
                continue
            check(nrows.get(bid) == want, "upload %s has %s rows of %d" % (name, nrows.get(bid), want))
            if bid not in self.batches:
                self.batches[bid] = {"allowed": {"draft"}, "rows": want, "name": name}
        for bid, v in self.batches.items():
            st = batches.get(bid)
            self.states_seen.add(st)
            allowed = set(v["allowed"])
            if allowed & {"queued", "running"}:
                allowed |= {"queued", "running", "completed"}
            if "stopping" in allowed:
                allowed.add("stopped")
            check(st in allowed, "batch %s is %s, allowed %s" % (bid, st, sorted(allowed)))
        self.checks += 1

    def after_restart(self):
        for bid, v in self.batches.items():
            st = self.state(bid)
            check(st != "stopping" or "queued" in v["allowed"],
                  "batch %s still stopping after a restart" % bid)
            if st == "stopped" and "stopping" in v["allowed"]:
                v["allowed"] = {"stopped"}
            self.states_seen.add(st)

    def finish(self):
        k = self.k
        for bid in sorted(self.batches):
            st = self.state(bid)
            if st == "draft":
                r = self.req("POST", "/v1/batches/%s/start" % bid, body={"webhook_url": self.receiver.url})
                check(r.status == 200, "start: %r" % r)
            elif st in ("stopped", "stopping"):
                k.wait_state(bid, "stopped", timeout=30)
                r = k.resume_batch(bid)
                check(r.status == 200, "resume: %r" % r)
        images = failed = 0
        for bid in sorted(self.batches):
            b = k.wait_state(bid, ("completed", "failed"), timeout=300)
            self.states_seen.add(b["state"])
            check(b["state"] == "completed", "batch %s %s: %s" % (bid, b["state"], b.get("error")))
            rows = self.req("GET", "/v1/batches/%s/rows?limit=500" % bid).json()["rows"]
            want_failed = sum(len(r["images"]) for r in rows if "[[kiln:fail]]" in r["fields"]["prompt"])
            check(b["images_failed"] == want_failed, "batch %s failed %d of %d" %
                  (bid, b["images_failed"], want_failed))
            check(b["images_done"] + b["images_failed"] == b["images_total"], "batch %s counts" % bid)
            images += b["images_done"]
            failed += b["images_failed"]
            r = self.req("GET", "/v1/batches/%s/archive" % bid)
            check(r.status == 200, "archive: %r" % r)
            zpath = os.path.join(os.path.dirname(k.data_dir), "a.zip")
            with open(zpath, "wb") as f:
                f.write(r.body)
            with zipfile.ZipFile(zpath) as z:
                check(z.testzip() is None, "archive of %s damaged" % bid)
                check(len(z.namelist()) == b["images_done"] + 1, "archive of %s: %d entries" %
                      (bid, len(z.namelist())))
        # every webhook delivery made, at least once each
        deadline = time.monotonic() + 120
        db_path = os.path.join(k.data_dir, "kiln.db")
        while True:
            db = sqlite3.connect(db_path, timeout=30)
            try:
                outbox = db.execute("SELECT state, count(*) FROM webhook_outbox GROUP BY state").fetchall()
            finally:
                db.close()
            outbox = dict(outbox)
            if set(outbox) <= {"delivered"}:
                break
            check(time.monotonic() < deadline, "webhook deliveries left: %r" % outbox)
            time.sleep(0.2)
        with self.receiver.lock:
            received = dict(self.receiver.deliveries)
        check(len(received) == outbox.get("delivered", 0), "deliveries received %d, outbox %d" %
              (len(received), outbox.get("delivered", 0)))
        # nothing made twice: no engine call of an image after it was done or staged
        calls = self.calls()
        for i, iid in enumerate(calls):
            check(i < self.done_at_line.get(iid, len(calls) + 1),
                  "image %s made again after it was done" % iid)
        extra = len(calls) - len(set(calls))
        # a call cut by a kill or cancelled by a stop is made again: at most one per worker each
        check(extra <= (self.kills + self.stops) * WORKERS, "%d extra engine calls for %d kills and"
              " %d stops" % (extra, self.kills, self.stops))
        check(len(set(calls)) == images + failed, "%d images called, %d made or failed" %
              (len(set(calls)), images + failed))
        check(k.stop() == 0, "kilnd did not stop cleanly on SIGTERM")
        snapshot_checks(k.data_dir)
        log = k.log()
        check("Sanitizer:" not in log and "runtime error:" not in log, "a sanitizer report in the log")
        self.checks += 1
        return images, failed, extra, len(received), sum(received.values())

    def run(self):
        t0 = time.monotonic()
        self.k.start()
        try:
            for _ in range(3):
                self.upload()
            while self.kills < self.kills_wanted:
                self.round()
            images, failed, extra, hooks, hook_posts = self.finish()
        finally:
            if self.k.proc:
                self.k.kill9()
            self.receiver.close()
        took = time.monotonic() - t0
        restart = sorted(self.restart_ms)
        moments = " ".join("%s=%d" % (m, self.moments[m]) for m in MOMENTS)
        print("soak: seed=%d kills=%d (%s) checks=%d passed, batches=%d images=%d failed_rows_images=%d"
              " stops=%d extra_calls=%d webhooks=%d (posts %d) states=%s restart_ms median=%.0f max=%.0f"
              " took=%.1fs" % (self.seed, self.kills, moments, self.checks, len(self.batches), images,
                               failed, self.stops, extra, hooks, hook_posts, ",".join(sorted(s for s in self.states_seen if s)),
                               restart[len(restart) // 2], restart[-1], took), flush=True)
        return took


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--kilnd", default=os.environ.get("KILND") or os.path.join(
        os.path.dirname(os.path.dirname(HERE)), "build", "kilnd"))
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    seed = a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big")
    print("soak: seed=%d (replay: /usr/bin/python3 tests/soak/soak.py --kills %d --seed %d)" %
          (seed, a.kills, seed), flush=True)
    work = tempfile.mkdtemp(prefix="kiln-soak-")
    c = Campaign(os.path.abspath(a.kilnd), seed, a.kills, work, a.verbose)
    try:
        c.run()
    except (Failure, AssertionError) as e:
        print("soak: FAILED after %d kills (seed=%d): %r\nlog: %s" % (c.kills, seed, e, c.k.log_path),
              flush=True)
        return 1
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
