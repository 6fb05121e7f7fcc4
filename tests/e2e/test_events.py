"""
test_events.py — GET /v1/events against a real kilnd: the caller's own
batch events in order, heartbeats, Last-Event-ID resumption after a
reconnect and after a kilnd restart (nothing missed, nothing twice), and
500 clients connected at once, each receiving the completion.
"""
import os
import resource
import selectors
import socket
import time

import pytest

from conftest import EventStream, add_account, small_csv, stickers_csv


def is_done(bid):
    return lambda ev: ev["data"]["id"] == bid and ev["event"] in (
        "batch.completed", "batch.failed", "batch.stopped")


def check_progress(events, bid, total):
    """Every image settled is reported once, in order: settled counts 1..total, no gap
    (the last one by batch.completed)."""
    ids = [ev["id"] for ev in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
    settled = [ev["data"]["images_done"] + ev["data"]["images_failed"] for ev in events
               if ev["data"]["id"] == bid and ev["event"] in ("batch.progress", "batch.completed")]
    settled = [s for s in settled if s > 0]
    assert settled == list(range(1, total + 1)), settled


def test_stream_shows_own_batch_in_order(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--workers", "2"])
    other = add_account(k)
    mine = EventStream(k)
    theirs = EventStream(k, token=other)
    everyone = EventStream(k, query="?scope=all")
    assert mine.status == 200 and theirs.status == 200 and everyone.status == 200
    assert mine.resp.getheader("Content-Type").startswith("text/event-stream")
    assert mine.resp.getheader("X-Request-Id")
    # the other account's draft first: the admin's own stream must not show it
    ob = k.request("POST", "/v1/batches?name=o.csv", body=small_csv(2),
                   headers={"Content-Type": "text/csv"}, token=other)
    assert ob.status == 201, ob
    ob = ob.json()
    b = k.upload_ok(stickers_csv(), "stickers.csv")
    assert k.start_batch(b["id"]).status == 200
    evs = mine.until(is_done(b["id"]))
    assert all(ev["data"]["id"] == b["id"] for ev in evs), "another account's batch leaked"
    assert [ev["event"] for ev in evs[:2]] == ["batch.created", "batch.started"]
    assert evs[-1]["event"] == "batch.completed"
    last = evs[-1]["data"]
    assert last["state"] == "completed" and last["images_done"] == 48 and last["progress"] == 1
    assert last["credits_charged"] == 96
    check_progress(evs, b["id"], 48)
    # the other account sees its own batch only
    ev = theirs.next()
    assert ev["event"] == "batch.created" and ev["data"]["id"] == ob["id"]
    # the admin's scope=all sees both, in order
    seen = everyone.until(is_done(b["id"]))
    assert [e["data"]["id"] for e in seen[:2]] == [ob["id"], b["id"]]
    # and a non-admin may not ask for every account
    assert EventStream(k, token=other, query="?scope=all").status == 403
    for s in (mine, theirs, everyone):
        s.close()


def test_heartbeats_and_bad_ids(make_kiln):
    k = make_kiln(["--set", "events.heartbeat_seconds=1"])
    s = EventStream(k)
    s.resp.fp.raw._sock.settimeout(10)
    deadline = time.monotonic() + 30
    while s.comments < 4 and time.monotonic() < deadline:
        line = s.resp.readline()
        if line.startswith(b":"):
            s.comments += 1
    assert s.comments >= 4, "no heartbeats"
    s.close()
    assert EventStream(k, last_id="abc").status == 400
    assert EventStream(k, last_id="-1", header=False).status == 400
    r = k.request("GET", "/v1/events", auth=False)
    assert r.status == 401


def watch_stickers(make_kiln, delay_ms, until_done):
    """A kilnd making stickers.csv slowly, and a stream read until images_done >= until_done."""
    k = make_kiln(["--set", "builtin.size=64", "--workers", "2",
                   "--set", "builtin.delay_ms=%d" % delay_ms])
    s = EventStream(k)
    b = k.upload_ok(stickers_csv(), "stickers.csv")
    k.start_batch(b["id"])
    got = s.until(lambda ev: ev["event"] == "batch.progress"
                  and ev["data"]["images_done"] >= until_done)
    return k, s, b, got


def restart_and_resume(k, s, b, got, end):
    """Ends kilnd with end() under the stream s, reads what s still gives, starts kilnd
    again and follows the batch from the last id received; returns every event."""
    assert end()
    with pytest.raises((EOFError, OSError)):
        while True:
            got.append(s.next())
    s.close()
    k.start()
    s = EventStream(k, last_id=got[-1]["id"])
    got += s.until(is_done(b["id"]))
    s.close()
    return got


def test_reconnect_with_last_event_id_misses_nothing(make_kiln):
    k, s, b, got = watch_stickers(make_kiln, 20, 10)
    s.close()
    time.sleep(0.3)          # events go on while nobody listens
    s = EventStream(k, last_id=got[-1]["id"])
    got += s.until(lambda ev: ev["event"] == "batch.progress" and ev["data"]["images_done"] >= 30)
    s.close()
    s = EventStream(k, last_id=got[-1]["id"], header=False)     # ?last_event_id=
    got += s.until(is_done(b["id"]))
    s.close()
    check_progress(got, b["id"], 48)
    # a replay of everything from the start gives exactly what the three connections gave
    full = EventStream(k, last_id=0).until(is_done(b["id"]))
    assert [(e["id"], e["data"]) for e in full] == [(e["id"], e["data"]) for e in got]


def test_resume_across_a_restart(make_kiln):
    k, s, b, got = watch_stickers(make_kiln, 40, 8)
    # kilnd goes away under the client (its stream ends) and comes back on another port
    got = restart_and_resume(k, s, b, got, lambda: k.stop() == 0)
    assert got[-1]["event"] == "batch.completed"
    check_progress(got, b["id"], 48)
    full = EventStream(k, last_id=0).until(is_done(b["id"]))
    assert [e["id"] for e in full] == [e["id"] for e in got]


def test_500_concurrent_streams(make_kiln):
    n = 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 200
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip("the open-file limit (%d) is below %d" % (hard, need))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    k = make_kiln(["--set", "builtin.size=64", "--workers", "2"])
    request = ("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
               % k.token).encode()
    sel = selectors.DefaultSelector()
    bufs = {}
    socks = []
    try:
        for _ in range(n):
            c = socket.create_connection(("127.0.0.1", k.port), timeout=30)
            c.sendall(request)
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ)
            bufs[c] = b""
            socks.append(c)

        def pump(done, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if all(done(v) for v in bufs.values()):
                    return
                for key, _ in sel.select(timeout=1):
                    try:
                        data = key.fileobj.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(key.fileobj)
                        continue
                    bufs[key.fileobj] += data
            missing = sum(1 for v in bufs.values() if not done(v))
            raise AssertionError("%d of %d streams did not get there" % (missing, n))

        pump(lambda v: b": connected" in v, 60)
        assert all(v.startswith(b"HTTP/1.1 200") for v in bufs.values())
        fd_dir = "/proc/%d/fd" % k.proc.pid
        sockets = 0
        for fd in os.listdir(fd_dir):
            try:
                sockets += os.readlink(os.path.join(fd_dir, fd)).startswith("socket:")
            except OSError:
                pass                       # closed meanwhile
        assert sockets >= n + 1            # the clients' and the listening one
        m = k.request("GET", "/metrics", auth=False).body.decode()
        assert "kiln_event_stream_clients %d" % n in m
        b = k.upload_ok(small_csv(2), "two.csv")
        assert k.start_batch(b["id"]).status == 200
        pump(lambda v: b"event: batch.completed" in v, 120)
        for v in bufs.values():
            assert b["id"].encode() in v
            assert v.count(b"event: batch.created") == 1
    finally:
        for c in socks:
            c.close()
        sel.close()


def test_stop_resume_and_failure_events(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--workers", "2", "--set", "builtin.delay_ms=100"])
    s = EventStream(k)
    b = k.upload_ok(small_csv(10, 2))
    k.start_batch(b["id"])
    s.until(lambda ev: ev["event"] == "batch.progress" and ev["data"]["images_done"] >= 1)
    assert k.stop_batch(b["id"]).status == 200
    evs = s.until(lambda ev: ev["event"] == "batch.stopped")
    assert evs[-1]["data"]["state"] == "stopped"
    assert all(ev["data"]["state"] in ("running", "stopping", "stopped") for ev in evs)
    assert k.resume_batch(b["id"]).status == 200
    ev = s.next()
    assert ev["event"] == "batch.started" and ev["data"]["state"] == "queued"
    s.until(is_done(b["id"]))
    bad = k.upload_ok(b"prompt,visibility\n[[kiln:fatal]] x,public\n")
    k.start_batch(bad["id"])
    evs = s.until(is_done(bad["id"]))
    assert evs[-1]["event"] == "batch.failed" and evs[-1]["data"]["state"] == "failed"
    assert evs[-1]["data"]["error"]
    s.close()


def test_old_events_are_pruned(make_kiln):
    import sqlite3
    k = make_kiln(["--set", "builtin.size=64", "--set", "events.retention_days=1"])
    b = k.upload_ok(small_csv(1))
    k.start_batch(b["id"])
    k.wait_state(b["id"], "completed")
    k.stop()
    db = sqlite3.connect(os.path.join(k.data_dir, "kiln.db"))
    n = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert n >= 4
    # the two oldest events are made two days old; the next start prunes them
    db.execute("UPDATE events SET at = at - 2 * 86400000 WHERE id IN"
               " (SELECT id FROM events ORDER BY id LIMIT 2)")
    db.commit()
    db.close()
    k.start()
    deadline = time.monotonic() + 10
    while "pruned 2 event(s)" not in k.log():
        assert time.monotonic() < deadline, k.log()
        time.sleep(0.05)
    ids = [ev["id"] for ev in EventStream(k, last_id=0).until(is_done(b["id"]))]
    assert ids == list(range(3, n + 1))


def test_kill9_loses_no_event(make_kiln):
    """Events are committed with their changes: after kill -9 the stream still tells all."""
    import sqlite3
    k, s, b, got = watch_stickers(make_kiln, 30, 6)
    got = restart_and_resume(k, s, b, got, lambda: k.kill9() or True)
    check_progress(got, b["id"], 48)
    db = sqlite3.connect(os.path.join(k.data_dir, "kiln.db"))
    try:
        state, done = db.execute("SELECT state, images_done FROM batches WHERE id = ?",
                                 (b["id"],)).fetchone()
        data = db.execute("SELECT data FROM events WHERE batch_id = ? ORDER BY id DESC LIMIT 1",
                          (b["id"],)).fetchone()[0]
    finally:
        db.close()
    assert (state, done) == ("completed", 48)
    assert '"state":"completed"' in data and '"images_done":48' in data
