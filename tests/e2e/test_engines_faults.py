"""
test_engines_faults.py — kilnd's network engines when the service misbehaves:
retries with back-off (Retry-After honoured), timeouts, the limit on calls in
flight and per minute, stop cancelling calls in flight, a 999-image batch
under a 20 % fault rate, permanent failures per row and refunded, a dead
server in a pool routed around, a wrong key failing the batch at once and
never shown, images that are not what they claim.  A real kilnd against the
fake upstream (fake_upstream.py), which counts the calls in flight itself.
"""
import io
import os
import time
import zipfile

from conftest import ENGINE_KEY, TIMEOUT_FACTOR, engine_args, engine_env
from fake_upstream import Fake
from test_control import db_checks, image_files


def csv_rows(n, num_images=1, prefix="p", extra=""):
    head = "prompt,visibility,num_images" + ("," + extra.split("=")[0] if extra else "")
    tail = ("," + extra.split("=")[1]) if extra else ""
    return ("\n".join([head] + ["%s %d,public,%d%s" % (prefix, i, num_images, tail)
                                for i in range(n)]) + "\n").encode()


def start(k, data):
    b = k.upload_ok(data)
    assert k.start_batch(b["id"]).status == 200
    return b["id"]


def settled(k, bid, timeout=10):
    """Waits until no image of the batch is running (a cancelled call settles a moment later)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = k.batch(bid)
        if b["images_running"] == 0:
            return b
        time.sleep(0.02)
    raise AssertionError("images still running: %r" % b)


def rows_of(k, bid):
    return k.request("GET", "/v1/batches/%s/rows?limit=500" % bid).json()["rows"]


def test_transient_faults_retried_with_backoff(make_kiln, fake):
    # the faults use up one call's five attempts (retries = 4); the scheduler's back-off
    # follows, then the next call succeeds
    fake.script = ["429", "500", "503", "reset", "truncated", "badjson"]
    fake.retry_after = "1"
    k = make_kiln(engine_args("ideogram", fake.url, "--set", "ideogram.retries=4", workers=1),
                  env=engine_env())
    bid = start(k, csv_rows(1, num_images=2))
    done = k.wait_state(bid, "completed", timeout=30)
    assert done["images_done"] == 2 and done["images_failed"] == 0
    reqs = fake.of("ideogram")
    assert [q.get("fault") for q in reqs] == ["429", "500", "503", "reset", "truncated", "badjson",
                                              None]
    # Retry-After: 1 was honoured before the second attempt
    assert reqs[1]["start"] - reqs[0]["end"] >= 0.9, [(q["start"], q.get("end"), q.get("fault")) for q in reqs]
    # libcurl itself resends a request whose reused connection was reset, so the reset and
    # the truncated answer are one attempt; then the scheduler's back-off (1 s) before the
    # next call
    assert reqs[6]["start"] - reqs[5]["end"] >= 0.9
    rows = rows_of(k, bid)
    assert rows[0]["state"] == "done" and rows[0]["attempts"] == 2
    assert fake.downloads == 2
    k.stop()
    db_checks(k.data_dir)


def test_hung_call_times_out_and_is_retried(make_kiln, fake):
    fake.script = ["hang"]
    k = make_kiln(engine_args("a1111", fake.url, "--set", "a1111.timeout_ms=600", key=None,
                              workers=1))
    bid = start(k, csv_rows(1))
    done = k.wait_state(bid, "completed", timeout=30)
    assert done["images_done"] == 1
    reqs = fake.of("a1111")
    assert len(reqs) == 2 and reqs[1]["start"] - reqs[0]["start"] >= 0.5


def test_limit_on_calls_in_flight(make_kiln, fake):
    fake.latency = 0.15
    k = make_kiln(engine_args("a1111", fake.url, "--set", "a1111.max_in_flight=3", key=None,
                              workers=8))
    bid = start(k, csv_rows(24))
    done = k.wait_state(bid, "completed", timeout=60)
    assert done["images_done"] == 24
    assert len(fake.of("a1111")) == 24
    assert fake.max_in_flight == 3, fake.max_in_flight


def test_429_halves_calls_in_flight_and_honours_retry_after(make_kiln, fake):
    fake.latency = 0.3
    fake.retry_after = "1"
    fake.script = ["429"]
    k = make_kiln(engine_args("a1111", fake.url, "--set", "a1111.max_in_flight=4", key=None,
                              workers=4))
    bid = start(k, csv_rows(12))
    done = k.wait_state(bid, "completed", timeout=60)
    assert done["images_done"] == 12
    reqs = sorted(fake.of("a1111"), key=lambda q: q["start"])
    t429 = [q for q in reqs if q.get("fault") == "429"][0]["end"]
    # no call began in the second after the 429 answer, and fewer than 4 at once right after it
    later = [q for q in reqs if q["start"] > t429]
    assert later and min(q["start"] for q in later) - t429 >= 0.9
    first = min(q["start"] for q in later)
    at_once = [q for q in later if q["start"] < first + 0.1]
    assert len(at_once) <= 3, len(at_once)


def test_calls_per_minute(make_kiln, fake):
    k = make_kiln(engine_args("a1111", fake.url, "--set", "a1111.calls_per_minute=600", key=None,
                              workers=4))
    bid = start(k, csv_rows(8))
    k.wait_state(bid, "completed", timeout=30)
    starts = sorted(q["start"] for q in fake.of("a1111"))
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    # one call per 100 ms: kilnd sends call j at least 100 ms * (j - i) after call i, and
    # the fake sees a call arrive a little after it is sent: up to 60 ms here, up to 200 ms
    # under valgrind (KILN_TIMEOUT_FACTOR > 1; a call that opens a connection is the latest).
    # So call j arrives at least 100 ms * (j - i) - late after call i; without the limit all 8
    # would arrive within a few ms
    late = 0.06 if TIMEOUT_FACTOR == 1 else 0.2
    assert len(starts) == 8, starts
    for i in range(8):
        for j in range(i + 1, 8):
            assert starts[j] - starts[i] >= 0.1 * (j - i) - late, (i, j, gaps)


def test_stop_cancels_calls_in_flight_within_a_second(make_kiln, fake):
    fake.latency = 30
    k = make_kiln(engine_args("ideogram", fake.url, workers=4), env=engine_env())
    bid = start(k, csv_rows(8, num_images=2))
    deadline = time.monotonic() + 10
    while fake.in_flight < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.in_flight == 4
    t0 = time.monotonic()
    r = k.stop_batch(bid)
    assert r.status == 200
    stopped = k.wait_state(bid, "stopped", timeout=5)
    assert time.monotonic() - t0 < 1.0, "stop took %.2fs" % (time.monotonic() - t0)
    assert stopped["images_running"] == 0 and stopped["images_done"] == 0
    assert stopped["credits_reserved"] == 0
    assert k.request("GET", "/v1/account").json()["credits_available"] == 100000
    fake.latency = 0
    assert k.resume_batch(bid).status == 200
    done = k.wait_state(bid, "completed", timeout=30)
    assert done["images_done"] == 16 and len(image_files(k.data_dir, bid)) == 16
    assert len(fake.of("ideogram")) == 4 + 8        # the 4 cancelled calls, then one per row
    k.stop()
    db_checks(k.data_dir)


def test_999_images_under_20_percent_faults(make_kiln, fake):
    fake.fault_rate = 0.2
    fake.fault_kinds = ["429", "500", "503", "reset", "truncated", "badjson"]
    fake.retry_after = "0"
    k = make_kiln(engine_args("ideogram", fake.url, workers=12), env=engine_env())
    bid = start(k, csv_rows(333, num_images=3))
    done = k.wait_state(bid, ("completed", "failed"), timeout=240)
    assert done["state"] == "completed"
    assert done["images_done"] == 999 and done["images_failed"] == 0
    faults = [q for q in fake.of("ideogram") if q.get("fault")]
    assert len(faults) > 30                         # the faults did happen
    assert len(image_files(k.data_dir, bid)) == 999
    assert done["credits_charged"] == 2 * 999
    k.stop()
    db_checks(k.data_dir)


def test_permanent_failures_fail_their_row_and_are_refunded(make_kiln, fake):
    # row 3 is refused (422, a safety refusal), row 4's first image is marked unsafe
    fake.script = [None, "safety", "unsafe", None]
    k = make_kiln(engine_args("ideogram", fake.url, workers=1), env=engine_env())
    data = b"prompt,visibility,num_images\nfine,public,2\nrefused,public,2\nunsafe,public,3\nok,public,1\n"
    bid = start(k, data)
    done = k.wait_state(bid, "completed", timeout=30)
    assert done["images_done"] == 5 and done["images_failed"] == 3
    assert len(fake.of("ideogram")) == 4             # nothing permanent was retried
    rows = rows_of(k, bid)
    assert [r["state"] for r in rows] == ["done", "failed", "failed", "done"]
    assert rows[1]["error"] == ("ideogram: the service refused this request: HTTP 422: Prompt failed"
                                " the safety check.  Try another.")
    assert rows[1]["attempts"] == 1
    unsafe = rows[2]["images"]
    assert [i["state"] for i in unsafe] == ["failed", "done", "done"]
    meta = k.request("GET", "/v1/images/" + unsafe[0]["id"]).json()
    assert "unsafe" in meta["error"]
    assert done["credits_charged"] == 10 and done["credits_reserved"] == 0
    acct = k.request("GET", "/v1/account").json()
    assert acct["credits_available"] == 100000 - 10 and acct["credits_reserved"] == 0
    k.stop()
    db_checks(k.data_dir)


def test_dead_server_in_pool_is_routed_around(make_kiln, fake):
    dead = Fake(ENGINE_KEY, name="dead").start()
    dead.dead = True
    closed = Fake(ENGINE_KEY).start()
    closed_url = closed.url
    closed.stop()                                   # nothing listens there any more
    try:
        pool = "%s,%s %s" % (dead.url, closed_url, fake.url)
        k = make_kiln(engine_args("openai", pool, "--set", "openai.pool_retry_ms=1500",
                                  "--set", "openai.retries=6", workers=4), env=engine_env())
        t0 = time.monotonic()
        bid = start(k, csv_rows(60))
        done = k.wait_state(bid, "completed", timeout=60)
        elapsed = time.monotonic() - t0
        assert done["images_done"] == 60 and done["images_failed"] == 0
        assert len(fake.of("openai")) == 60
        # round robin would have sent it a third; out of rotation, it gets at most one call
        # per worker each time it comes back (every 1.5 s)
        assert len(dead.requests) <= 4 * (elapsed / 1.5 + 1), (len(dead.requests), elapsed)
        assert len(dead.requests) < 20
        # once it answers again it is taken back into rotation
        dead.dead = False
        time.sleep(1.6)
        bid2 = start(k, csv_rows(12, prefix="again"))
        k.wait_state(bid2, "completed", timeout=60)
        assert [q for q in dead.requests if q.get("status") == 200]
    finally:
        dead.stop()


def secrets_absent(k, bid, secret):
    """The key is nowhere a user or an operator can see it."""
    assert secret not in k.log()
    for path in ("/v1/batches/" + bid, "/v1/batches/%s/rows" % bid, "/v1/batches",
                 "/v1/images", "/v1/account", "/healthz"):
        assert secret not in k.request("GET", path).body.decode("utf-8", "replace")
    r = k.request("GET", "/v1/batches/%s/archive" % bid)
    z = zipfile.ZipFile(io.BytesIO(r.body))
    assert secret not in z.read("manifest.csv").decode()


def test_wrong_key_fails_the_batch_at_once_and_is_never_shown(make_kiln, fake):
    wrong = "sk-wrong-KEY-777"
    k = make_kiln(engine_args("openai", fake.url, "--set", "log_level=debug", workers=3),
                  env=engine_env(wrong))
    bid = start(k, csv_rows(40, num_images=2))
    failed = k.wait_state(bid, ("failed", "completed"), timeout=30)
    assert failed["state"] == "failed"
    assert "refused the API key" in failed["error"] and "openai.api_key" in failed["error"]
    assert "[key]" in failed["error"]               # the service echoed it; kilnd removed it
    settled(k, bid)
    assert len(fake.of("openai")) <= 3              # not every row
    acct = k.request("GET", "/v1/account").json()
    assert acct["credits_available"] == 100000 and acct["credits_reserved"] == 0
    secrets_absent(k, bid, wrong)
    k.stop()
    db_checks(k.data_dir)


def test_key_never_logged_with_faults_at_debug_level(make_kiln, fake):
    fake.script = ["500", "429", "401"]
    fake.retry_after = "0"
    k = make_kiln(engine_args("ideogram", fake.url, workers=1),
                  env=engine_env())
    bid = start(k, csv_rows(3))
    k.wait_state(bid, ("failed", "completed"), timeout=30)
    secrets_absent(k, bid, ENGINE_KEY)
    assert fake.of("ideogram")[0]["headers"]["api-key"] == ENGINE_KEY


def test_missing_key_is_a_clear_start_error(tmp_path):
    import subprocess
    from conftest import KILND
    env = dict(os.environ)
    env.pop("IDEOGRAM_API_KEY", None)
    p = subprocess.run([KILND, "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:0",
                        "--engine", "ideogram"], env=env, capture_output=True, timeout=20)
    assert p.returncode != 0
    assert b"no API key" in p.stderr and b"IDEOGRAM_API_KEY" in p.stderr


def test_images_that_are_not_what_they_claim_are_retried(make_kiln, fake):
    fake.script = ["notimage", "badpng"]
    k = make_kiln(engine_args("ideogram", fake.url, "--set", "ideogram.retries=1", workers=1),
                  env=engine_env())
    bid = start(k, csv_rows(2))
    done = k.wait_state(bid, "completed", timeout=30)
    assert done["images_done"] == 2
    rows = rows_of(k, bid)
    assert [r["attempts"] for r in rows] == [2, 2]
    files = image_files(k.data_dir, bid)
    assert len(files) == 2 and all(f.endswith(".png") for f in files)


def test_jpeg_and_webp_kept_as_such(make_kiln, fake):
    k = make_kiln(engine_args("ideogram", fake.url, workers=1), env=engine_env())
    for fmt, ext, mime in (("jpeg", "jpg", "image/jpeg"), ("webp", "webp", "image/webp")):
        fake.image_format = fmt
        bid = start(k, csv_rows(1, extra="aspect_ratio=16:9"))
        k.wait_state(bid, "completed", timeout=30)
        img = rows_of(k, bid)[0]["images"][0]
        meta = k.request("GET", "/v1/images/" + img["id"]).json()
        assert meta["state"] == "done", (meta, k.log()[-2000:])
        assert meta.get("mime") == mime and (meta["width"], meta["height"]) == (64, 36)
        assert image_files(k.data_dir, bid) == [img["id"] + "." + ext]
        f = k.request("GET", "/v1/images/%s/file" % img["id"])
        assert f.status == 200 and f.header("Content-Type").startswith(mime)


def test_answers_are_size_capped(make_kiln, fake):
    fake.script = ["big"]
    k = make_kiln(engine_args("ideogram", fake.url, "--set", "ideogram.max_response=1M",
                              workers=1), env=engine_env())
    bid = start(k, csv_rows(2))
    done = k.wait_state(bid, "completed", timeout=30)
    assert done["images_done"] == 1 and done["images_failed"] == 1
    rows = rows_of(k, bid)
    assert rows[0]["state"] == "failed" and "larger than 1048576 bytes" in rows[0]["error"]


def test_wrong_base_url_fails_the_batch_at_once(make_kiln, fake):
    k = make_kiln(engine_args("openai", fake.url + "/not-the-api", workers=2), env=engine_env())
    bid = start(k, csv_rows(30))
    failed = k.wait_state(bid, ("failed", "completed"), timeout=30)
    assert failed["state"] == "failed"
    assert "HTTP 404" in failed["error"] and "check openai.base_url" in failed["error"]
    assert failed["images_done"] == 0
    assert 1 <= len(fake.of("unknown")) <= 2        # one call per worker, not one per row
    assert settled(k, bid)["credits_reserved"] == 0
    assert k.request("GET", "/v1/account").json()["credits_available"] == 100000


def test_kill9_with_multi_image_calls_in_flight(tmp_path, fake):
    # every image of a call in flight goes back to pending after a crash, and is made once
    from conftest import Kilnd
    fake.latency = 0.3
    k = Kilnd(tmp_path / "data", engine_args("ideogram", fake.url, workers=3), env=engine_env())
    k.start()
    bid = start(k, csv_rows(12, num_images=4))
    deadline = time.monotonic() + 10
    while fake.in_flight < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    k.kill9()
    fake.latency = 0
    k.start()
    done = k.wait_state(bid, "completed", timeout=60)
    assert done["images_done"] == 48 and done["images_failed"] == 0
    assert len(image_files(k.data_dir, bid)) == 48
    # each row's images went in one call per attempt; rows cut by the crash were asked again
    calls = {}
    for q in fake.of("ideogram"):
        calls.setdefault(q["body"]["prompt"], []).append(q["body"]["num_images"])
    assert all(set(n) == {4} for n in calls.values()), calls
    assert len(calls) == 12 and sum(len(n) for n in calls.values()) <= 12 + 3
    k.stop()
    db_checks(k.data_dir)


def test_used_up_quota_fails_the_batch_at_once(make_kiln, fake):
    fake.script = ["quota"] * 3
    k = make_kiln(engine_args("openai", fake.url, workers=1), env=engine_env())
    bid = start(k, csv_rows(20))
    failed = k.wait_state(bid, ("failed", "completed"), timeout=30)
    assert failed["state"] == "failed" and "quota is used up" in failed["error"]
    assert len(fake.of("openai")) == 1              # not retried, not every row
    assert settled(k, bid)["credits_reserved"] == 0
