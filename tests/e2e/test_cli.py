"""
test_cli.py — the `kiln` command against a real kilnd.

Each test runs the built CLI ($KILN, else `kiln` beside $KILND, else
./build/kiln) as a subprocess with KILN_URL and KILN_TOKEN pointing at the
test's kilnd, and checks what it prints and its exit status against what
the API itself answers: the whole flow (template, submit with errors,
submit --start --wait, list, status, stop/resume/delete, download and the
zip, images, account), --json output, `watch` under a pseudo-terminal (the
redrawn progress bar) and through a pipe (plain lines), --help on every
command, the man page, Ctrl-C during a watch, and the exit codes (2 usage,
1 API error, 3 no server, 4 a batch that did not make every image).
"""
import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
import zipfile

import pytest

from conftest import KILND, ROOT, free_port, stickers_csv

KILN = os.environ.get("KILN", os.path.join(os.path.dirname(KILND), "kiln"))
MAN = os.path.join(ROOT, "man", "kiln.1")
COMMANDS = ["template", "submit", "start", "stop", "resume", "delete", "list", "status", "watch",
            "download", "images", "account", "help"]


def cli_env(k, token=None, extra=None):
    env = {key: v for key, v in os.environ.items() if not key.startswith("KILN_")}
    env["KILN_URL"] = "http://127.0.0.1:%d" % k.port
    env["KILN_TOKEN"] = k.token if token is None else token
    env.update(extra or {})
    return env


def run(k, *args, cwd=None, token=None, env=None, timeout=120):
    res = subprocess.run([KILN] + list(args), cwd=cwd, env=cli_env(k, token, env),
                         capture_output=True, timeout=timeout)
    res.out = res.stdout.decode("utf-8", "replace")
    res.err = res.stderr.decode("utf-8", "replace")
    assert "Sanitizer" not in res.err and "runtime error:" not in res.err, res.err
    return res


def run_json(k, *args, **kw):
    res = run(k, "--json", *args, **kw)
    assert res.returncode == 0, res.err
    return json.loads(res.out)


def run_pty(k, *args, timeout=120, cols=100):
    """Runs kiln with stdout and stderr on a pseudo-terminal of cols columns; (status, text shown)."""
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
        os.execve(KILN, [KILN] + list(args), cli_env(k))
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


@pytest.fixture
def slow(make_kiln):
    """A kilnd slow enough to watch: 48 images of stickers.csv take about 5 s."""
    return make_kiln(["--set", "builtin.size=64", "--set", "builtin.delay_ms=200", "--workers", "2"])


@pytest.fixture
def work(tmp_path):
    """A folder of the test's own (tmp_path also holds the kilnd data dirs)."""
    d = tmp_path / "work"
    d.mkdir()
    return d


def zip_entries(data):
    """Every entry of a zip, name and bytes, in order (a zip's times may differ per download)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        return [(n, z.read(n)) for n in z.namelist()]


def write_stickers(tmp_path):
    p = tmp_path / "stickers.csv"
    p.write_bytes(stickers_csv())
    return str(p)


# ---- the command line itself -------------------------------------------------------------------

def test_help_usage_errors_and_man_page(kiln):
    res = run(kiln, "--help")
    assert res.returncode == 0
    for c in COMMANDS:
        assert "\n  %s" % c in res.out, c
        h = run(kiln, c, "--help")
        assert h.returncode == 0, (c, h.err)
        assert h.out.startswith("usage: kiln %s" % c), h.out
        assert run(kiln, "help", c).out == h.out
    assert run(kiln).returncode == 2                               # no command
    for args in (["frobnicate"], ["list", "--bogus"], ["status"], ["status", "a", "b"],
                 ["list", "--xlsx"], ["images", "-o", "x"], ["template", "huge"],
                 ["list", "--limit", "0"], ["--url", "ftp://x", "account"]):
        res = run(kiln, *args)
        assert res.returncode == 2, (args, res.returncode, res.err)
        assert res.err.startswith("kiln: "), res.err
    # the man page: well-formed roff, and it documents every command and exit status
    man = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, text=True)
    assert man.returncode == 0 and man.stderr == "", man.stderr
    with open(MAN) as f:
        text = f.read()
    for c in COMMANDS:
        assert re.search(r"^\.B %s\b" % c, text, re.M), c
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(r"^\.TP\n\.B %s\n" % code, text, re.M), code
    for var in ("KILN_URL", "KILN_TOKEN", "KILN_TOKEN_FILE"):
        assert ".B %s\n" % var in text


def test_exit_codes_on_errors(kiln, work):
    # a wrong token: the API's 401, with a hint about KILN_TOKEN
    res = run(kiln, "account", token="not-a-token")
    assert res.returncode == 1
    assert "unauthorized" in res.err and "KILN_TOKEN" in res.err
    # an unknown batch
    res = run(kiln, "status", "0" * 24)
    assert res.returncode == 1 and "not_found" in res.err
    res = run(kiln, "download", "nope", "-o", str(work / "x.zip"))
    assert res.returncode == 1 and not os.listdir(work)      # no file, no .part left
    # no server at the URL
    port = free_port()
    res = run(kiln, "account", env={"KILN_URL": "http://127.0.0.1:%d" % port})
    assert res.returncode == 3
    assert "cannot reach kilnd" in res.err
    res = run(kiln, "--url", "http://127.0.0.1:%d" % port, "list")
    assert res.returncode == 3
    # a token file that cannot be read
    env = {"KILN_TOKEN_FILE": str(work / "missing")}
    res = subprocess.run([KILN, "account"], env={**cli_env(kiln), **env, "KILN_TOKEN": ""},
                         capture_output=True, text=True)
    assert res.returncode == 2 and "token" in res.stderr


def test_token_from_file_and_default_data_dir(make_kiln, tmp_path):
    k = make_kiln(["--set", "builtin.size=64"], name="kiln-data")
    env = {key: v for key, v in os.environ.items() if not key.startswith("KILN_")}
    env["KILN_URL"] = "http://127.0.0.1:%d" % k.port
    # ./kiln-data/admin.token, read from the working directory
    res = subprocess.run([KILN, "--json", "account"], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["name"]
    # KILN_TOKEN_FILE from elsewhere
    other = tmp_path / "elsewhere"
    other.mkdir()
    env["KILN_TOKEN_FILE"] = os.path.join(k.data_dir, "admin.token")
    res = subprocess.run([KILN, "account"], cwd=str(other), env=env, capture_output=True, text=True)
    assert res.returncode == 0 and "credits" in res.stdout
    # neither: no token sent, kilnd says 401
    del env["KILN_TOKEN_FILE"]
    res = subprocess.run([KILN, "account"], cwd=str(other), env=env, capture_output=True, text=True)
    assert res.returncode == 1 and "unauthorized" in res.stderr


# ---- templates ---------------------------------------------------------------------------------

def test_template(kiln, work):
    res = run(kiln, "template", cwd=str(work))
    assert res.returncode == 0, res.err
    assert "kiln-simple.csv" in res.out
    want = kiln.request("GET", "/v1/templates/simple.csv", auth=False).body
    assert (work / "kiln-simple.csv").read_bytes() == want
    # never over an existing file it was not told to replace
    (work / "kiln-simple.csv").write_text("my filled sheet")
    res = run(kiln, "template", cwd=str(work))
    assert res.returncode == 1 and "exists" in res.err
    assert (work / "kiln-simple.csv").read_text() == "my filled sheet"
    # full as .xlsx, named
    res = run(kiln, "--json", "template", "full", "--xlsx", "-o", "t.xlsx", cwd=str(work))
    assert res.returncode == 0, res.err
    info = json.loads(res.out)
    assert info["file"] == "t.xlsx" and info["bytes"] == os.path.getsize(work / "t.xlsx")
    with zipfile.ZipFile(work / "t.xlsx") as z:
        assert "xl/workbook.xml" in z.namelist()
    # to standard output
    res = run(kiln, "template", "full", "-o", "-", cwd=str(work))
    assert res.returncode == 0
    assert res.stdout == kiln.request("GET", "/v1/templates/full.csv", auth=False).body
    assert sorted(os.listdir(work)) == ["kiln-simple.csv", "t.xlsx"]     # no .part left


# ---- submit ------------------------------------------------------------------------------------

def test_submit_with_errors_lists_every_cell(kiln, work):
    bad = work / "bad.csv"
    bad.write_bytes(b"prompt,visibility,aspect_ratio,num_images\n"
                    b"a fox,private,7:5,4\n,public,1:1,99\nok,sometimes,1:1,1\n")
    res = run(kiln, "submit", str(bad))
    assert res.returncode == 1
    api = kiln.upload(bad.read_bytes(), name="bad.csv").json()["error"]["details"]
    lines = [l for l in res.err.splitlines() if l.startswith("  ")]
    assert len(lines) == len(api) >= 4, res.err
    for d, line in zip(api, lines):
        assert line.startswith("  row %d, column %s, cell %s" % (d["row"], d["column"], d["cell"])), line
        if "value" in d:
            assert 'value "%s"' % d["value"] in line
        assert d["message"] in line
    assert "invalid_spreadsheet" in res.err
    assert kiln.request("GET", "/v1/batches").json()["batches"] == []
    # not a spreadsheet at all
    png = work / "x.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    res = run(kiln, "submit", str(png))
    assert res.returncode == 1 and "unsupported_media_type" in res.err
    # a file that does not exist
    res = run(kiln, "submit", str(work / "missing.csv"))
    assert res.returncode == 1 and "cannot read" in res.err


def test_submit_shows_the_preview(kiln, work):
    res = run(kiln, "submit", write_stickers(work))
    assert res.returncode == 0, res.err
    bid = re.search(r"^batch ([0-9a-f]{24})  stickers.csv  \(draft\)$", res.out, re.M).group(1)
    b = kiln.batch(bid)
    assert b["state"] == "draft"
    assert "12 rows, 48 images, 96 credits required, %d available" % b["credits_available"] in res.out
    assert "preview of row 2:" in res.out
    assert re.search(r"^  prompt +A cheerful gingerbread man", res.out, re.M)
    assert re.search(r"^  aspect_ratio +1:1$", res.out, re.M)
    assert "kiln start %s" % bid in res.out
    # --json: the API's answer
    j = run_json(kiln, "submit", write_stickers(work))
    assert j["state"] == "draft" and j["images_total"] == 48 and kiln.batch(j["id"])["rows"] == 12


def test_submit_start_wait_then_list_status_images_download(kiln, work):
    res = run(kiln, "submit", write_stickers(work), "--start", "--wait", cwd=str(work))
    assert res.returncode == 0, res.err
    bid = re.search(r"^batch ([0-9a-f]{24})", res.out, re.M).group(1)
    assert kiln.batch(bid)["state"] == "completed"
    assert "\r" not in res.out                                 # not a terminal: plain lines
    assert re.search(r"^completed 48/48 +100\.0%", res.out, re.M), res.out
    assert "completed: 48 images made, 0 failed, of 48" in res.out
    # list
    res = run(kiln, "list")
    assert res.returncode == 0
    assert re.search(r"^%s  completed +48/48  100\.0%%" % bid, res.out, re.M), res.out
    listed = run_json(kiln, "list")
    api = kiln.request("GET", "/v1/batches").json()
    assert [b["id"] for b in listed["batches"]] == [b["id"] for b in api["batches"]] == [bid]
    assert run_json(kiln, "list", "--state", "draft")["batches"] == []
    assert "no batches" in run(kiln, "list", "--state", "draft").out
    # status
    res = run(kiln, "status", bid)
    assert res.returncode == 0
    assert re.search(r"^state +completed$", res.out, re.M)
    assert "48/48 100.0%" in res.out and "96 charged" in res.out
    st = run_json(kiln, "status", bid)
    assert st["id"] == bid and st["images_done"] == 48 and st["credits_charged"] == 96
    # images: the API's list, gathered past one page
    imgs = run_json(kiln, "images", "--limit", "60")
    api_ids = []
    cursor = None
    while True:
        page = kiln.request("GET", "/v1/images?limit=20" + ("&cursor=" + cursor if cursor else "")).json()
        api_ids += [i["id"] for i in page["images"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [i["id"] for i in imgs["images"]] == api_ids and len(api_ids) == 48
    assert len(run_json(kiln, "images", "--limit", "5")["images"]) == 5
    pub = run_json(kiln, "images", "--public", "--limit", "100")
    assert pub["images"] and all(i["visibility"] == "public" for i in pub["images"])
    res = run(kiln, "images", "--limit", "3")
    assert res.returncode == 0 and len(res.out.splitlines()) == 5          # header, 3, "(more…)"
    # account
    acc = run_json(kiln, "account")
    assert acc == kiln.request("GET", "/v1/account").json()
    assert "%d available" % acc["credits_available"] in run(kiln, "account").out
    # download: named as kilnd names it, a whole zip with its manifest
    res = run(kiln, "download", bid, cwd=str(work))
    assert res.returncode == 0, res.err
    assert "saved stickers.zip" in res.out
    api_zip = kiln.request("GET", "/v1/batches/%s/archive" % bid).body
    assert zip_entries((work / "stickers.zip").read_bytes()) == zip_entries(api_zip)
    with zipfile.ZipFile(work / "stickers.zip") as z:
        assert z.testzip() is None
        names = z.namelist()
        assert names[0] == "manifest.csv" and len(names) == 49
        assert "row-0002-1.png" in names
    res = run(kiln, "--json", "download", bid, "-o", str(work / "copy.zip"))
    assert json.loads(res.out) == {"file": str(work / "copy.zip"),
                                   "bytes": os.path.getsize(work / "copy.zip")}
    assert zip_entries((work / "copy.zip").read_bytes()) == zip_entries(api_zip)
    res = run(kiln, "download", bid, "-o", "-")
    assert res.returncode == 0 and zip_entries(res.stdout) == zip_entries(api_zip)
    # on a terminal: progress on stderr, redrawn and cleared
    rc, shown = run_pty(kiln, "download", bid, "-o", str(work / "tty.zip"))
    assert rc == 0, shown
    assert re.search(r"\rdownloading \S+tty\.zip  [\d.]+ [KM]?i?B( of [\d.]+ [KM]?i?B +\d+%)?  "
                     r"[\d.]+ [KM]?i?B/s\x1b\[K", shown), shown
    assert "\r\x1b[Ksaved %s (" % (work / "tty.zip") in shown
    assert zip_entries((work / "tty.zip").read_bytes()) == zip_entries(api_zip)
    assert not [n for n in os.listdir(work) if n.endswith(".part")]


def test_wait_exits_4_when_images_failed(kiln, work):
    sheet = work / "f.csv"
    sheet.write_bytes(b"prompt,visibility,num_images\nfine,public,2\nbroken [[kiln:fail]],public,2\n")
    res = run(kiln, "submit", str(sheet), "--wait")
    assert res.returncode == 4, (res.out, res.err)
    assert "completed: 2 images made, 2 failed, of 4" in res.out
    bid = re.search(r"^batch ([0-9a-f]{24})", res.out, re.M).group(1)
    b = kiln.batch(bid)
    assert b["state"] == "completed" and b["images_failed"] == 2
    # watch of the finished batch says the same at once
    res = run(kiln, "watch", bid)
    assert res.returncode == 4
    # --json --wait: only the final batch object
    res = run(kiln, "--json", "submit", str(sheet), "--wait")
    assert res.returncode == 4
    final = json.loads(res.out)
    assert final["state"] == "completed" and final["images_failed"] == 2


# ---- stop, resume, delete ----------------------------------------------------------------------

def test_stop_resume_delete(slow, work):
    j = run_json(slow, "submit", write_stickers(work), "--start")
    bid = j["id"]
    assert j["state"] in ("queued", "running")
    # a running batch cannot be deleted: the API's 409, exit 1
    res = run(slow, "delete", bid)
    assert res.returncode == 1 and "invalid_state" in res.err
    res = run(slow, "stop", bid)
    assert res.returncode == 0, res.err
    assert re.match(r"batch %s: (stopping|stopped)" % bid, res.out), res.out
    b = slow.wait_state(bid, "stopped", timeout=10)
    assert b["images_done"] < 48
    assert run(slow, "stop", bid).returncode == 0                       # idempotent
    # watch of a stopped batch: ends at once, exit 4, says how to resume
    res = run(slow, "watch", bid)
    assert res.returncode == 4 and "kiln resume %s" % bid in res.out
    res = run_json(slow, "resume", bid)
    assert res["state"] in ("queued", "running")
    assert run(slow, "stop", bid).returncode == 0
    slow.wait_state(bid, "stopped", timeout=10)
    res = run(slow, "delete", bid)
    assert res.returncode == 0 and res.out == "deleted batch %s\n" % bid
    assert slow.request("GET", "/v1/batches/" + bid).status == 404
    res = run(slow, "status", bid)
    assert res.returncode == 1 and "not_found" in res.err
    draft = run_json(slow, "submit", write_stickers(work))["id"]
    res = run(slow, "resume", draft)                                    # only a stopped one
    assert res.returncode == 1 and "invalid_state" in res.err
    assert run_json(slow, "delete", draft) == {"id": draft, "deleted": True}


# ---- watch -------------------------------------------------------------------------------------

def test_watch_on_a_terminal_redraws_one_line(slow, work):
    bid = run_json(slow, "submit", write_stickers(work), "--start")["id"]
    rc, out = run_pty(slow, "watch", bid)
    assert rc == 0, out
    frames = re.findall(r"\r(queued|running|completed) \[([#-]+)\] (\d+)/48 +([\d.]+)%([^\r]*)\x1b\[K", out)
    assert len(frames) >= 3, out
    counts = [int(f[2]) for f in frames]
    assert counts == sorted(counts)                  # progress only grows
    assert len(set(counts)) >= 3, counts              # and was seen moving
    assert frames[-1][0] == "completed" and counts[-1] == 48 and "-" not in frames[-1][1]
    assert all(len(f[1]) == len(frames[0][1]) for f in frames)      # one bar width
    assert any(re.search(r"\d+\.\d img/s  ETA \d+:\d\d", f[4]) for f in frames), frames
    # one line redrawn in place: no newline between the frames
    body = out.split("\r\n", 1)[1]
    assert body.count("\n") == 2                     # after the bar, and the summary
    assert out.rstrip().endswith("completed: 48 images made, 0 failed, of 48 (watched %s)" %
                                 re.search(r"watched (\S+)\)", out).group(1))
    # a narrow terminal: the line is cut to fit, so \r can still redraw it
    rc, out = run_pty(slow, "watch", bid, cols=40)
    assert rc == 0
    frames = re.findall(r"\r([^\r\n]*)\x1b\[K", out)
    assert frames and all(len(f) <= 39 for f in frames), frames
    assert frames[-1].startswith("completed [")


def test_watch_without_a_terminal_prints_plain_lines(slow, work):
    bid = run_json(slow, "submit", write_stickers(work), "--start")["id"]
    res = run(slow, "watch", bid)
    assert res.returncode == 0, res.err
    assert "\r" not in res.out and "\x1b" not in res.out
    lines = res.out.splitlines()
    assert lines[0] == "batch %s  stickers.csv" % bid
    progress = lines[1:-1]
    assert len(progress) >= 2, res.out
    seen = []
    for line in progress:
        m = re.match(r"^(queued|running|completed) (\d+)/48 +[\d.]+%  (-- |\d+\.\d )img/s  ETA \S+$", line)
        assert m, line
        seen.append(int(m.group(2)))
    assert seen == sorted(seen) and seen[-1] == 48
    assert lines[-1].startswith("completed: 48 images made, 0 failed, of 48")
    # --json: one batch object per line, the last one completed
    bid = run_json(slow, "submit", write_stickers(work), "--start")["id"]
    res = run(slow, "--json", "watch", bid)
    assert res.returncode == 0
    objs = [json.loads(l) for l in res.out.splitlines()]
    assert len(objs) >= 2 and all(o["id"] == bid for o in objs)
    assert objs[-1]["state"] == "completed" and objs[-1]["images_done"] == 48


def test_watch_waits_for_a_draft_to_start(slow, work):
    bid = run_json(slow, "submit", write_stickers(work))["id"]
    p = subprocess.Popen([KILN, "watch", bid], env=cli_env(slow), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert p.poll() is None                          # still waiting
    assert slow.start_batch(bid).status == 200
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "waiting for it to be started" in out
    assert out.splitlines()[-1].startswith("completed: 48 images made")


def test_ctrl_c_ends_the_watch_not_the_batch(slow, work):
    bid = run_json(slow, "submit", write_stickers(work), "--start")["id"]
    p = subprocess.Popen([KILN, "watch", bid], env=cli_env(slow), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (out, err)
    assert "interrupted; the batch goes on" in err
    before = slow.batch(bid)["images_done"]
    deadline = time.monotonic() + 60
    while slow.batch(bid)["images_done"] == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slow.batch(bid)["images_done"] > before            # it goes on after the watch


def test_start_without_credits_keeps_the_draft(make_kiln, work):
    k = make_kiln(["--set", "builtin.size=64", "--set", "admin_credits=10"])
    res = run(k, "submit", write_stickers(work), "--start")
    assert res.returncode == 1, res.out
    assert "not enough credits to start it: ask the admin for 86 more" in res.out
    assert "insufficient_credits" in res.err and "96" in res.err
    bid = re.search(r"kiln start ([0-9a-f]{24})", res.err).group(1)
    assert k.batch(bid)["state"] == "draft"
    res = run(k, "start", bid)
    assert res.returncode == 1 and "insufficient_credits" in res.err
