"""
test_inspect.py — `kilnd inspect FILE` (design/spreadsheet.md, "Tools"), run
as a subprocess of the real binary ($KILND, else ./build/kilnd).

Two halves:

* Inline files made here (CSV): the exit codes 0 / 1 / 2, nothing on stdout
  and a reason on stderr when a file cannot be read, the JSON shape of the
  row lines (blank cells and rows left out, rows not renumbered, text exactly
  as stored) and of the {"report": …} line, standard input, --max-rows, the
  size cap.
* Every file of ../shared/corpus/sheetjs/MANIFEST.tsv and
  ../shared/corpus/batches/: the row lines against the oracle (text and
  booleans exactly, numbers with a relative tolerance of 1e-9, "formats"
  only where the oracle has an entry), the exit code (0 for the batches, 1
  for the sheetjs sheets, which are not batches, 2 for encrypted and
  unsupported files, with the reason on stderr) and the report line.  The
  corpus is skipped file by file, by name, when it is not there.  The
  workbook cases need the .xls/.xlsx/.ods readers behind sheet_read().
"""
import csv
import gzip
import io
import json
import math
import os
import subprocess

import pytest

from conftest import CORPUS, KILND, corpus_path

TIMEOUT = 180          # seconds per run; generous for the sanitizer build
REPORT_KEYS = {"valid", "format", "sheet", "rows", "images_total", "errors", "warnings"}
MSG_KEYS = {"row", "column", "cell", "value", "message", "hint"}

# sheetjs/MANIFEST.tsv: (file, format, expectation); test_manifest_is_covered
# checks that this list and the manifest agree.
SHEETJS = [
    ("write.xlsx", "xlsx", "read"),
    ("artifacts/wps/write.xlsx", "xlsx", "read"),
    ("minimal_112.xlsx", "xlsx", "read"),
    ("Attendance.xlsx", "xlsx", "read"),
    ("DataTypesFormats.xlsx", "xlsx", "read"),
    ("LONumbers.xlsx", "xlsx", "read"),
    ("xlsx-stream-d-date-cell.xlsx", "xlsx", "read"),
    ("wtf_path.xlsx", "xlsx", "read"),
    ("sheet_visibility.xlsx", "xlsx", "read"),
    ("sheet_visibility_strict.xlsx", "xlsx", "read or error"),
    ("rich_text_stress.xlsx", "xlsx", "read"),
    ("phonetic_text.xlsx", "xlsx", "read"),
    ("sushi.xlsx", "xlsx", "read"),
    ("crlf/crlf.xlsx", "xlsx", "read"),
    ("merge_cells.xlsx", "xlsx", "read"),
    ("1904/1904.xlsx", "xlsx", "read"),
    ("large_strings.xlsx", "xlsx", "read"),
    ("ErrorTypes.xlsx", "xlsx", "read"),
    ("threaded_comments_none.xlsx", "xlsx", "read"),
    ("metadata_2019.xlsx", "xlsx", "read"),
    ("comments_stress_test.xlsx", "xlsx", "read"),
    ("wps/fn.xlsx", "xlsx", "read"),
    ("NumberFormatCondition.xlsm", "xlsx", "read"),
    ("BlankSheetTypes.xlsm", "xlsx", "read"),
    ("write.xls", "xls", "read"),
    ("artifacts/wps/write.xls", "xls", "read"),
    ("minimal_112.xls", "xls", "read"),
    ("A4X_gnumeric.xls", "xls", "read"),
    ("LONumbers.xls", "xls", "read"),
    ("crlf/crlf.xls", "xls", "read"),
    ("1904/1904.xls", "xls", "read"),
    ("sushi.xls", "xls", "read"),
    ("phpexcel_bad_cfb_dir.xls", "xls", "read or error"),
    ("biff5/write.xls", "xls", "read"),
    ("artifacts/quattro/write_57.xls", "xls", "read"),
    ("biff5/sushi.xls", "xls", "read"),
    ("biff5/number_format_greek.xls", "xls", "read"),
    ("biff5/merge_cells.xls", "xls", "read"),
    ("crlf/crlf5.xls", "xls", "read"),
    ("sheet_visibility5.xls", "xls", "read"),
    ("biff5/phonetic_text.xls", "xls", "no oracle"),
    ("password_2002_40_xor.xls", "xls", "encrypted"),
    ("password_2002_128_strong.xls", "xls", "encrypted"),
    ("biff5/password_2002_40_xor.xls", "xls", "encrypted"),
    ("crlf/crlf.ods", "ods", "read"),
    ("rich_text_stress.ods", "ods", "read"),
    ("merge_cells.ods", "ods", "read"),
    ("sushi.ods", "ods", "read"),
    ("1904/1900.ods", "ods", "read"),
    ("author_snowman.ods", "ods", "read"),
    ("crlf/crlf.xlsb", "xlsb", "unsupported"),
    ("minimal_112.numbers", "numbers", "unsupported"),
    ("crlf/crlf.fods", "fods", "unsupported"),
    ("Attendance.csv", "csv", "read"),
    ("ErrorTypes.csv", "csv", "read"),
    ("crlf/crlf.csv", "csv", "read"),
    ("LO7322.csv", "csv", "read"),
    ("ErrorTypes.txt", "csv", "read"),
    ("text_and_numbers.txt", "csv", "read"),
]

# what stderr must name for the files kiln does not take
UNSUPPORTED_SAYS = {"crlf/crlf.xlsb": ".xlsb", "minimal_112.numbers": "Numbers",
                    "crlf/crlf.fods": ".fods"}

# batches/: (file, format, expectation)
BATCHES = [
    ("stickers.csv", "csv", "valid"),
    ("stickers-cp1252.csv", "csv", "cp1252"),
    ("stickers-semicolon.csv", "csv", "valid"),
    ("stickers-times.csv", "csv", "times"),
    ("stickers-unicode.txt", "csv", "valid"),
    ("stickers-text.xlsx", "xlsx", "valid"),
    ("stickers-text.xls", "xls", "valid"),
    ("stickers-text.ods", "ods", "valid"),
    ("stickers-default.xlsx", "xlsx", "default"),
    ("stickers-default.xls", "xls", "default"),
    ("stickers-default.ods", "ods", "default"),
    ("stickers-times.xlsx", "xlsx", "times"),
    ("stickers-times.xls", "xls", "times"),
    ("stickers-times.ods", "ods", "times"),
    ("stickers-hidden-first.xlsx", "xlsx", "hidden-first"),
    ("stickers-hidden-first.ods", "ods", "hidden-first"),
    ("stickers-encrypted.xlsx", "xlsx", "encrypted"),
    ("stickers-encrypted.xls", "xls", "encrypted"),
    ("stickers-encrypted.ods", "ods", "encrypted"),
]
TIME_CELLS = ["C2", "C3", "C4", "C5", "C6", "C8", "C9", "C10", "C11", "C12", "C13"]


# ---- running it ----------------------------------------------------------------------

class Run:
    """One finished `kilnd inspect`: exit code, the row lines, the report, stderr."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout.decode("utf-8")
        self.err = proc.stderr.decode("utf-8", "replace")
        assert "Sanitizer" not in self.err and "runtime error:" not in self.err, self.err
        # split on "\n" only: str.splitlines() would also split inside U+2028
        assert self.out == "" or self.out.endswith("\n"), self.out[-200:]
        self.lines = [parse_line(s) for s in self.out.split("\n")[:-1]]
        self.rows = [x for x in self.lines if "report" not in x]
        self.report = None
        if self.lines:
            assert "report" in self.lines[-1], "the last line must be the report:\n" + self.out
            assert all("report" not in x for x in self.lines[:-1]), self.out
            self.report = self.lines[-1]["report"]

    def __repr__(self):
        return "<rc %s, %d lines, stderr %r>" % (self.rc, len(self.lines), self.err[:500])


def parse_line(s):
    """A JSON line; numbers checked on the way: no NaN, no integral value written with a fraction."""
    def bad_constant(c):
        raise AssertionError("not JSON: %s in %r" % (c, s[:200]))

    def number(tok):
        v = float(tok)
        assert "e" in tok.lower() or v != int(v), \
            "integral value written with a fraction: %s in %r" % (tok, s[:200])
        return v

    assert s == s.strip(), "stray white space around a line: %r" % s[:200]
    return json.loads(s, parse_float=number, parse_constant=bad_constant)


def inspect(*args, stdin=None, timeout=TIMEOUT, cwd=None):
    proc = subprocess.run([KILND, "inspect"] + [str(a) for a in args], input=stdin, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return Run(proc)


def inspect_bytes(tmp_path, data, name="batch.csv", *args):
    p = tmp_path / name
    p.write_bytes(data)
    return inspect(*(list(args) + [p]))


def check_report_shape(run, fmt, sheet=None):
    r = run.report
    assert r is not None, run
    assert set(r) == REPORT_KEYS, r
    assert r["valid"] is (run.rc == 0), (run.rc, r)
    assert r["format"] == fmt, r
    if fmt == "csv":
        assert r["sheet"] is None, r
    else:
        assert isinstance(r["sheet"], str) and r["sheet"], r
    if sheet is not None:
        assert r["sheet"] == sheet, r
    assert isinstance(r["rows"], int) and isinstance(r["images_total"], int), r
    for m in r["errors"] + r["warnings"]:
        assert set(m) <= MSG_KEYS and isinstance(m["message"], str) and m["message"], m
        for k in ("column", "cell", "value", "hint"):
            assert k not in m or isinstance(m[k], str), m
        assert "row" not in m or (isinstance(m["row"], int) and m["row"] >= 1), m
    if r["valid"]:
        assert r["errors"] == [], r
    else:
        assert r["errors"], r


def check_row_shape(line):
    assert set(line) <= {"row", "cells", "formats"} and "row" in line and "cells" in line, line
    assert isinstance(line["row"], int) and line["row"] >= 1, line
    assert line["cells"], "a blank row was printed: %r" % line
    for k, v in line["cells"].items():
        assert k.isalpha() and k.isupper(), line
        assert v != "", "an empty cell was printed: %r" % line
        assert isinstance(v, (str, bool, int, float)) or (
            isinstance(v, dict) and set(v) == {"error"} and isinstance(v["error"], str)), line
    if "formats" in line:
        assert line["formats"], "an empty \"formats\" was printed: %r" % line
        assert set(line["formats"]) <= set(line["cells"]), line


# ---- the oracle ------------------------------------------------------------------------

def load_oracle(path, limit=None):
    """The oracle's lines (at most limit of them; .gz read as a stream)."""
    opener = gzip.open if path.endswith(".gz") else open
    out = []
    with opener(path, "rt", encoding="utf-8") as f:
        for s in f:
            if limit is not None and len(out) >= limit:
                break
            if s.strip():
                out.append(json.loads(s))
    return out


def oracle_path(folder, name):
    for suffix in (".jsonl", ".jsonl.gz"):
        p = os.path.join(CORPUS, folder, "oracle", name + suffix)
        if os.path.exists(p):
            return p
    raise AssertionError("no oracle for %s/%s" % (folder, name))


def same_value(got, want):
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, (int, float)):
        return isinstance(got, (int, float)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=0)
    return got == want


def compare_with_oracle(run, oracle, name):
    """Row lines against the oracle: same rows, same cells, formats where the oracle has one."""
    got_rows = [x["row"] for x in run.rows]
    want_rows = [x["row"] for x in oracle]
    assert got_rows == want_rows, "%s: rows %s, the oracle has %s" % (name, got_rows[:50],
                                                                        want_rows[:50])
    problems = []
    for got, want in zip(run.rows, oracle):
        check_row_shape(got)
        r = want["row"]
        gc, wc = got["cells"], want["cells"]
        for k in sorted(set(gc) | set(wc)):
            if k not in wc:
                problems.append("%s%d: kiln has %r, the oracle has nothing" % (k, r, gc[k]))
            elif k not in gc:
                problems.append("%s%d: kiln has nothing, the oracle has %r" % (k, r, wc[k]))
            elif not same_value(gc[k], wc[k]):
                problems.append("%s%d: kiln has %r, the oracle has %r" % (k, r, gc[k], wc[k]))
        for k, fmt in want.get("formats", {}).items():
            if got.get("formats", {}).get(k) != fmt:
                problems.append("%s%d: format %r, the oracle has %r" %
                                (k, r, got.get("formats", {}).get(k), fmt))
    assert not problems, "%s: %d differences:\n%s" % (name, len(problems),
                                                      "\n".join(problems[:40]))


def index_first_sheet(folder, name):
    with open(os.path.join(CORPUS, folder, "oracle", "INDEX.tsv"), encoding="utf-8") as f:
        for rec in csv.DictReader(f, delimiter="\t"):
            if rec["file"] == name:
                return rec["first_sheet"]
    return None


# ---- inline files: exit codes and shape ----------------------------------------------

VALID = (b"prompt,visibility,aspect_ratio\r\n"
         b"a cat,public,16:9\r\n"
         b"\r\n"
         b"\"a dog, \"\"sitting\"\"\nby the sea\",private,\r\n")


def test_valid_batch_exits_0(tmp_path):
    run = inspect_bytes(tmp_path, VALID)
    assert run.rc == 0, run
    assert run.err == ""
    assert run.rows == [
        {"row": 1, "cells": {"A": "prompt", "B": "visibility", "C": "aspect_ratio"}},
        {"row": 2, "cells": {"A": "a cat", "B": "public", "C": "16:9"}},
        {"row": 4, "cells": {"A": "a dog, \"sitting\"\nby the sea", "B": "private"}},
    ]
    check_report_shape(run, "csv")
    r = run.report
    assert (r["rows"], r["images_total"], r["errors"], r["warnings"]) == (2, 8, [], [])


def test_output_is_one_compact_json_object_per_line(tmp_path):
    run = inspect_bytes(tmp_path, VALID)
    lines = run.out.split("\n")
    assert lines[-1] == "" and len(lines) == 5, run.out
    assert lines[0] == '{"row":1,"cells":{"A":"prompt","B":"visibility","C":"aspect_ratio"}}'
    assert lines[3].startswith('{"report":{')


def test_invalid_batch_exits_1_with_every_problem(tmp_path):
    data = (b"prompt,visibility,aspect_ratio,seed_number\n"
            b"a cat,public,7:5,12\n"
            b"a dog,secret,1:1,12.5\n")
    run = inspect_bytes(tmp_path, data)
    assert run.rc == 1, run
    assert len(run.rows) == 3
    check_report_shape(run, "csv")
    errs = {e["cell"]: e for e in run.report["errors"]}
    assert set(errs) == {"C2", "B3", "D3"}, run.report
    c2 = errs["C2"]
    assert (c2["row"], c2["column"], c2["value"]) == (2, "aspect_ratio", "7:5"), c2
    assert c2["message"].startswith("C2 aspect_ratio") and "16:9" in c2["hint"], c2
    assert errs["D3"]["value"] == "12.5" and errs["D3"]["column"] == "seed_number"
    assert (run.report["rows"], run.report["images_total"]) == (0, 0), run.report


def test_header_only_is_invalid(tmp_path):
    run = inspect_bytes(tmp_path, b"prompt,visibility\n")
    assert run.rc == 1, run
    assert run.rows == [{"row": 1, "cells": {"A": "prompt", "B": "visibility"}}]
    check_report_shape(run, "csv")


def test_empty_file_is_invalid_not_unreadable(tmp_path):
    run = inspect_bytes(tmp_path, b"")
    assert run.rc == 1, run
    assert run.rows == []
    check_report_shape(run, "csv")


def test_blank_cells_and_rows_left_out_rows_not_renumbered(tmp_path):
    data = (b"prompt,visibility,,aspect_ratio\n"
            b",,,\n"
            b"   ,\t,,\n"
            b"a cat, public ,,\n"
            b"\n"
            b"a dog,private,,  \n")
    run = inspect_bytes(tmp_path, data)
    assert [x["row"] for x in run.rows] == [1, 4, 6], run.out
    assert run.rows[0]["cells"] == {"A": "prompt", "B": "visibility", "D": "aspect_ratio"}
    # white space is text as stored; only empty cells are left out
    assert run.rows[1]["cells"] == {"A": "a cat", "B": " public "}
    assert run.rows[2]["cells"] == {"A": "a dog", "B": "private", "D": "  "}
    for line in run.rows:
        check_row_shape(line)
        assert "formats" not in line     # CSV cells are text: no formats


def test_text_exactly_as_stored(tmp_path):
    text = "Crème brûlée 🍮 \"quoted\"\ttab\r\nCRLF \\ back\u2028sep"
    data = ("prompt,visibility\n\"%s\",public\n" % text.replace('"', '""')).encode()
    run = inspect_bytes(tmp_path, data)
    assert run.rc == 0, run
    assert run.rows[1]["cells"]["A"] == text


def test_column_letters_past_z(tmp_path):
    header = ["prompt", "visibility"] + [""] * 25 + ["x"]
    data = (",".join(header) + "\n").encode()
    run = inspect_bytes(tmp_path, data)
    assert run.rows[0]["cells"] == {"A": "prompt", "B": "visibility", "AB": "x"}, run.out


def test_reader_warning_in_report(tmp_path):
    run = inspect_bytes(tmp_path, "prompt,visibility\nCrème,public\n".encode("cp1252"))
    assert run.rc == 0, run
    assert run.rows[1]["cells"]["A"] == "Crème"
    assert any("1252" in w["message"] for w in run.report["warnings"]), run.report


def test_time_warning_in_report(tmp_path):
    run = inspect_bytes(tmp_path, b"prompt,visibility,aspect_ratio\na cat,public,04:09:00 PM\n")
    assert run.rc == 0, run
    w = run.report["warnings"]
    assert len(w) == 1 and w[0]["cell"] == "C2" and w[0]["column"] == "aspect_ratio", w
    assert "16:9" in w[0]["message"]


@pytest.mark.parametrize("data,what", [
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "PNG"),
    (b"PK\x03\x04 this is not really a zip", "damaged"),
    (b"<?xml version=\"1.0\"?><root/>", "XML"),
])
def test_unreadable_exits_2_reason_on_stderr_nothing_on_stdout(tmp_path, data, what):
    run = inspect_bytes(tmp_path, data, "batch.xlsx")
    assert run.rc == 2, run
    assert run.out == ""
    assert what in run.err and run.err.startswith("kilnd inspect: "), run.err
    assert run.err.count("\n") == 1, run.err


def test_missing_file_and_directory_exit_2(tmp_path):
    run = inspect(tmp_path / "nope.csv")
    assert run.rc == 2 and run.out == "" and "No such file" in run.err, run
    run = inspect(tmp_path)
    assert run.rc == 2 and run.out == "" and "directory" in run.err, run


def test_usage_errors_exit_2():
    run = inspect()
    assert run.rc == 2 and run.out == "" and "usage" in run.err, run
    run = inspect("a.csv", "b.csv")
    assert run.rc == 2 and run.out == "" and "one file" in run.err, run
    run = inspect("--max-rows", "many", "a.csv")
    assert run.rc == 2 and run.out == "" and "--max-rows" in run.err, run


def test_help():
    proc = subprocess.run([KILND, "inspect", "--help"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=30)
    assert proc.returncode == 0 and b"usage: kilnd inspect" in proc.stdout, proc


def test_main_usage_mentions_inspect():
    proc = subprocess.run([KILND, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30)
    assert proc.returncode == 0 and b"kilnd inspect" in proc.stdout


def test_does_not_start_the_daemon(tmp_path):
    # run where the daemon would make its ./kiln-data: nothing is made
    (tmp_path / "batch.csv").write_bytes(VALID)
    run = inspect("batch.csv", cwd=tmp_path, timeout=30)
    assert run.rc == 0, run
    assert sorted(os.listdir(tmp_path)) == ["batch.csv"]


def test_standard_input():
    run = inspect("-", stdin=VALID)
    assert run.rc == 0, run
    assert len(run.rows) == 3 and run.report["format"] == "csv"


def test_max_rows_limits_what_is_read(tmp_path):
    data = b"prompt,visibility\n" + b"".join(b"p%d,public\n" % i for i in range(10))
    run = inspect_bytes(tmp_path, data, "batch.csv", "--max-rows", "4")
    assert run.rc == 1, run
    assert [x["row"] for x in run.rows] == [1, 2, 3, 4]
    assert any("11 rows" in e["message"] for e in run.report["errors"]), run.report
    run = inspect_bytes(tmp_path, data, "batch.csv", "--max-rows", "11")
    assert run.rc == 0 and len(run.rows) == 11, run


def test_config_max_rows(tmp_path):
    conf = tmp_path / "kilnd.conf"
    conf.write_text("max_rows = 3\n")
    data = b"prompt,visibility\na,public\nb,public\nc,public\n"
    run = inspect_bytes(tmp_path, data, "batch.csv", "--config", conf)
    assert run.rc == 1 and len(run.rows) == 3, run
    conf.write_text("no_such_key = 1\n")
    run = inspect_bytes(tmp_path, data, "batch.csv", "--config", conf)
    assert run.rc == 2 and run.out == "" and "no_such_key" in run.err, run


def test_thousand_row_default_limit(tmp_path):
    data = b"prompt,visibility\n" + b"".join(b"p%d,public\n" % i for i in range(1200))
    run = inspect_bytes(tmp_path, data)
    assert run.rc == 1, run
    assert len(run.rows) == 1000 and run.rows[-1]["row"] == 1000
    assert any("1201 rows" in e["message"] for e in run.report["errors"]), run.report


def test_file_past_the_size_cap_is_refused_at_once(tmp_path):
    p = tmp_path / "huge.csv"
    with open(p, "wb") as f:
        f.truncate(257 * 1024 * 1024)    # sparse: no disk used
    run = inspect(p, timeout=30)
    assert run.rc == 2 and run.out == "", run
    assert "256 MiB" in run.err, run.err


# ---- the corpus ----------------------------------------------------------------------

def test_manifest_is_covered():
    path = corpus_path("sheetjs", "MANIFEST.tsv")
    with open(path, encoding="utf-8") as f:
        names = [rec["file"] for rec in csv.DictReader(f, delimiter="\t")]
    assert sorted(names) == sorted(n for n, _, _ in SHEETJS)
    listed = sorted(os.listdir(os.path.join(CORPUS, "batches")))
    assert sorted(n for n, _, _ in BATCHES) == [n for n in listed
                                                 if n not in ("README.md", "oracle")]


@pytest.mark.parametrize("name,fmt,expect", SHEETJS, ids=[n for n, _, _ in SHEETJS])
def test_sheetjs_file(name, fmt, expect):
    path = corpus_path("sheetjs", name)
    run = inspect(path)
    if expect == "encrypted":
        assert run.rc == 2 and run.out == "", run
        assert "password" in run.err, run.err
        return
    if expect == "unsupported":
        assert run.rc == 2 and run.out == "", run
        assert UNSUPPORTED_SAYS[name] in run.err, run.err
        return
    if expect in ("read or error", "no oracle") and run.rc == 2:
        assert run.out == "" and run.err.strip(), run   # a clear error is acceptable
        return
    assert run.rc == 1, run          # read, but none of these sheets is a batch
    check_report_shape(run, fmt, sheet=None if fmt == "csv" else
                       index_first_sheet("sheetjs", name))
    if expect == "no oracle":
        return
    oracle_file = oracle_path("sheetjs", name)
    if name == "large_strings.xlsx":
        # 9,999 rows: kiln stores the first max_rows (1000) and refuses the batch
        oracle = load_oracle(oracle_file, limit=1000)
        assert len(run.rows) == 1000, run
        assert any("at most 1000" in e["message"] for e in run.report["errors"]), \
            run.report["errors"][:3]
    else:
        oracle = load_oracle(oracle_file)
    compare_with_oracle(run, oracle, name)


@pytest.mark.parametrize("name,fmt,expect", BATCHES, ids=[n for n, _, _ in BATCHES])
def test_batch_file(name, fmt, expect):
    path = corpus_path("batches", name)
    run = inspect(path)
    if expect == "encrypted":
        assert run.rc == 2 and run.out == "", run
        assert "password" in run.err, run.err
        assert "zip" not in run.err.lower() or "password" in run.err, run.err
        return
    assert run.rc == 0, run
    oracle_name = name
    sheet = None if fmt == "csv" else index_first_sheet("batches", name)
    if expect == "hidden-first":
        oracle_name = name.replace("hidden-first", "text")
        sheet = "Batch"
    check_report_shape(run, fmt, sheet=sheet)
    compare_with_oracle(run, load_oracle(oracle_path("batches", oracle_name)), name)
    r = run.report
    assert (r["rows"], r["images_total"], r["errors"]) == (12, 48, []), r
    w = r["warnings"]
    if expect == "valid":
        assert w == [], w
    elif expect == "cp1252":
        assert len(w) == 1 and "1252" in w[0]["message"], w
    elif expect == "times":
        assert [x.get("cell") for x in w] == TIME_CELLS, w
        assert all(x["column"] == "aspect_ratio" for x in w), w
        by_cell = {x["cell"]: x["message"] for x in w}
        assert "16:9" in by_cell["C4"] and "2:3" in by_cell["C3"] and "1:1" in by_cell["C2"]
    elif expect == "default":
        assert all(x.get("column") in ("model", "seed_number") for x in w), w
    elif expect == "hidden-first":
        assert any("Batch" in x["message"] and "Instructions" in x["message"] for x in w), w
