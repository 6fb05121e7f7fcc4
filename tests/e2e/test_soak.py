"""
test_soak.py — the short crash campaign in `make check`: tests/soak/soak.py
with 10 kill -9 (seed from KILN_SOAK_SEED, else 20261124, printed), each
followed by the campaign's checks (nothing lost or made twice, the ledger,
integrity, states; see soak.py); `make soak` runs the long one.  Also the
start-up sweep of the temporary files a crash leaves.
"""
import os
import sys

from conftest import KILND, ROOT, small_csv

sys.path.insert(0, os.path.join(ROOT, "tests", "soak"))

import soak  # noqa: E402


def test_short_crash_campaign(capsys):
    seed = os.environ.get("KILN_SOAK_SEED", "20261124")
    rc = soak.main(["--kills", "10", "--seed", seed, "--kilnd", KILND])
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out.strip())
    assert rc == 0, out
    assert "kills=10 " in out and "checks=11 passed" in out, out


def test_start_removes_temporary_files_a_crash_left(make_kiln):
    k = make_kiln(["--set", "builtin.size=16"])
    b = k.upload_ok(small_csv(2))
    k.start_batch(b["id"])
    k.wait_state(b["id"], "completed")
    d = os.path.join(k.data_dir, "images", b["id"])
    kept = sorted(os.listdir(d))
    for name in (".0123456789abcdef01234567.png.tmp", ".x.thumb.png.tmp"):
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"half a write")
    k.kill9()
    k.start()
    assert sorted(os.listdir(d)) == kept
    assert "removed 2 temporary file(s)" in k.log()
    assert k.batch(b["id"])["images_done"] == 2
