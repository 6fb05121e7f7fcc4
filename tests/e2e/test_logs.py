"""
test_logs.py — kilnd's log against a real kilnd: one event per line, each
HTTP request logged with the id it returns in X-Request-Id (the client's
own id when it sends a sane one), levels, and sd-daemon priority prefixes
instead of timestamps when stderr is the journal (JOURNAL_STREAM).
"""
import os
import re
import time

from conftest import Kilnd, small_csv

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) ")
JOURNAL = re.compile(r"^<([3467])>(debug|info |warn |error) ")


def test_request_ids_in_headers_and_log(kiln):
    r = kiln.request("GET", "/v1/account")
    rid = r.header("X-Request-Id")
    assert rid and re.match(r"^[0-9a-f]{16}$", rid), rid
    assert kiln.request("GET", "/v1/account").header("X-Request-Id") != rid
    mine = kiln.request("GET", "/v1/batches", headers={"X-Request-Id": "client-42.a_b"})
    assert mine.header("X-Request-Id") == "client-42.a_b"
    bad = kiln.request("GET", "/v1/batches", headers={"X-Request-Id": "x y\"z" * 10})
    assert re.match(r"^[0-9a-f]{16}$", bad.header("X-Request-Id"))
    err = kiln.request("GET", "/v1/batches/" + "1" * 24)
    assert err.status == 404 and err.header("X-Request-Id")
    unauth = kiln.request("GET", "/v1/batches", auth=False)
    assert unauth.status == 401 and unauth.header("X-Request-Id")
    # each access line is written once its answer is sent, by its own HTTP thread (so not
    # necessarily in the order of the requests): give them a moment
    deadline = time.monotonic() + 10
    while not all("req=%s GET" % h in kiln.log() for h in (
            rid, unauth.header("X-Request-Id"), err.header("X-Request-Id"), "client-42.a_b")):
        assert time.monotonic() < deadline, kiln.log()
        time.sleep(0.05)
    log = kiln.log()
    assert re.search(r"req=%s GET /v1/account -> 200 in \d+ ms" % rid, log), log
    assert "req=client-42.a_b GET /v1/batches -> 200" in log
    assert "req=%s GET /v1/batches/%s -> 404" % (err.header("X-Request-Id"), "1" * 24) in log
    assert "req=%s GET /v1/batches -> 401" % unauth.header("X-Request-Id") in log
    for line in log.splitlines():
        assert STAMPED.match(line), "not one event per line: %r" % line


def test_journald_priorities(tmp_path):
    k = Kilnd(tmp_path / "j", ["--set", "builtin.size=64", "--set", "max_attempts=1"])
    os.makedirs(k.data_dir)
    open(k.log_path, "ab").close()
    st = os.stat(k.log_path)
    k.env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
    k.start()
    try:
        b = k.upload_ok(b"prompt,visibility\n[[kiln:fail]] broken,public\n")
        k.start_batch(b["id"])
        k.wait_state(b["id"], "completed")
        rid = k.request("GET", "/v1/account").header("X-Request-Id")
        deadline = time.monotonic() + 10
        while "req=" + rid not in k.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert k.stop() == 0
    lines = k.log().splitlines()
    assert lines
    for line in lines:
        assert JOURNAL.match(line), "not a journal line: %r" % line
    assert any(line.startswith("<6>info  req=%s GET /v1/account" % rid) for line in lines)
    assert any(line.startswith("<4>warn ") and "failed" in line for line in lines), lines


def test_no_journal_prefix_when_stderr_is_elsewhere(tmp_path):
    """JOURNAL_STREAM inherited from a parent but naming another file: plain lines."""
    k = Kilnd(tmp_path / "n", ["--set", "builtin.size=64"], env={"JOURNAL_STREAM": "1:1"})
    k.start()
    try:
        k.upload_ok(small_csv(1))
    finally:
        assert k.stop() == 0
    for line in k.log().splitlines():
        assert STAMPED.match(line), line
