"""
conftest.py — the end-to-end harness: a real kilnd on a free port with a
temporary data dir, driven over real HTTP.

Each test that takes the `kiln` fixture gets its own daemon (start-up takes a
few milliseconds), so tests never see each other's batches.  `Kilnd` can be
stopped, killed with SIGKILL and started again on the same data dir, which is
how the crash tests work.  Only the standard library is used (http.client,
json, zipfile), so the tests need nothing beyond Debian's python3-pytest.

The binary is $KILND (the Makefile sets it; the sanitizer build runs the
same tests), else ./build/kilnd.
"""
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILND = os.environ.get("KILND", os.path.join(ROOT, "build", "kilnd"))
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
EXAMPLES = os.path.join(ROOT, "examples")
# `make check-valgrind`: KILND_WRAPPER is a command put before kilnd (valgrind and its
# flags; a valgrind wrapper gets a --log-file of its own per start, checked at
# teardown), and KILN_TIMEOUT_FACTOR scales the harness's waits for the slower daemon.
WRAPPER = shlex.split(os.environ.get("KILND_WRAPPER", ""))
TIMEOUT_FACTOR = float(os.environ.get("KILN_TIMEOUT_FACTOR", "1"))


def scaled(seconds):
    """A test's time limit, scaled by KILN_TIMEOUT_FACTOR (1 unless under valgrind)."""
    return seconds * TIMEOUT_FACTOR


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Kilnd:
    """One kilnd process on its own data dir and port."""

    started = []    # every Kilnd of the running test, for valgrind_check()

    def __init__(self, data_dir, args=(), env=None):
        Kilnd.started.append(self)
        self.data_dir = str(data_dir)
        self.args = list(args)
        self.env = env
        self.proc = None
        self.port = None
        self.token = None
        self.log_path = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".log")
        self.call_log = os.path.join(self.data_dir, "..", os.path.basename(self.data_dir) + ".calls")

    def start(self, extra=()):
        os.makedirs(self.data_dir, exist_ok=True)
        for attempt in range(5):
            self.port = free_port()
            cmd = self.wrapper() + [KILND, "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.data_dir,
                   "--set", "builtin.call_log=" + self.call_log] + self.args + list(extra)
            env = dict(os.environ)
            env.update(self.env or {})
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
            log.close()
            if self.wait_ready():
                break
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        else:
            raise RuntimeError("kilnd did not start:\n" + self.log())
        with open(os.path.join(self.data_dir, "admin.token")) as f:
            self.token = f.read().strip()
        return self

    def wrapper(self):
        """KILND_WRAPPER's words; valgrind's own report goes to a file per start."""
        if not WRAPPER:
            return []
        if os.path.basename(WRAPPER[0]) != "valgrind":
            return list(WRAPPER)
        self.vg_logs = getattr(self, "vg_logs", [])
        path = "%s.vg%d" % (self.log_path, len(self.vg_logs))
        self.vg_logs.append(path)
        return WRAPPER[:1] + ["--log-file=" + path] + WRAPPER[1:]

    def valgrind_report(self):
        """What valgrind reported over every start of this kilnd ("" when clean): run
        quietly (-q), it writes only errors, so any text is one (SIGKILLed runs included)."""
        out = []
        for path in getattr(self, "vg_logs", []):
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                continue
            if text.strip():
                out.append("%s:\n%s" % (path, text))
        return "\n".join(out)

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                r = self.request("GET", "/healthz", auth=False, timeout=2)
                if r.status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(scaled(timeout))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("kilnd did not stop within %ss" % timeout)
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def request(self, method, path, body=None, headers=None, auth=True, timeout=30,
                token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=scaled(timeout))
        h = dict(headers or {})
        if auth:
            h["Authorization"] = "Bearer " + (token or self.token)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.getheaders(), data)
        finally:
            conn.close()

    # -- the API, one helper per route ------------------------------------------

    def upload(self, data, name="batch.csv", multipart=True, headers=None,
               content_type="text/csv", path="/v1/batches", method="POST"):
        if multipart:
            boundary = "kiln" + uuid.uuid4().hex
            body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                     "Content-Type: %s\r\n\r\n") % (boundary, name, content_type)).encode()
            body += data + ("\r\n--%s--\r\n" % boundary).encode()
            h = {"Content-Type": "multipart/form-data; boundary=" + boundary}
            h.update(headers or {})
            return self.request(method, path, body=body, headers=h)
        h = {"Content-Type": content_type}
        h.update(headers or {})
        sep = "&" if "?" in path else "?"
        return self.request(method, path + sep + "name=" + name, body=data, headers=h)

    def upload_ok(self, data, name="batch.csv", **kw):
        r = self.upload(data, name, **kw)
        assert r.status == 201, r
        return r.json()

    def batch(self, bid):
        r = self.request("GET", "/v1/batches/" + bid)
        assert r.status == 200, r
        return r.json()

    def start_batch(self, bid, body=None):
        return self.request("POST", "/v1/batches/%s/start" % bid, body=body)

    def stop_batch(self, bid):
        return self.request("POST", "/v1/batches/%s/stop" % bid)

    def resume_batch(self, bid):
        return self.request("POST", "/v1/batches/%s/resume" % bid)

    def wait_state(self, bid, states, timeout=60):
        if isinstance(states, str):
            states = (states,)
        deadline = time.monotonic() + scaled(timeout)
        b = None
        while time.monotonic() < deadline:
            b = self.batch(bid)
            if b["state"] in states:
                return b
            time.sleep(0.05)
        raise AssertionError("batch %s still %s after %ss, wanted %s" %
                             (bid, b and b["state"], timeout, states))

    def calls(self):
        """Engine calls per image id, from the built-in engine's call log."""
        counts = {}
        try:
            with open(self.call_log) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        counts[line] = counts.get(line, 0) + 1
        except FileNotFoundError:
            pass
        return counts


@pytest.fixture(autouse=True)
def valgrind_check():
    """Under valgrind (KILND_WRAPPER), fails the test whose kilnds valgrind reported on,
    those a test made with Kilnd() itself included."""
    Kilnd.started = []
    yield
    if WRAPPER:
        reports = [k.valgrind_report() for k in Kilnd.started]
        Kilnd.started = []
        assert not any(reports), "valgrind found errors in kilnd:\n" + "\n".join(reports)


@pytest.fixture
def make_kiln(tmp_path):
    """Factory: make_kiln(args=[...]) starts a kilnd; all are stopped at the end."""
    started = []

    def make(args=(), env=None, name=None):
        d = tmp_path / (name or ("data%d" % len(started)))
        k = Kilnd(d, args, env)
        started.append(k)
        return k.start()

    yield make
    for k in started:
        if k.proc and k.proc.poll() is None:
            rc = k.stop()
            assert rc == 0, "kilnd exited with %s on SIGTERM:\n%s" % (rc, k.log())
        log = k.log()
        # the sanitizer build reports to the log; any report fails the test
        assert "Sanitizer:" not in log, log
        assert "runtime error:" not in log, log


@pytest.fixture
def kiln(make_kiln):
    """A kilnd with the built-in engine at a small image size and no delay."""
    return make_kiln(["--set", "builtin.size=64", "--workers", "2"])


def stickers_csv():
    with open(os.path.join(EXAMPLES, "stickers.csv"), "rb") as f:
        return f.read()


def corpus_path(*parts):
    """A file of ../shared/corpus, or a skip naming it when the corpus is not there."""
    p = os.path.join(CORPUS, *parts)
    if not os.path.exists(p):
        pytest.skip("shared corpus not present (%s); skipped" % os.path.join(*parts))
    return p


# -- event streams, extra accounts, small batches -------------------------

class EventStream:
    """A client of GET /v1/events over http.client: next() gives one event at a time."""

    def __init__(self, kiln, last_id=None, token=None, query="", header=True, timeout=60):
        self.conn = http.client.HTTPConnection("127.0.0.1", kiln.port, timeout=timeout)
        h = {"Authorization": "Bearer " + (token or kiln.token)}
        path = "/v1/events" + query
        if last_id is not None:
            if header:
                h["Last-Event-ID"] = str(last_id)
            else:
                path += ("&" if "?" in path else "?") + "last_event_id=%s" % last_id
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.comments = 0

    def next(self):
        """The next event as {"id", "event", "data"}; comment lines are counted, not returned."""
        ev = {}
        data = []
        while True:
            line = self.resp.readline()
            if not line:
                raise EOFError("the event stream ended")
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data or "id" in ev:
                    ev["data"] = json.loads("\n".join(data)) if data else None
                    return ev
                continue
            if line.startswith(":"):
                self.comments += 1
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "id":
                ev["id"] = int(value)
            elif field == "event":
                ev["event"] = value
            elif field == "data":
                data.append(value)

    def until(self, pred, limit=10000):
        """Events up to and including the first for which pred(ev) is true."""
        out = []
        for _ in range(limit):
            ev = self.next()
            out.append(ev)
            if pred(ev):
                return out
        raise AssertionError("no matching event in %d" % limit)

    def close(self):
        self.conn.close()


def add_account(kiln, name="other", credits=0):
    """A second, non-admin account written straight into the store; returns its token."""
    import hashlib
    import sqlite3
    token = "kiln_" + uuid.uuid4().hex
    aid = uuid.uuid4().hex[:24]
    db = sqlite3.connect(os.path.join(kiln.data_dir, "kiln.db"), timeout=10)
    try:
        db.execute("INSERT INTO accounts (id, name, token_hash, is_admin, credits_available,"
                   " created_at) VALUES (?, ?, ?, 0, ?, 0)",
                   (aid, name, hashlib.sha256(token.encode()).hexdigest(), credits))
        db.execute("INSERT INTO ledger (account_id, kind, amount, at) VALUES (?, 'grant', ?, 0)",
                   (aid, credits))
        db.commit()
    finally:
        db.close()
    return token


def small_csv(n, num_images=1, prefix="p"):
    lines = ["prompt,visibility,num_images"]
    lines += ["%s %d,public,%d" % (prefix, i, num_images) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()
# -- the network engines against the fake upstream (tests/e2e/fake_upstream.py) --------------

ENGINE_KEY = "sk-kiln-SECRET-4242"


@pytest.fixture
def fake():
    """A fake Ideogram/OpenAI/AUTOMATIC1111 server on a free port, stopped at the end."""
    from fake_upstream import Fake
    f = Fake(ENGINE_KEY).start()
    yield f
    f.stop()


def engine_args(engine, base_url, *extra, workers=4, key=ENGINE_KEY):
    """kilnd's flags for a network engine against base_url, with fast retries for the tests."""
    args = ["--engine", engine, "--workers", str(workers),
            "--set", "%s.base_url=%s" % (engine, base_url),
            "--set", "%s.backoff_ms=20" % engine, "--set", "%s.max_backoff_ms=200" % engine,
            "--set", "%s.pool_retry_ms=400" % engine, "--set", "%s.timeout_ms=20000" % engine]
    if key is not None:
        args += ["--set", "%s.api_key=env:KILN_TEST_ENGINE_KEY" % engine]
    return args + list(extra)


def engine_env(key=ENGINE_KEY):
    return {"KILN_TEST_ENGINE_KEY": key}
