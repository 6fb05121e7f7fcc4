"""
test_templates_xlsx.py — GET /v1/templates/simple.xlsx and full.xlsx: the
workbook itself, opened with zipfile and read as XML (stdlib only).

Checked: the answer's headers; the same header and example rows as the CSV
template of the same name, every cell a string (so "16:9" and "2.0" are
text, not a time or a number); the text number format (numFmtId 49, or a
numFmt whose code is "@") on every column of the sheet and on the cells;
the header bold and frozen; a drop-down list on each column with fixed
values, over rows 2 to 1000, offering exactly what kiln accepts (each value
is put through `kilnd inspect` in a CSV); and `kilnd inspect` of the
downloaded workbook reporting the same cells as the CSV template (that one
needs the .xlsx reader behind sheet_read()).
"""
import csv
import io
import json
import re
import subprocess
import xml.etree.ElementTree as ET
import zipfile

import pytest

from conftest import KILND

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LISTS = {
    "visibility": ["public", "private"],
    "aspect_ratio": ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "16:10", "10:16",
                     "3:1", "1:3", "2:1", "1:2", "5:4", "4:5"],
    "magic_prompt": ["on", "off"],
    "model": ["2.0", "1.0", "0.2", "3.0", "2a"],
    "rendering": ["default", "turbo", "quality"],
    "style": ["auto", "general", "realistic", "design", "3d", "anime"],
    "num_images": ["1", "2", "3", "4"],
}
TEMPLATES = ["simple", "full"]


def letters(col):
    s = ""
    while col:
        col, r = divmod(col - 1, 26)
        s = chr(ord("A") + r) + s
    return s


def col_number(ref):
    n = 0
    for ch in re.match(r"[A-Z]+", ref).group(0):
        n = n * 26 + ord(ch) - ord("A") + 1
    return n


class Workbook:
    """The parts of the downloaded .xlsx that the tests look at."""

    def __init__(self, data):
        self.zip = zipfile.ZipFile(io.BytesIO(data))
        assert self.zip.testzip() is None
        self.sheet = ET.fromstring(self.zip.read("xl/worksheets/sheet1.xml"))
        self.styles = ET.fromstring(self.zip.read("xl/styles.xml"))
        self.strings = []
        if "xl/sharedStrings.xml" in self.zip.namelist():
            sst = ET.fromstring(self.zip.read("xl/sharedStrings.xml"))
            for si in sst.findall("m:si", NS):
                self.strings.append("".join(t.text or "" for t in si.iter(
                    "{%s}t" % NS["m"])))
        self.xfs = self.styles.findall("m:cellXfs/m:xf", NS)
        self.fonts = self.styles.findall("m:fonts/m:font", NS)
        self.numfmts = {int(n.get("numFmtId")): n.get("formatCode")
                        for n in self.styles.findall("m:numFmts/m:numFmt", NS)}

    def cells(self):
        """{(row, col): (type, text, style index)} of every cell written."""
        out = {}
        for c in self.sheet.findall("m:sheetData/m:row/m:c", NS):
            ref = c.get("r")
            row = int(re.search(r"\d+", ref).group(0))
            t = c.get("t", "n")
            if t == "s":
                text = self.strings[int(c.find("m:v", NS).text)]
            elif t == "inlineStr":
                text = "".join(x.text or "" for x in c.iter("{%s}t" % NS["m"]))
            else:
                v = c.find("m:v", NS)
                text = v.text if v is not None else None
            out[(row, col_number(ref))] = (t, text, int(c.get("s", "0")))
        return out

    def is_text_style(self, s):
        fid = int(self.xfs[s].get("numFmtId", "0"))
        return fid == 49 or self.numfmts.get(fid) == "@"

    def is_bold_style(self, s):
        font = self.fonts[int(self.xfs[s].get("fontId", "0"))]
        b = font.find("m:b", NS)
        return b is not None and b.get("val", "1") not in ("0", "false")


@pytest.fixture
def templates(kiln):
    """{name: (xlsx bytes, csv text)} for both templates, with the answer's headers checked."""
    out = {}
    for name in TEMPLATES:
        r = kiln.request("GET", "/v1/templates/%s.xlsx" % name, auth=False)
        assert r.status == 200, r
        assert r.header("Content-Type") == XLSX_TYPE
        assert r.header("Content-Disposition") == 'attachment; filename="kiln-%s.xlsx"' % name
        assert r.body[:4] == b"PK\x03\x04"
        c = kiln.request("GET", "/v1/templates/%s.csv" % name, auth=False)
        assert c.status == 200, c
        out[name] = (r.body, c.body.decode("utf-8"))
    return out


def csv_rows(text):
    return list(csv.reader(io.StringIO(text)))


def test_unknown_template_is_404(kiln):
    for path in ("/v1/templates/other.xlsx", "/v1/templates/full.xls",
                 "/v1/templates/.xlsx", "/v1/templates/full.xlsx.csv"):
        r = kiln.request("GET", path, auth=False)
        assert r.status == 404, (path, r)
        assert "full.xlsx" in r.json()["error"]["message"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_same_rows_as_the_csv_template_all_strings(templates, name):
    data, text = templates[name]
    wb = Workbook(data)
    cells = wb.cells()
    want = {}
    for r, row in enumerate(csv_rows(text), 1):
        for c, v in enumerate(row, 1):
            if v != "":
                want[(r, c)] = v
    assert {k: v[1] for k, v in cells.items()} == want
    for k, (t, v, _) in cells.items():
        assert t in ("s", "inlineStr", "str"), "%s%d %r is stored as type %s" % (
            letters(k[1]), k[0], v, t)
    # the ratio and model cells of the example rows in particular
    header = csv_rows(text)[0]
    ratio = header.index("aspect_ratio") + 1
    assert cells[(2, ratio)][:2] == ("s", "16:9") or cells[(2, ratio)][:2] == ("inlineStr", "16:9")
    if "model" in header:
        assert cells[(2, header.index("model") + 1)][1] == "2.0"


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_column_formatted_as_text(templates, name):
    data, text = templates[name]
    wb = Workbook(data)
    ncols = len(csv_rows(text)[0])
    covered = set()
    for col in wb.sheet.findall("m:cols/m:col", NS):
        assert wb.is_text_style(int(col.get("style", "0"))), ET.tostring(col)
        covered.update(range(int(col.get("min")), int(col.get("max")) + 1))
        assert float(col.get("width")) >= 8, ET.tostring(col)
    assert set(range(1, ncols + 1)) <= covered
    for (r, c), (_, v, s) in wb.cells().items():
        assert wb.is_text_style(s), "%s%d %r" % (letters(c), r, v)


@pytest.mark.parametrize("name", TEMPLATES)
def test_header_bold_and_frozen(templates, name):
    data, text = templates[name]
    wb = Workbook(data)
    for (r, c), (_, v, s) in wb.cells().items():
        assert wb.is_bold_style(s) == (r == 1), "%s%d %r" % (letters(c), r, v)
    pane = wb.sheet.find("m:sheetViews/m:sheetView/m:pane", NS)
    assert pane is not None
    assert pane.get("state") == "frozen" and pane.get("ySplit") == "1", pane.attrib
    assert pane.get("topLeftCell") == "A2" and pane.get("xSplit") is None, pane.attrib


@pytest.mark.parametrize("name", TEMPLATES)
def test_drop_down_lists(templates, name):
    data, text = templates[name]
    wb = Workbook(data)
    header = csv_rows(text)[0]
    found = {}
    for dv in wb.sheet.findall("m:dataValidations/m:dataValidation", NS):
        if dv.get("type") != "list":
            continue
        sqref = dv.get("sqref")
        m = re.fullmatch(r"([A-Z]+)2:([A-Z]+)1000", sqref)
        assert m and m.group(1) == m.group(2), sqref
        column = header[col_number(m.group(1)) - 1]
        f = dv.find("m:formula1", NS).text
        assert f.startswith('"') and f.endswith('"') and len(f) <= 257, f
        found[column] = f[1:-1].split(",")
        assert dv.get("allowBlank") == "1", dv.attrib
        assert dv.get("showDropDown") in (None, "0"), dv.attrib   # "1" would hide it
    assert found == {k: v for k, v in LISTS.items() if k in header}


def test_every_listed_value_is_accepted_by_kiln(tmp_path):
    lines = ["prompt,visibility," + ",".join(c for c in LISTS if c != "visibility")]
    cols = [c for c in LISTS if c != "visibility"]
    n = 0
    for column, values in LISTS.items():
        for v in values:
            row = {c: "" for c in cols}
            vis = "public"
            if column == "visibility":
                vis = v
            else:
                row[column] = v
            lines.append("p%d,%s,%s" % (n, vis, ",".join(row[c] for c in cols)))
            n += 1
    p = tmp_path / "lists.csv"
    p.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([KILND, "inspect", str(p)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    report = json.loads(proc.stdout.decode().splitlines()[-1])["report"]
    assert proc.returncode == 0 and report["errors"] == [], report["errors"]
    assert report["rows"] == n


def inspect_file(path):
    proc = subprocess.run([KILND, "inspect", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    lines = [json.loads(s) for s in proc.stdout.decode("utf-8").split("\n")[:-1]]
    return proc.returncode, proc.stderr.decode("utf-8", "replace"), lines


@pytest.mark.parametrize("name", TEMPLATES)
def test_inspect_reads_the_xlsx_template_like_the_csv_one(templates, tmp_path, name):
    data, text = templates[name]
    (tmp_path / "t.xlsx").write_bytes(data)
    (tmp_path / "t.csv").write_text(text)
    rc_x, err_x, lx = inspect_file(tmp_path / "t.xlsx")
    rc_c, err_c, lc = inspect_file(tmp_path / "t.csv")
    assert rc_c == 0, (err_c, lc[-1:])
    assert rc_x == rc_c, err_x
    assert lx[:-1] == lc[:-1]                       # the same rows, cells and no formats
    rx, rc = lx[-1]["report"], lc[-1]["report"]
    assert (rx["format"], rx["sheet"]) == ("xlsx", "Batch")
    for k in ("valid", "rows", "images_total", "errors", "warnings"):
        assert rx[k] == rc[k], k
    # the example rows are still there: the validator says so
    assert rx["warnings"], rx
