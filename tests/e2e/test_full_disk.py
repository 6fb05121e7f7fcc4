"""
test_full_disk.py — kilnd with its data dir on a small filesystem (a
size-limited tmpfs mounted for the test; root is needed, as in CI, else the
tests are skipped saying so), filled up with a file beside the data dir:

  - an image write that hits ENOSPC is not counted (no temporary file left,
    never staged or done), the batch pauses — stopped, with the error
    "disk full: …" — kilnd keeps answering, and once the file is removed a
    resume finishes the batch with every image made once and counted once;
  - below min_free_space, uploads, starts and resumes are refused with
    507 insufficient_storage saying the disk is full, and a running batch
    pauses the same way;
  - the store itself out of space (SQLITE_FULL) gives a 507, not a 500.
After each step the store's integrity, its credits ledger and every done
image's file (size and CRC) are checked.
"""
import os
import sqlite3
import subprocess
import time
import zlib

import pytest

from conftest import small_csv
from test_ledger_property import snapshot_checks


@pytest.fixture
def small_fs(tmp_path):
    """A 24 MiB tmpfs at tmp_path/fs, unmounted at the end."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "kiln-test-fs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % r.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(mnt, leave):
    """Writes mnt/filler until only about `leave` bytes are free (0: until ENOSPC)."""
    path = os.path.join(str(mnt), "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while free_bytes(str(mnt)) > leave + 65536:
            os.write(fd, b"\0" * 65536)
        while leave == 0:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return path


def files_checks(data_dir):
    """Every done image's file has its stored size and CRC; no other file and no temporary one."""
    db = sqlite3.connect(os.path.join(data_dir, "kiln.db"), timeout=30)
    try:
        done = {(b, i): (ext, n, crc) for b, i, ext, n, crc in db.execute(
            "SELECT b.id, i.id, i.ext, i.bytes, i.crc32 FROM images i JOIN batches b"
            " ON b.seq = i.batch_seq WHERE i.state = 'done'")}
    finally:
        db.close()
    seen = set()
    root = os.path.join(data_dir, "images")
    for bid in os.listdir(root) if os.path.isdir(root) else []:
        for fn in os.listdir(os.path.join(root, bid)):
            iid, _, ext = fn.partition(".")
            assert (bid, iid) in done, "a file not counted as done: %s/%s" % (bid, fn)
            with open(os.path.join(root, bid, fn), "rb") as f:
                data = f.read()
            want = done[bid, iid]
            assert (ext, len(data), zlib.crc32(data)) == want, fn
            seen.add((bid, iid))
    assert seen == set(done), "done images without their file"
    return len(done)


def kiln_on(make_kiln, mnt, *args):
    return make_kiln(["--workers", "2", "--set", "builtin.size=256", "--set", "builtin.compression=0"]
                     + list(args), name=os.path.join(mnt.name, "data"))


def test_enospc_pauses_the_batch_and_resume_finishes_it(small_fs, make_kiln):
    k = kiln_on(make_kiln, small_fs, "--set", "min_free_space=0")
    b = k.upload_ok(small_csv(60), "full.csv")
    filler = fill(small_fs, 3 * 1024 * 1024)
    assert k.start_batch(b["id"]).status == 200
    paused = k.wait_state(b["id"], ("stopped", "completed"), timeout=60)
    assert paused["state"] == "stopped", "the batch did not hit the full disk: %r" % paused
    assert paused["error"].startswith("disk full:"), paused["error"]
    assert "resume" in paused["error"]
    assert 0 < paused["images_done"] < 60 and paused["images_failed"] == 0
    assert paused["credits_reserved"] == 0
    assert "paused: disk full" in k.log()
    # kilnd keeps running and answering
    assert k.request("GET", "/healthz", auth=False).status == 200
    assert k.request("GET", "/v1/batches/%s/rows" % b["id"]).status == 200
    assert files_checks(k.data_dir) == paused["images_done"]
    snapshot_checks(k.data_dir)
    # space comes back: resume finishes it, each image counted once
    os.unlink(filler)
    r = k.resume_batch(b["id"])
    assert r.status == 200, r
    assert r.json().get("error") is None
    try:
        done = k.wait_state(b["id"], "completed", timeout=60)
    except AssertionError:
        print(k.batch(b["id"]), "\n".join(l for l in k.log().splitlines() if "GET" not in l)[-6000:])
        raise
    assert done["images_done"] == 60 and done["images_failed"] == 0
    assert done["credits_charged"] == 120 and done.get("error") is None
    assert files_checks(k.data_dir) == 60
    snapshot_checks(k.data_dir)
    calls = k.calls()
    assert len(calls) == 60
    # an image refused for want of space was made again (the call is not counted as an attempt)
    rows = k.request("GET", "/v1/batches/%s/rows?limit=100" % b["id"]).json()["rows"]
    assert all(r["attempts"] == 1 for r in rows), [r["attempts"] for r in rows]


def test_below_min_free_space_is_refused_with_507(small_fs, make_kiln):
    k = kiln_on(make_kiln, small_fs, "--set", "min_free_space=4M", "--set", "builtin.delay_ms=50")
    running = k.upload_ok(small_csv(60), "running.csv")
    draft = k.upload_ok(small_csv(2), "draft.csv")
    assert k.start_batch(running["id"]).status == 200
    time.sleep(0.2)
    filler = fill(small_fs, 3 * 1024 * 1024)
    paused = k.wait_state(running["id"], "stopped", timeout=60)
    assert "min_free_space" in paused["error"] and paused["error"].startswith("disk full:")
    # nothing that would write is accepted, with a message that says why and what to do
    for r in (k.upload(small_csv(2)), k.start_batch(draft["id"]), k.resume_batch(running["id"])):
        assert r.status == 507, r
        e = r.json()["error"]
        assert e["code"] == "insufficient_storage" and "disk full" in e["message"]
        assert "free space" in e["message"]
    assert k.batch(draft["id"])["state"] == "draft"
    assert files_checks(k.data_dir) == paused["images_done"]
    snapshot_checks(k.data_dir)
    os.unlink(filler)
    assert k.resume_batch(running["id"]).status == 200
    assert k.start_batch(draft["id"]).status == 200
    assert k.wait_state(running["id"], "completed", timeout=120)["images_done"] == 60
    assert k.wait_state(draft["id"], "completed", timeout=60)["images_done"] == 2
    assert files_checks(k.data_dir) == 62
    snapshot_checks(k.data_dir)


def test_store_out_of_space_is_507(small_fs, make_kiln):
    k = kiln_on(make_kiln, small_fs, "--set", "min_free_space=0")
    filler = fill(small_fs, 0)
    big = small_csv(999, prefix="a much longer prompt so that the rows take room " * 4)
    r = k.upload(big, "big.csv")
    assert r.status == 507, r
    e = r.json()["error"]
    assert e["code"] == "insufficient_storage" and e["message"].startswith("disk full:")
    assert "store" in k.log() and "full" in k.log()
    os.unlink(filler)
    r = k.upload(big, "big.csv")
    assert r.status == 201, r
    assert r.json()["rows"] == 999
    db = sqlite3.connect(os.path.join(k.data_dir, "kiln.db"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM batches").fetchone()[0] == 1
    finally:
        db.close()
