"""
test_ops.py — operations against a real kilnd: the sd_notify protocol
(READY=1, WATCHDOG=1, STOPPING=1 on a NOTIFY_SOCKET the test binds), SIGTERM
in the middle of a batch and a restart that loses nothing and repeats
nothing, SIGHUP reloading the log level (and naming what needs a restart),
a backup taken while a batch runs and restored into a fresh data dir, and
upgrades: a data dir made by the first schema migrates to the latest in one
transaction, and one from a newer kilnd is refused with a clear message.
"""
import glob
import hashlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import KILND, ROOT, Kilnd
from test_control import csv_rows, db_checks


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def files_by_name(data_dir):
    """{images/<batch>/<file>: sha256} of every finished image file of a data dir."""
    out = {}
    for p in glob.glob(os.path.join(data_dir, "images", "*", "*.png")):
        with open(p, "rb") as f:
            out[os.path.relpath(p, data_dir)] = hashlib.sha256(f.read()).hexdigest()
    return out


# ---- sd_notify ---------------------------------------------------------------------------


def test_sd_notify_ready_watchdog_stopping(tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(1.0)
    k = Kilnd(tmp_path / "data", ["--set", "builtin.size=32"],
              env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
    got = []

    def recv_until(word, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                continue
            got.append(msg)
            if word in msg.split("\n"):
                return msg
        raise AssertionError("no %s from kilnd; got %r\n%s" % (word, got, k.log()))

    try:
        k.start()
        ready = recv_until("READY=1")
        assert "STATUS=listening on port %d" % k.port in ready
        # READY=1 comes once the port listens: /healthz answers at once
        assert k.request("GET", "/healthz", auth=False).status == 200
        # the scheduler's ticker pings every half period (200 ms): several arrive
        t0 = time.monotonic()
        recv_until("WATCHDOG=1")
        recv_until("WATCHDOG=1")
        recv_until("WATCHDOG=1")
        assert time.monotonic() - t0 < 5
        assert "systemd watchdog: WATCHDOG=1 every 200 ms" in k.log()
        # SIGHUP: RELOADING=1 then READY=1 again
        k.proc.send_signal(signal.SIGHUP)
        recv_until("RELOADING=1")
        recv_until("READY=1")
        k.proc.send_signal(signal.SIGTERM)
        recv_until("STOPPING=1")
        assert k.proc.wait(20) == 0
        k.proc = None
    finally:
        if k.proc:
            k.kill9()
        sock.close()


def test_no_watchdog_usec_no_ticker(kiln):
    """Without WATCHDOG_USEC (a plain start, or a unit without WatchdogSec=) no ticker runs."""
    assert "systemd watchdog" not in kiln.log()


def test_journal_lines_carry_priorities(tmp_path):
    """When JOURNAL_STREAM names kilnd's stderr (as systemd sets it), lines start with their
    syslog priority and carry no timestamp; a JOURNAL_STREAM naming another file changes
    nothing."""
    k = Kilnd(tmp_path / "data", ["--set", "builtin.size=32"])
    os.makedirs(k.data_dir)
    open(k.log_path, "ab").close()
    st = os.stat(k.log_path)
    k.env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
    k.start()
    assert k.stop() == 0
    lines = k.log().splitlines()
    assert any(ln.startswith("<6>info  kilnd ") and "listening on" in ln for ln in lines), lines
    assert all(re.match(r"<[3467]>(debug|info |warn |error) ", ln) for ln in lines), lines

    other = Kilnd(tmp_path / "data2", ["--set", "builtin.size=32"],
                  env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino + 1)})
    other.start()
    assert other.stop() == 0
    assert re.match(r"\d{4}-\d\d-\d\dT[0-9:.]+Z info  ", other.log().splitlines()[0])


# ---- SIGTERM -------------------------------------------------------------------------------


def slow_calls_in_flight(tmp_path, workers, rows, num_images, timeout_s):
    """A kilnd whose engine calls take 30 s, with a batch started and `workers` calls in flight."""
    k = Kilnd(tmp_path / "data", ["--workers", str(workers), "--set", "builtin.delay_ms=30000",
                                  "--set", "builtin.size=32",
                                  "--set", "shutdown_timeout=%d" % timeout_s])
    k.start()
    b = k.upload_ok(csv_rows(rows, num_images=num_images))
    assert k.start_batch(b["id"]).status == 200
    wait_for(lambda: k.batch(b["id"])["images_running"] == workers,
             what="%d calls in flight" % workers)
    return k, b


def test_sigterm_mid_batch_then_restart_loses_nothing(tmp_path):
    k = Kilnd(tmp_path / "data", ["--workers", "3", "--set", "builtin.delay_ms=300",
                                  "--set", "builtin.size=32"])
    k.start()
    b = k.upload_ok(csv_rows(12))                       # 48 images, >= 4.8 s of calls
    assert k.start_batch(b["id"]).status == 200
    wait_for(lambda: k.batch(b["id"])["images_done"] >= 4, what="4 images")
    wait_for(lambda: k.batch(b["id"])["images_running"] > 0, what="calls in flight")
    rc = k.stop(signal.SIGTERM)
    log = k.log()
    assert rc == 0, log
    assert "received SIGTERM" in log
    assert "waiting up to 10 s for" in log            # calls in flight were let finish
    assert "cancelling" not in log
    assert re.search(r"store checkpointed \(\d+ WAL frames\)", log), log
    # the checkpoint left the WAL empty (the last close removes it)
    wal = os.path.join(k.data_dir, "kiln.db-wal")
    assert not os.path.exists(wal) or os.path.getsize(wal) == 0
    db = sqlite3.connect(os.path.join(k.data_dir, "kiln.db"))
    running = db.execute("SELECT count(*) FROM images WHERE state = 'running'").fetchone()[0]
    done_at_stop = db.execute("SELECT count(*) FROM images WHERE state = 'done'").fetchone()[0]
    db.close()
    assert running == 0 and 4 <= done_at_stop < 48

    k.start()                                          # a restart carries on
    done = k.wait_state(b["id"], "completed", timeout=90)
    assert done["images_done"] == 48
    calls = k.calls()
    assert len(calls) == 48 and set(calls.values()) == {1}, calls   # each image made once
    assert len(files_by_name(k.data_dir)) == 48
    assert k.stop() == 0
    db_checks(k.data_dir)


def test_sigterm_timeout_cancels_and_requeues(tmp_path):
    k, b = slow_calls_in_flight(tmp_path, 2, 2, 2, 1)  # 4 images, each call 30 s
    t0 = time.monotonic()
    assert k.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 10                  # 1 s grace, not 30 s
    log = k.log()
    assert "waiting up to 1 s for 2 engine call(s)" in log
    assert "cancelling 2 engine call(s) still in flight" in log
    db = sqlite3.connect(os.path.join(k.data_dir, "kiln.db"))
    states = dict(db.execute("SELECT state, count(*) FROM images GROUP BY state").fetchall())
    db.close()
    assert states == {"pending": 4}, states
    # after a restart with no delay the batch completes; nothing is lost
    k.args = ["--workers", "2", "--set", "builtin.size=32"]
    k.start()
    assert k.wait_state(b["id"], "completed", timeout=60)["images_done"] == 4
    assert len(files_by_name(k.data_dir)) == 4
    assert k.stop() == 0
    db_checks(k.data_dir)


def test_second_sigterm_cuts_the_wait_short(tmp_path):
    k, _ = slow_calls_in_flight(tmp_path, 1, 1, 1, 60)
    k.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: "waiting up to 60 s" in k.log(), what="the wait")
    t0 = time.monotonic()
    assert k.stop(signal.SIGTERM) == 0
    assert time.monotonic() - t0 < 10
    assert "second SIGTERM: not waiting any longer" in k.log()


# ---- SIGHUP --------------------------------------------------------------------------------


def test_sighup_reloads_log_level_and_names_what_needs_a_restart(tmp_path):
    conf = tmp_path / "kilnd.conf"
    conf.write_text("log_level = info\nworkers = 2\nmax_rows = 1000\n[builtin]\nsize = 32\n")
    k = Kilnd(tmp_path / "data", ["--config", str(conf)])
    k.start()
    b = k.upload_ok(csv_rows(1, num_images=2))
    assert k.start_batch(b["id"]).status == 200
    k.wait_state(b["id"], "completed")
    assert " debug " not in k.log()                    # info: no debug lines

    conf.write_text("log_level = debug\nworkers = 3\nmax_rows = 3\n[builtin]\nsize = 64\n")
    k.proc.send_signal(signal.SIGHUP)
    line = wait_for(lambda: [ln for ln in k.log().splitlines() if "SIGHUP: reloaded" in ln],
                    what="the reload line")[0]
    assert "applied: max_rows, log_level" in line, line
    assert "needs a restart: workers, builtin.size" in line, line
    assert "engine settings" in k.log()
    # the new log level is in force: the next images log at debug level
    b2 = k.upload_ok(csv_rows(2, num_images=1))
    assert b2["rows"] == 2
    r = k.upload(csv_rows(3, num_images=1))            # max_rows = 3 (header + 2) now
    assert r.status == 422, r
    assert k.start_batch(b2["id"]).status == 200
    k.wait_state(b2["id"], "completed")
    assert re.search(r" debug image [0-9a-f]{24} of batch " + b2["id"], k.log()), k.log()

    # a file that does not parse changes nothing, and kilnd keeps running
    conf.write_text("log_level = loud\n")
    k.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "nothing reloaded, the running settings are kept" in k.log(),
             what="the refusal")
    assert "log_level: \"loud\" is not one of" in k.log()
    assert k.request("GET", "/healthz", auth=False).status == 200
    assert k.stop() == 0


# ---- backups -------------------------------------------------------------------------------


def run_kilnd(*args, timeout=120):
    return subprocess.run([KILND] + list(args), capture_output=True, text=True, timeout=timeout)


def test_backup_while_running_then_restore(tmp_path):
    k = Kilnd(tmp_path / "data", ["--workers", "2", "--set", "builtin.delay_ms=150",
                                  "--set", "builtin.size=48"])
    k.start()
    done_b = k.upload_ok(csv_rows(2, num_images=2, prefix="first"))
    assert k.start_batch(done_b["id"]).status == 200
    k.wait_state(done_b["id"], "completed")
    run_b = k.upload_ok(csv_rows(10, num_images=4, prefix="second"))     # 40 images
    draft = k.upload_ok(csv_rows(1, prefix="draft"))
    assert k.start_batch(run_b["id"]).status == 200
    wait_for(lambda: k.batch(run_b["id"])["images_done"] >= 6, what="6 images")

    out = str(tmp_path / "kiln-backup.zip")
    r = run_kilnd("backup", "--data-dir", k.data_dir, out)
    assert r.returncode == 0, r.stderr
    assert "wrote " + out in r.stderr
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert not os.path.exists(out + ".db-tmp")
    assert k.batch(run_b["id"])["state"] in ("running", "completed")   # undisturbed

    # the backup's store is a snapshot taken mid-batch
    import zipfile
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert "kiln.db" in names and "admin.token" in names
        snap = tmp_path / "snap.db"
        snap.write_bytes(z.read("kiln.db"))
    db = sqlite3.connect(str(snap))
    snap_done = db.execute("SELECT count(*) FROM images i JOIN batches b ON b.seq = i.batch_seq"
                           " WHERE b.id = ? AND i.state = 'done'", (run_b["id"],)).fetchone()[0]
    snap_state = db.execute("SELECT state FROM batches WHERE id = ?", (run_b["id"],)).fetchone()[0]
    db.close()
    assert snap_state == "running" and 6 <= snap_done < 40, (snap_state, snap_done)
    assert len([n for n in names if n.startswith("images/")]) == 4 + snap_done

    # restore: refused into a non-empty data dir, accepted into a new one
    r = run_kilnd("restore", "--data-dir", k.data_dir, out)
    assert r.returncode == 1 and "is not empty" in r.stderr, r.stderr
    fresh = tmp_path / "restored"
    r = run_kilnd("restore", "--data-dir", str(fresh), out)
    assert r.returncode == 0, r.stderr
    assert "restored the store and %d image(s)" % (4 + snap_done) in r.stderr
    restored_files = files_by_name(str(fresh))
    assert len(restored_files) == 4 + snap_done

    # the original finishes; the restored one, started on its own, carries on too
    k.wait_state(run_b["id"], "completed", timeout=90)
    original = files_by_name(k.data_dir)
    for name, digest in restored_files.items():
        assert original[name] == digest, name          # byte-equal to the originals
    assert k.stop() == 0

    k2 = Kilnd(fresh, ["--workers", "2", "--set", "builtin.size=48"])
    k2.start()                                          # reads the restored admin.token
    assert k2.token == k.token
    assert k2.batch(done_b["id"])["state"] == "completed"
    assert k2.batch(draft["id"])["state"] == "draft"
    assert k2.wait_state(run_b["id"], "completed", timeout=90)["images_done"] == 40
    # the built-in engine is deterministic: the images made after the restore are the same bytes
    assert files_by_name(str(fresh)) == original
    listed = k2.request("GET", "/v1/batches").json()
    assert {b["id"] for b in listed["batches"]} >= {done_b["id"], run_b["id"], draft["id"]}
    assert k2.stop() == 0
    db_checks(str(fresh))


def test_restore_refuses_what_is_not_a_kiln_backup(tmp_path):
    import zipfile
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("kiln.db", b"x")
        z.writestr("../../etc/evil", b"x")
    r = run_kilnd("restore", "--data-dir", str(tmp_path / "d"), str(bad))
    assert r.returncode == 1
    assert "../../etc/evil" in r.stderr and "never" in r.stderr, r.stderr
    assert not os.path.exists(tmp_path / "etc")
    assert os.listdir(tmp_path / "d") == []            # what was written is gone again
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", b"x")
    r = run_kilnd("restore", "--data-dir", str(tmp_path / "e"), str(other))
    assert r.returncode == 1 and "not a kiln backup" in r.stderr, r.stderr
    r = run_kilnd("backup", "--data-dir", str(tmp_path / "nothing"), str(tmp_path / "x.zip"))
    assert r.returncode == 1 and "no store at" in r.stderr, r.stderr


def test_backup_refuses_a_store_naming_missing_files(tmp_path):
    """A done image whose file is gone (as when a batch is deleted under the backup) makes the
    backup take new snapshots, then fail rather than write a store naming files it lacks."""
    k = Kilnd(tmp_path / "data", ["--set", "builtin.size=32"])
    k.start()
    b = k.upload_ok(csv_rows(1, num_images=2))
    assert k.start_batch(b["id"]).status == 200
    k.wait_state(b["id"], "completed")
    victim = sorted(files_by_name(k.data_dir))[0]
    os.unlink(os.path.join(k.data_dir, victim))
    out = tmp_path / "b.zip"
    r = run_kilnd("backup", "--data-dir", k.data_dir, str(out))
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("changed after the snapshot") == 3, r.stderr
    assert "kept changing under the backup (3 tries)" in r.stderr
    assert not out.exists() and not os.path.exists(str(out) + ".db-tmp")
    assert k.stop() == 0


def test_restore_checks_image_crcs(tmp_path):
    """A backup whose image bytes were altered is refused, and nothing is left behind."""
    import zipfile
    k = Kilnd(tmp_path / "data", ["--set", "builtin.size=32"])
    k.start()
    b = k.upload_ok(csv_rows(1, num_images=2))
    assert k.start_batch(b["id"]).status == 200
    k.wait_state(b["id"], "completed")
    out = str(tmp_path / "b.zip")
    assert run_kilnd("backup", "--data-dir", k.data_dir, out).returncode == 0
    assert k.stop() == 0
    forged = str(tmp_path / "forged.zip")
    with zipfile.ZipFile(out) as zin, zipfile.ZipFile(forged, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith(".png"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            zout.writestr(info.filename, data)
    r = run_kilnd("restore", "--data-dir", str(tmp_path / "r"), forged)
    assert r.returncode == 1 and "CRC-32" in r.stderr, r.stderr
    assert os.listdir(tmp_path / "r") == []


# ---- upgrades ------------------------------------------------------------------------------


def schema_files():
    return sorted(glob.glob(os.path.join(ROOT, "schema", "[0-9][0-9][0-9][0-9]_*.sql")))


def first_schema_dir(path):
    """A data dir as the first schema made it: 0001_init.sql applied and recorded as store.c
    records it, one account with a known token and its grant, and the admin.token file."""
    os.makedirs(path)
    db = sqlite3.connect(os.path.join(path, "kiln.db"))
    first = schema_files()[0]
    assert os.path.basename(first) == "0001_init.sql"
    with open(first) as f:
        db.executescript(f.read())
    db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
               " applied_at INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_migrations VALUES (1, '0001_init', 1700000000000)")
    token = "kiln_" + "ab" * 32
    db.execute("INSERT INTO accounts (id, name, token_hash, is_admin, credits_available,"
               " created_at) VALUES (?, 'admin', ?, 1, 777, 1700000000000)",
               ("0" * 24, hashlib.sha256(token.encode()).hexdigest()))
    db.execute("INSERT INTO ledger (account_id, kind, amount, at) VALUES (?, 'grant', 777,"
               " 1700000000000)", ("0" * 24,))
    db.commit()
    db.close()
    with open(os.path.join(path, "admin.token"), "w") as f:
        f.write(token + "\n")
    return token


def test_first_schema_data_dir_migrates_to_latest(tmp_path):
    data = str(tmp_path / "old")
    token = first_schema_dir(data)
    k = Kilnd(data, ["--set", "builtin.size=32"])
    k.start()
    assert k.token == token
    acct = k.request("GET", "/v1/account").json()
    assert acct["credits_available"] == 777             # the old data is there
    b = k.upload_ok(csv_rows(1, num_images=2))
    assert k.start_batch(b["id"]).status == 200
    k.wait_state(b["id"], "completed")
    assert k.stop() == 0
    db = sqlite3.connect(os.path.join(data, "kiln.db"))
    versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    want = [int(os.path.basename(p)[:4]) for p in schema_files()]
    assert versions == want
    assert db.execute("SELECT value FROM meta WHERE key = 'kilnd_version'").fetchone()
    db.close()
    for v in want[1:]:
        assert "applied migration %04d_" % v in k.log()


def test_migration_is_one_transaction(tmp_path):
    """The last migration fails (a trigger the test adds refuses its record): every earlier
    one of the same run is rolled back with it, and kilnd says so and stops."""
    want = [int(os.path.basename(p)[:4]) for p in schema_files()]
    if len(want) < 2:
        pytest.skip("only one migration exists; nothing to migrate")
    data = str(tmp_path / "old")
    first_schema_dir(data)
    db = sqlite3.connect(os.path.join(data, "kiln.db"))
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON schema_migrations WHEN NEW.version = %d"
               " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END" % want[-1])
    db.commit()
    before = sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall(),
                    key=repr)
    db.close()
    r = subprocess.run([KILND, "--data-dir", data, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "migration failed (nothing was changed): refused by the test" in r.stderr, r.stderr
    db = sqlite3.connect(os.path.join(data, "kiln.db"))
    after = sorted(db.execute("SELECT type, name, sql FROM sqlite_master").fetchall(), key=repr)
    assert after == before                              # no table of 0002.. was left behind
    assert [v for (v,) in db.execute("SELECT version FROM schema_migrations")] == [1]
    db.close()


def test_newer_data_dir_is_refused(tmp_path):
    k = Kilnd(tmp_path / "data", ["--set", "builtin.size=32"])
    k.start()
    assert k.stop() == 0
    path = os.path.join(k.data_dir, "kiln.db")
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future', 1)")
    db.execute("UPDATE meta SET value = '9.9.9' WHERE key = 'kilnd_version'")
    db.commit()
    db.close()
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    r = subprocess.run([KILND, "--data-dir", k.data_dir, "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    latest = max(int(os.path.basename(p)[:4]) for p in schema_files())
    assert ("the data dir was written by kilnd 9.9.9 (schema version 9999; this kilnd knows up"
            " to %d): migrations only go forward" % latest) in r.stderr, r.stderr
    with open(path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest   # untouched
