"""
test_webhooks.py — webhook deliveries against a real kilnd and a real
receiver (http.server in the test): signed with HMAC-SHA256, retried with
back-off after a 500, delivered after a kilnd restart from the durable
outbox, and the address guard (loopback and private ranges refused unless
webhooks.allow_private = true), both when a batch is started and when a
delivery is made.
"""
import hashlib
import hmac
import http.server
import json
import os
import sqlite3
import threading
import time

import pytest

from conftest import EventStream, small_csv

SECRET = "s3cret-for-tests"


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers from a plan."""

    def __init__(self):
        self.hits = []
        self.plan = []           # statuses to answer, in order; then default
        self.default = 200
        self.slow_seconds = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                if self.path == "/slow":
                    time.sleep(outer.slow_seconds)
                with outer.lock:
                    status = outer.plan.pop(0) if outer.plan else outer.default
                    outer.hits.append({"t": time.monotonic(), "path": self.path,
                                       "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body, "answered": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.hits) >= n:
                    return list(self.hits)
            time.sleep(0.05)
        raise AssertionError("%d webhook requests, wanted %d" % (len(self.hits), n))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hooked_kiln(make_kiln, extra=(), name=None):
    return make_kiln(["--set", "builtin.size=64", "--workers", "2",
                      "--set", "webhooks.allow_private=true",
                      "--set", "webhook_secret=" + SECRET] + list(extra), name=name)


def verify(hit, secret=SECRET):
    """The checks a receiver makes: both signatures, and a fresh timestamp."""
    h = hit["headers"]
    body = hit["body"]
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["x-kiln-signature"], want), h
    ts = h["x-kiln-timestamp"]
    assert abs(int(ts) - time.time()) < 300
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["x-kiln-timestamp-signature"], want)
    assert h["content-type"].startswith("application/json")
    return json.loads(body)


def test_signed_delivery_on_completion(make_kiln, receiver):
    k = hooked_kiln(make_kiln)
    s = EventStream(k)
    b = k.upload_ok(small_csv(3, 2))
    r = k.start_batch(b["id"], {"webhook_url": receiver.url()})
    assert r.status == 200, r
    assert r.json()["webhook_url"] == receiver.url()
    evs = s.until(lambda ev: ev["event"] == "batch.completed")
    hit = receiver.wait(1)[0]
    assert hit["path"] == "/hook"
    data = verify(hit)
    assert hit["headers"]["x-kiln-event"] == "batch.completed"
    assert int(hit["headers"]["x-kiln-event-id"]) == evs[-1]["id"]
    # the same JSON as the event's data
    assert data == evs[-1]["data"]
    assert data["id"] == b["id"] and data["state"] == "completed" and data["images_done"] == 6
    # a wrong key does not verify
    with pytest.raises(AssertionError):
        verify(hit, "another secret")
    time.sleep(1.5)
    assert len(receiver.hits) == 1, "delivered twice"


def test_stopped_batch_is_delivered(make_kiln, receiver):
    k = hooked_kiln(make_kiln, ["--set", "builtin.delay_ms=200"])
    b = k.upload_ok(small_csv(10, 2))
    assert k.start_batch(b["id"], {"webhook_url": receiver.url("/stopped")}).status == 200
    time.sleep(0.3)
    assert k.stop_batch(b["id"]).status == 200
    data = verify(receiver.wait(1)[0])
    assert data["state"] == "stopped" and data["id"] == b["id"]


def test_retries_with_backoff_after_500(make_kiln, receiver):
    receiver.plan = [500, 500]
    k = hooked_kiln(make_kiln)
    b = k.upload_ok(small_csv(1))
    assert k.start_batch(b["id"], {"webhook_url": receiver.url()}).status == 200
    hits = receiver.wait(3)
    assert [h["answered"] for h in hits] == [500, 500, 200]
    # the same delivery each time, re-signed; 1 s then 2 s apart at least
    assert len({h["headers"]["x-kiln-delivery"] for h in hits}) == 1
    assert len({h["body"] for h in hits}) == 1
    for h in hits:
        verify(h)
    assert hits[1]["t"] - hits[0]["t"] >= 0.9
    assert hits[2]["t"] - hits[1]["t"] >= 1.8
    time.sleep(1)
    assert len(receiver.hits) == 3
    m = k.request("GET", "/metrics", auth=False).body.decode()
    assert 'kiln_webhook_deliveries_total{result="retry"} 2' in m
    assert 'kiln_webhook_deliveries_total{result="delivered"} 1' in m


def outbox(k):
    db = sqlite3.connect(os.path.join(k.data_dir, "kiln.db"), timeout=10)
    try:
        return db.execute("SELECT state, attempts, last_status, last_error FROM webhook_outbox"
                          " ORDER BY seq").fetchall()
    finally:
        db.close()


def test_delivery_survives_a_restart(make_kiln, receiver):
    receiver.default = 503
    k = hooked_kiln(make_kiln)
    b = k.upload_ok(small_csv(2))
    assert k.start_batch(b["id"], {"webhook_url": receiver.url()}).status == 200
    first = receiver.wait(1)[0]
    assert k.stop() == 0
    assert outbox(k)[0][0] == "pending"
    receiver.default = 200
    k.start()
    hits = receiver.wait(2)
    assert hits[-1]["answered"] == 200
    assert hits[-1]["headers"]["x-kiln-delivery"] == first["headers"]["x-kiln-delivery"]
    assert verify(hits[-1])["id"] == b["id"]
    deadline = time.monotonic() + 10
    while outbox(k)[0][0] != "delivered" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox(k)[0][0] == "delivered"


def test_private_addresses_refused_at_start(make_kiln):
    k = make_kiln(["--set", "builtin.size=64"])
    b = k.upload_ok(small_csv(1))
    refused = {
        "http://127.0.0.1:9/hook": "loopback",
        "http://localhost/hook": "loopback",
        "http://[::1]:8080/": "loopback",
        "http://10.1.2.3/": "private",
        "http://192.168.0.10/": "private",
        "http://172.16.5.4/": "private",
        "http://169.254.169.254/latest/meta-data": "link-local",
        "http://[fe80::1]/": "link-local",
        "http://[fd00::1]/": "private",
        "http://0.0.0.0/": "unspecified",
        "http://224.0.0.1/": "multicast",
        "http://[::ffff:127.0.0.1]/": "loopback",
        "http://100.64.0.1/": "shared",
    }
    for url, kind in refused.items():
        r = k.start_batch(b["id"], {"webhook_url": url})
        assert r.status == 400, (url, r)
        msg = r.json()["error"]["message"]
        assert kind in msg and "webhooks.allow_private" in msg, (url, msg)
    for url in ("ftp://example.com/x", "http://user:pw@example.com/", "not a url", "http://"):
        r = k.start_batch(b["id"], {"webhook_url": url})
        assert r.status == 400, (url, r)
    assert k.batch(b["id"])["state"] == "draft"


def test_allow_private_and_guard_at_delivery(make_kiln, receiver, tmp_path):
    """Allowed by the config at start; the config changes before the delivery: refused then."""
    receiver.default = 500
    k = hooked_kiln(make_kiln, name="guard")
    b = k.upload_ok(small_csv(1))
    assert k.start_batch(b["id"], {"webhook_url": receiver.url()}).status == 200
    receiver.wait(1)
    assert k.stop() == 0
    k.start(["--set", "webhooks.allow_private=false"])      # the later flag wins
    deadline = time.monotonic() + 15
    while outbox(k)[0][0] == "pending" and time.monotonic() < deadline:
        time.sleep(0.1)
    state, attempts, status, error = outbox(k)[0]
    assert state == "failed" and "loopback" in error, outbox(k)
    n = len(receiver.hits)
    time.sleep(1.5)
    assert len(receiver.hits) == n == 1
    assert "refused" in k.log()


def test_gives_up_after_retry_seconds(make_kiln, receiver):
    receiver.default = 500
    k = hooked_kiln(make_kiln, ["--set", "webhooks.retry_seconds=2"])
    b = k.upload_ok(small_csv(1))
    assert k.start_batch(b["id"], {"webhook_url": receiver.url()}).status == 200
    deadline = time.monotonic() + 20
    while (not outbox(k) or outbox(k)[0][0] == "pending") and time.monotonic() < deadline:
        time.sleep(0.1)
    state, attempts, status, error = outbox(k)[0]
    assert state == "failed" and status == 500 and "500" in error
    # attempts at 0 s and 1 s; the next (at 3 s) would be past the 2 s allowed
    assert attempts == 2 and len(receiver.hits) == 2
    time.sleep(2)
    assert len(receiver.hits) == 2
    m = k.request("GET", "/metrics", auth=False).body.decode()
    assert 'kiln_webhook_deliveries_total{result="gave_up"} 1' in m
    assert "giving up" in k.log()


def test_a_hanging_receiver_does_not_hold_up_others(make_kiln, receiver):
    receiver.slow_seconds = 12
    k = hooked_kiln(make_kiln, ["--set", "webhooks.timeout_seconds=10"])
    slow = k.upload_ok(small_csv(1, 1, "slow"))
    fast = k.upload_ok(small_csv(1, 1, "fast"))
    t0 = time.monotonic()
    assert k.start_batch(slow["id"], {"webhook_url": receiver.url("/slow")}).status == 200
    k.wait_state(slow["id"], "completed")
    assert k.start_batch(fast["id"], {"webhook_url": receiver.url("/fast")}).status == 200
    hit = receiver.wait(1, timeout=30)[0]
    # the fast one arrives while the slow receiver still holds its request
    assert hit["path"] == "/fast" and verify(hit)["id"] == fast["id"]
    assert hit["t"] - t0 < 8
