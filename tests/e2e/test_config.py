"""
test_config.py — kilnd's configuration: the documented file loads, flags
override it, env: values come from the environment, and a bad file stops
start-up with a message naming the file and the line.
"""
import os
import subprocess

from conftest import KILND, ROOT, Kilnd, free_port


def run(args, env=None, timeout=10):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([KILND] + args, capture_output=True, text=True, timeout=timeout, env=e)


def write(tmp_path, text):
    p = tmp_path / "kilnd.conf"
    p.write_text(text)
    return str(p)


def test_unknown_key_names_file_and_line(tmp_path):
    conf = write(tmp_path, "# a comment\nworkers = 2\nwrokers = 3\n")
    r = run(["--config", conf, "--data-dir", str(tmp_path / "d")])
    assert r.returncode == 2
    assert "%s:3:" % conf in r.stderr and 'unknown key "wrokers"' in r.stderr
    assert not os.path.exists(tmp_path / "d")


def test_bad_values_name_file_and_line(tmp_path):
    for line, what in (("workers = many", "workers"), ("max_upload_bytes = 10Q", "max_upload_bytes"),
                       ("auth = maybe", "auth"), ("listen = nowhere", "listen"),
                       ("log_level = loud", "log_level"), ("[builtin]\nsize = 2", "builtin.size"),
                       ("data_dir = env:KILN_TEST_UNSET_VARIABLE", "KILN_TEST_UNSET_VARIABLE")):
        conf = write(tmp_path, "\n" + line + "\n")
        r = run(["--config", conf])
        assert r.returncode == 2, line
        assert "%s:%d:" % (conf, line.count("\n") + 2) in r.stderr, (line, r.stderr)
        assert what in r.stderr, (line, r.stderr)


def test_bad_flag_value(tmp_path):
    r = run(["--workers", "0", "--data-dir", str(tmp_path / "d")])
    assert r.returncode == 2 and "--workers" in r.stderr
    r = run(["--set", "nosuch=1"])
    assert r.returncode == 2 and "nosuch" in r.stderr
    assert run(["--help"]).returncode == 0


def test_documented_config_loads_and_flags_override(tmp_path):
    """config/kilnd.conf as shipped, with env: values and flags over it."""
    text = open(os.path.join(ROOT, "config", "kilnd.conf")).read()
    text = text.replace("admin_credits = 100000", "admin_credits = env:KILN_TEST_CREDITS")
    conf = write(tmp_path, text)
    k = Kilnd(tmp_path / "data", ["--config", conf, "--workers", "3"],
              env={"KILN_TEST_CREDITS": "777"})
    k.start()
    try:
        h = k.request("GET", "/healthz", auth=False).json()
        assert h["workers"] == 3                       # the flag, not the file's 4
        assert k.request("GET", "/v1/account").json()["credits_available"] == 777
    finally:
        assert k.stop() == 0


def test_auth_none_loopback_only(tmp_path):
    r = run(["--set", "auth=none", "--listen", "0.0.0.0:%d" % free_port(),
             "--data-dir", str(tmp_path / "d")])
    assert r.returncode == 2 and "loopback" in r.stderr
    k = Kilnd(tmp_path / "data", ["--set", "auth=none"])
    k.start()
    try:
        r = k.request("GET", "/v1/batches", auth=False)
        assert r.status == 200 and r.json()["batches"] == []
    finally:
        assert k.stop() == 0
