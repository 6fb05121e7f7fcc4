"""
test_control.py — stop, resume, fairness and crash safety against a real
kilnd: stop takes effect within a second, resume makes exactly what is left,
a small batch is not starved by a big one, and kill -9 at any moment loses
nothing and makes nothing twice.
"""
import os
import random
import sqlite3
import time

from conftest import Kilnd


def csv_rows(n, num_images=4, prefix="prompt"):
    lines = ["prompt,visibility,num_images"]
    lines += ["%s %d,public,%d" % (prefix, i, num_images) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def db_checks(data_dir, cost=2):
    """integrity_check, the ledger, and the batches' counts, read straight from the store."""
    db = sqlite3.connect(os.path.join(data_dir, "kiln.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for acct, av, rs, ch in db.execute(
                "SELECT id, credits_available, credits_reserved, credits_charged FROM accounts"):
            sums = dict(db.execute("SELECT kind, SUM(amount) FROM ledger WHERE account_id = ?"
                                   " GROUP BY kind", (acct,)).fetchall())
            g, r, c, rel = (sums.get(k, 0) for k in ("grant", "reserve", "charge", "release"))
            assert av + rs + ch == g, "available + reserved + charged != granted"
            assert av == g - r + rel and rs == r - c - rel and ch == c
        for seq, state, done, failed, reserved, charged in db.execute(
                "SELECT seq, state, images_done, images_failed, credits_reserved, credits_charged"
                " FROM batches"):
            n_done = db.execute("SELECT count(*) FROM images WHERE batch_seq = ? AND state = 'done'",
                                (seq,)).fetchone()[0]
            n_failed = db.execute("SELECT count(*) FROM images WHERE batch_seq = ? AND"
                                  " state = 'failed'", (seq,)).fetchone()[0]
            assert (done, failed) == (n_done, n_failed)
            assert charged == cost * done
            if state in ("completed", "stopped", "failed", "draft"):
                assert reserved == 0, (state, reserved)
    finally:
        db.close()


def image_files(data_dir, bid):
    d = os.path.join(data_dir, "images", bid)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_stop_within_a_second_and_resume_exactly(make_kiln):
    k = make_kiln(["--workers", "4", "--set", "builtin.delay_ms=400", "--set", "builtin.size=32"])
    b = k.upload_ok(csv_rows(10))
    assert k.start_batch(b["id"]).status == 200
    deadline = time.monotonic() + 20
    while k.batch(b["id"])["images_done"] < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    r = k.stop_batch(b["id"])
    assert r.status == 200 and r.json()["state"] in ("stopping", "stopped")
    stopped = k.wait_state(b["id"], "stopped", timeout=5)
    assert time.monotonic() - t0 < 1.0, "stop took %.2fs" % (time.monotonic() - t0)
    assert stopped["images_running"] == 0
    assert k.stop_batch(b["id"]).status == 200          # idempotent
    done_at_stop = stopped["images_done"]
    assert 4 <= done_at_stop < 40
    time.sleep(1.0)
    later = k.batch(b["id"])
    assert later["images_done"] == done_at_stop, "an image was made after the stop"
    assert len(image_files(k.data_dir, b["id"])) == done_at_stop
    assert later["credits_reserved"] == 0
    assert later["credits_charged"] == 2 * done_at_stop
    acct = k.request("GET", "/v1/account").json()
    assert acct["credits_reserved"] == 0
    assert acct["credits_available"] == 100000 - 2 * done_at_stop

    r = k.resume_batch(b["id"])
    assert r.status == 200 and r.json()["state"] in ("queued", "running")
    assert r.json()["credits_reserved"] == 2 * (40 - done_at_stop)
    done = k.wait_state(b["id"], "completed", timeout=60)
    assert done["images_done"] == 40 and done["credits_charged"] == 80
    files = image_files(k.data_dir, b["id"])
    assert len(files) == 40 and not [f for f in files if f.endswith(".tmp")]
    calls = k.calls()
    assert len(calls) == 40
    # a call cancelled by the stop is made again on resume; nothing else is
    assert sum(calls.values()) - 40 <= 4
    k.stop()
    db_checks(k.data_dir)


def test_small_batch_not_starved(make_kiln):
    k = make_kiln(["--workers", "2", "--set", "builtin.delay_ms=25", "--set", "builtin.size=16"])
    big = k.upload_ok(csv_rows(150, prefix="big"), "big.csv")
    small = k.upload_ok(csv_rows(3, prefix="small"), "small.csv")
    k.start_batch(big["id"])
    while k.batch(big["id"])["images_done"] < 10:
        time.sleep(0.02)
    k.start_batch(small["id"])
    s = k.wait_state(small["id"], "completed", timeout=30)
    bg = k.batch(big["id"])
    assert s["images_done"] == 12
    assert bg["state"] == "running"
    assert bg["images_done"] < 150, "the small batch waited for most of the big one"
    k.stop_batch(big["id"])
    k.wait_state(big["id"], "stopped")


def test_engine_failure_is_per_image(make_kiln):
    k = make_kiln(["--set", "builtin.size=16"])
    data = b"prompt,visibility,num_images\nfine,public,2\nbroken [[kiln:fail]],public,2\n"
    b = k.upload_ok(data)
    k.start_batch(b["id"])
    done = k.wait_state(b["id"], "completed")
    assert done["images_done"] == 2 and done["images_failed"] == 2
    assert done["credits_charged"] == 4
    rows = k.request("GET", "/v1/batches/%s/rows" % b["id"]).json()["rows"]
    assert [r["state"] for r in rows] == ["done", "failed"]
    assert rows[1]["error"]
    assert k.request("GET", "/v1/account").json()["credits_available"] == 100000 - 4


def crash_and_recover(tmp_path, point):
    """kilnd exits abruptly at a point of an image's durability (KILN_CRASH_AT); a restart
    must finish that image without calling the engine again."""
    k = Kilnd(tmp_path / "data", ["--workers", "1", "--set", "builtin.size=16"],
              env={"KILN_CRASH_AT": point + ":3"})
    k.start()
    b = k.upload_ok(csv_rows(2, num_images=3))
    k.start_batch(b["id"])
    k.proc.wait(20)
    assert k.proc.returncode != 0
    k.proc = None
    k.env = {}
    k.start()
    done = k.wait_state(b["id"], "completed")
    assert done["images_done"] == 6
    calls = k.calls()
    assert sorted(calls.values()) == [1] * 6, calls
    assert "were finished" in k.log()
    k.stop()
    db_checks(k.data_dir)


def test_crash_after_stage_is_adopted(tmp_path):
    crash_and_recover(tmp_path, "stage")


def test_crash_after_rename_is_adopted(tmp_path):
    crash_and_recover(tmp_path, "rename")


def test_kill9_at_random_moments(tmp_path):
    rnd = random.Random(int(os.environ.get("KILN_TEST_SEED", "0")) or None)
    workers = 3
    k = Kilnd(tmp_path / "data", ["--workers", str(workers), "--set", "builtin.delay_ms=15",
                                  "--set", "builtin.size=24"])
    k.start()
    batches = [k.upload_ok(csv_rows(20, prefix="a"))["id"], k.upload_ok(csv_rows(15, prefix="b"))["id"]]
    for bid in batches:
        assert k.start_batch(bid).status == 200
    kills = 0
    for _ in range(8):
        time.sleep(rnd.uniform(0.02, 0.35))
        k.kill9()
        kills += 1
        k.start()
        states = [k.batch(bid)["state"] for bid in batches]
        if all(s == "completed" for s in states):
            break
    for bid in batches:
        b = k.wait_state(bid, "completed", timeout=120)
        want = 80 if bid == batches[0] else 60
        assert b["images_done"] == want and b["images_failed"] == 0
        files = image_files(k.data_dir, bid)
        assert len(files) == want, "files: %d" % len(files)
        assert all(f.endswith(".png") and not f.startswith(".") for f in files)
    calls = k.calls()
    assert len(calls) == 140
    # an engine call interrupted by a kill is made again (at most one per worker per kill);
    # an image whose file was written is never made again
    print("kills", kills, "extra calls", sum(calls.values()) - 140, "recovered", k.log().count("recovered after"))
    assert sum(calls.values()) - 140 <= kills * workers
    k.stop()
    db_checks(k.data_dir)


def test_transient_faults_retried_then_failed(make_kiln):
    k = make_kiln(["--set", "builtin.size=16", "--set", "max_attempts=2"])
    b = k.upload_ok(b"prompt,visibility,num_images\nflaky [[kiln:retry]],public,1\nfine,public,1\n")
    k.start_batch(b["id"])
    done = k.wait_state(b["id"], "completed", timeout=30)   # one back-off of 1 s
    assert done["images_done"] == 1 and done["images_failed"] == 1
    rows = k.request("GET", "/v1/batches/%s/rows" % b["id"]).json()["rows"]
    assert rows[0]["state"] == "failed" and rows[0]["attempts"] == 2 and rows[0]["error"]
    assert k.calls()[rows[0]["images"][0]["id"]] == 2
    assert done["credits_charged"] == 2 and done["credits_reserved"] == 0
    k.stop()
    db_checks(k.data_dir)


def test_unusable_engine_fails_the_batch(make_kiln):
    k = make_kiln(["--set", "builtin.size=16", "--workers", "1"])
    b = k.upload_ok(b"prompt,visibility,num_images\nbroken [[kiln:fatal]],public,4\nfine,public,4\n")
    k.start_batch(b["id"])
    failed = k.wait_state(b["id"], "failed")
    assert failed["error"]
    assert failed["credits_reserved"] == 0
    assert k.request("GET", "/v1/account").json()["credits_reserved"] == 0
    assert k.resume_batch(b["id"]).status == 409
    assert k.request("DELETE", "/v1/batches/" + b["id"]).status == 204
    k.stop()
    db_checks(k.data_dir)
