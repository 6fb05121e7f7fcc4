"""
test_csv.py — every CSV case of design/spreadsheet.md against a real kilnd:
uploads over HTTP, then checks the answer (201 with rows and warnings, 422
with every problem and its cell, 415, 413) and the fields read back from
GET /v1/batches/{id}/rows with the defaults applied.

Encodings (UTF-8 with and without BOM, UTF-16LE/BE, the Windows-1252
fallback), delimiters, RFC 4180 quoting, line endings, blank rows, the header
rules, each column's values and defaults, the spreadsheet traps (ratios
turned into times, numbers where text was meant), the row limit, the
templates, the real files of ../shared/corpus (skipped by name when absent)
and hostile files.
"""
import csv
import io
import json
import os
import time

import pytest

from conftest import CORPUS, corpus_path

COLUMNS = ["prompt", "visibility", "aspect_ratio", "magic_prompt", "model", "seed_number",
           "rendering", "negative_prompt", "style", "color_palette", "num_images"]
LETTER = {name: chr(ord("A") + i) for i, name in enumerate(COLUMNS)}
DEFAULTS = {"aspect_ratio": "1:1", "magic_prompt": "on", "model": "2.0", "seed_number": None,
            "rendering": "default", "negative_prompt": "", "style": "auto",
            "color_palette": None, "num_images": 4}
BATCH_CSV = ["stickers.csv", "stickers-semicolon.csv", "stickers-unicode.txt",
             "stickers-cp1252.csv", "stickers-times.csv"]
WORKBOOKS = ["stickers-text.xlsx", "stickers-text.xls", "stickers-text.ods",
             "stickers-default.xlsx", "stickers-default.xls", "stickers-default.ods",
             "stickers-times.xlsx", "stickers-times.xls", "stickers-times.ods",
             "stickers-hidden-first.xlsx", "stickers-hidden-first.ods"]


# ---- helpers ------------------------------------------------------------------------

def full_csv(rows):
    """A file with every column, one line per dict of values (missing keys are empty)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([r.get(c, "") for c in COLUMNS])
    return out.getvalue().encode()


def fields_by_row(kiln, bid):
    r = kiln.request("GET", "/v1/batches/%s/rows?limit=500" % bid)
    assert r.status == 200, r
    return {x["row"]: x["fields"] for x in r.json()["rows"]}


def upload_rows(kiln, data, name="batch.csv", **kw):
    """Uploads a file that must be accepted; returns (batch, {row: fields})."""
    b = kiln.upload_ok(data, name, **kw)
    return b, fields_by_row(kiln, b["id"])


def problems(kiln, data, name="batch.csv", **kw):
    """Uploads a file that must be refused as invalid; returns the error's details."""
    r = kiln.upload(data, name, **kw)
    assert r.status == 422, r
    e = r.json()["error"]
    assert e["code"] == "invalid_spreadsheet"
    assert e["message"]
    details = e.get("details") or []
    for d in details:
        assert d["message"] and d["hint"], d
        if d.get("cell"):
            # spreadsheet.md: every message starts with the cell's A1 reference
            assert d["message"].startswith(d["cell"] + " "), d
    return details


def refused(kiln, data, statuses, name="batch.csv", **kw):
    """Uploads a file that must be refused with one of statuses; returns the error."""
    r = kiln.upload(data, name, **kw)
    assert r.status in statuses, r
    e = r.json()["error"]
    assert e["code"] == {413: "payload_too_large", 415: "unsupported_media_type",
                         422: "invalid_spreadsheet", 400: "invalid_request"}[r.status]
    assert e["message"]
    return r.status, e


def healthy(kiln):
    r = kiln.request("GET", "/healthz", auth=False)
    assert r.status == 200 and r.json()["status"] == "ok"
    assert kiln.proc.poll() is None


def no_batches(kiln):
    r = kiln.request("GET", "/v1/batches")
    assert r.status == 200
    assert r.json()["batches"] == []


def no_batches_but(kiln, n):
    assert len(kiln.request("GET", "/v1/batches").json()["batches"]) == n


def with_defaults(**kw):
    f = dict(DEFAULTS)
    f.update(kw)
    return f


def read_corpus(*parts):
    with open(corpus_path(*parts), "rb") as f:
        return f.read()


# ---- encodings ------------------------------------------------------------------------

@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["utf8", "utf8-bom"])
def test_utf8_with_and_without_bom(kiln, bom):
    text = ("prompt,visibility,aspect_ratio\n"
            "Crème brûlée with a holly sprig 🎄,public,16:9\n"
            "Ünïcödé ñ 日本語,private,\n")
    b, rows = upload_rows(kiln, bom + text.encode("utf-8"))
    assert b["warnings"] == []            # a BOM is neither a warning nor part of "prompt"
    assert b["rows"] == 2 and b["images_total"] == 8
    assert rows[2] == with_defaults(prompt="Crème brûlée with a holly sprig 🎄",
                                    visibility="public", aspect_ratio="16:9")
    assert rows[3]["prompt"] == "Ünïcödé ñ 日本語" and rows[3]["aspect_ratio"] == "1:1"


@pytest.mark.parametrize("codec,bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")],
                         ids=["utf16le", "utf16be"])
def test_utf16_with_bom_tab_separated(kiln, codec, bom):
    text = ('"prompt"\t"visibility"\t"aspect_ratio"\t"negative_prompt"\r\n'
            '"Crème brûlée 🎄, à la carte"\t"public"\t"2:3"\t"blurry, dark"\r\n'
            'plain\tprivate\t\t\r\n')
    b, rows = upload_rows(kiln, bom + text.encode(codec), "unicode.txt")
    assert b["warnings"] == []
    assert b["rows"] == 2
    assert rows[2] == with_defaults(prompt="Crème brûlée 🎄, à la carte", visibility="public",
                                    aspect_ratio="2:3", negative_prompt="blurry, dark")
    assert rows[3] == with_defaults(prompt="plain", visibility="private")


@pytest.mark.parametrize("eol", [b"\r\n", b"\n", b"\r"], ids=["CRLF", "LF", "CR"])
def test_windows_1252_fallback_with_warning(kiln, eol):
    data = (b"prompt,visibility,negative_prompt" + eol +
            b"plain ascii first,public," + eol +
            b"Cr\xe8me br\xfbl\xe9e \x80 5 \x93quoted\x94,private,na\xefve" + eol)
    b, rows = upload_rows(kiln, data, "cp1252.csv")
    assert b["rows"] == 2
    assert len(b["warnings"]) == 1
    w = b["warnings"][0]
    assert "Windows-1252" in w["message"] and w["hint"]
    assert "line 3" in w["message"]        # where the first byte that is not UTF-8 is
    assert "cell" not in w                 # about the whole file
    assert rows[3]["prompt"] == "Crème brûlée € 5 \u201cquoted\u201d"
    assert rows[3]["negative_prompt"] == "naïve"
    assert rows[2]["prompt"] == "plain ascii first"


def test_valid_utf8_is_not_read_as_windows_1252(kiln):
    # the bytes C3 A8 are "è" in UTF-8 (and "Ã¨" in Windows-1252)
    b, rows = upload_rows(kiln, "prompt,visibility\nCrème,public\n".encode("utf-8"))
    assert b["warnings"] == []
    assert rows[2]["prompt"] == "Crème"


# ---- delimiters, quoting, line endings ----------------------------------------------------

@pytest.mark.parametrize("data,neg", [
    (b'prompt,visibility,aspect_ratio,negative_prompt\n'
     b'"a; b\tc",public,16:9,"x; y"\nplain,private,3:4,z\n', "x; y"),
    (b'prompt;visibility;aspect_ratio;negative_prompt\n'
     b'"a; b\tc";public;16:9;x, y, z\nplain;private;3:4;z\n', "x, y, z"),
    (b'prompt\tvisibility\taspect_ratio\tnegative_prompt\n'
     b'"a; b\tc"\tpublic\t16:9\tx, y; z\nplain\tprivate\t3:4\tz\n', "x, y; z"),
], ids=["comma", "semicolon", "tab"])
def test_delimiter_detection(kiln, data, neg):
    b, rows = upload_rows(kiln, data)
    assert b["warnings"] == [] and b["rows"] == 2
    assert rows[2] == with_defaults(prompt="a; b\tc", visibility="public", aspect_ratio="16:9",
                                    negative_prompt=neg)
    assert rows[3] == with_defaults(prompt="plain", visibility="private", aspect_ratio="3:4",
                                    negative_prompt="z")


def test_rfc4180_quoting(kiln):
    data = (b'prompt,visibility,aspect_ratio,negative_prompt\r\n'
            b'"a fox, a hound",public,1:1,"blurry, text"\r\n'
            b'"a sign saying ""Let it snow""",public,16:9,""""\r\n'
            b'"line one\nline two\r\nline three",private,2:3,\r\n'
            b'after breaks,public,,\r\n')
    b, rows = upload_rows(kiln, data)
    # row numbers are record numbers: a quoted line break starts no row
    assert sorted(rows) == [2, 3, 4, 5]
    assert rows[2]["prompt"] == "a fox, a hound" and rows[2]["negative_prompt"] == "blurry, text"
    assert rows[3]["prompt"] == 'a sign saying "Let it snow"' and rows[3]["negative_prompt"] == '"'
    assert rows[3]["aspect_ratio"] == "16:9"
    assert rows[4]["prompt"] == "line one\nline two\r\nline three"
    assert rows[4]["aspect_ratio"] == "2:3" and rows[4]["visibility"] == "private"
    assert rows[5]["prompt"] == "after breaks"

    # a problem after quoted line breaks is reported at its record number, not its line
    bad = data.replace(b"after breaks,public,,", b"after breaks,public,7:5,")
    d = problems(kiln, bad)
    assert [(x["cell"], x["row"], x["value"]) for x in d] == [("C5", 5, "7:5")]
    no_batches_but(kiln, 1)


@pytest.mark.parametrize("final", [True, False], ids=["final-eol", "no-final-eol"])
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(kiln, eol, final):
    lines = ["prompt,visibility,aspect_ratio,num_images",
             "a cat,public,16:9,1",
             "",
             '"two%slines",private,3:4,2' % eol,
             "last,public,1:1,3"]
    text = eol.join(lines) + (eol if final else "")
    b, rows = upload_rows(kiln, text.encode())
    assert sorted(rows) == [2, 4, 5]      # the blank record 3 skipped, not renumbered
    assert b["images_total"] == 6
    assert rows[2] == with_defaults(prompt="a cat", visibility="public", aspect_ratio="16:9",
                                    num_images=1)
    assert rows[4]["prompt"] == "two%slines" % eol and rows[4]["num_images"] == 2
    assert rows[5] == with_defaults(prompt="last", visibility="public", num_images=3)

    bad = text.replace("last,public,1:1,3", "last,public,1:1,9")
    d = problems(kiln, bad.encode())
    assert [(x["cell"], x["row"], x["column"], x["value"]) for x in d] == \
        [("D5", 5, "num_images", "9")]


# ---- blank rows -------------------------------------------------------------------------

def test_blank_rows_skipped_not_renumbered(kiln):
    data = (b"\n"
            b", ,\t\n"
            b"prompt,visibility,aspect_ratio\n"       # the header is the first non-blank row: 3
            b"first,public,4:3\n"
            b"\n"
            b",,\n"
            b"  ,  ,  \n"
            b"second,private,\n"
            b"\r\n")
    b, rows = upload_rows(kiln, data)
    assert sorted(rows) == [4, 8]
    assert b["rows"] == 2 and b["images_total"] == 8
    assert b["preview"]["row"] == 4
    assert rows[4]["aspect_ratio"] == "4:3" and rows[8]["prompt"] == "second"

    d = problems(kiln, data.replace(b"second,private,", b"second,secret,"))
    assert [(x["cell"], x["row"]) for x in d] == [("B8", 8)]
    d = problems(kiln, data.replace(b"prompt,visibility", b"Prompt,visibility"))
    assert [x["cell"] for x in d] == ["A3"]


def test_trailing_blank_rows(kiln):
    data = b"prompt,visibility\r\na cat,public\r\n" + b",\r\n" * 50 + b"\r\n" * 20 + b" , \r\n"
    b, rows = upload_rows(kiln, data)
    assert sorted(rows) == [2] and b["rows"] == 1 and b["warnings"] == []


# ---- the header ---------------------------------------------------------------------------

def test_header_any_column_order(kiln):
    order = list(reversed(COLUMNS))
    values = {"prompt": "a lighthouse", "visibility": "private", "aspect_ratio": "9:16",
              "magic_prompt": "off", "model": "2.0", "seed_number": "77",
              "rendering": "quality", "negative_prompt": "fog, rain", "style": "realistic",
              "color_palette": "ember", "num_images": "3"}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(order)
    w.writerow([values[c] for c in order])
    b, rows = upload_rows(kiln, out.getvalue().encode())
    assert rows[2] == {"prompt": "a lighthouse", "visibility": "private", "aspect_ratio": "9:16",
                       "magic_prompt": "off", "model": "2.0", "seed_number": 77,
                       "rendering": "quality", "negative_prompt": "fog, rain",
                       "style": "realistic", "color_palette": "ember", "num_images": 3}
    assert b["images_total"] == 3 and b["warnings"] == []
    assert b["preview"] == {"row": 2, "fields": rows[2]}


def test_header_prompt_capitalised_exact_message(kiln):
    d = problems(kiln, b"visibility,Prompt\npublic,a cat\n")
    assert len(d) == 1
    assert d[0]["cell"] == "B1" and d[0]["row"] == 1 and d[0]["value"] == "Prompt"
    assert d[0]["message"] == ('B1 unknown column "Prompt" \u2014 did you mean "prompt"? '
                               'Column names are case-sensitive.')


@pytest.mark.parametrize("name,meant", [("Prompt", "prompt"), ("PROMPT", "prompt"),
                                        ("aspect ratio", "aspect_ratio"),
                                        ("Aspect_Ratio", "aspect_ratio"),
                                        ("seed", "seed_number"), ("num images", "num_images"),
                                        ("colour", "color_palette"), ("visiblity", "visibility")])
def test_header_unknown_name_did_you_mean(kiln, name, meant):
    if meant == "prompt":
        data = ("visibility,%s\npublic,a cat\n" % name).encode()
    elif meant == "visibility":
        data = ("prompt,%s\na cat,public\n" % name).encode()
    else:
        data = ("prompt,%s,visibility\na cat,1,public\n" % name).encode()
    d = problems(kiln, data)
    # only the header cell: the column it was taken to mean is not also "missing"
    assert [x["cell"] for x in d] == ["B1"]
    assert d[0]["value"] == name and d[0]["row"] == 1
    assert d[0]["message"].startswith('B1 unknown column "%s"' % name)
    assert 'did you mean "%s"?' % meant in d[0]["message"]
    no_batches(kiln)


def test_header_unknown_name_without_suggestion(kiln):
    d = problems(kiln, b"prompt,visibility,banana split\na,public,x\n")
    assert [x["cell"] for x in d] == ["C1"]
    assert d[0]["message"].startswith('C1 unknown column "banana split"')
    assert "did you mean" not in d[0]["message"]
    assert "prompt" in d[0]["hint"] and "num_images" in d[0]["hint"]


@pytest.mark.parametrize("data,missing", [("prompt,aspect_ratio\na cat,1:1\n", ["visibility"]),
                                          ("visibility,aspect_ratio\npublic,1:1\n", ["prompt"]),
                                          ("aspect_ratio,style\n1:1,anime\n",
                                           ["prompt", "visibility"])])
def test_header_missing_required_column(kiln, data, missing):
    d = problems(kiln, data.encode())
    assert sorted(x["column"] for x in d) == missing
    for x in d:
        assert x["row"] == 1 and "required" in x["message"] and x["column"] in x["message"]
    no_batches(kiln)


def test_header_duplicate_column(kiln):
    d = problems(kiln, b"prompt,visibility,aspect_ratio,prompt\na,public,1:1,b\n")
    assert [(x["cell"], x["column"]) for x in d] == [("D1", "prompt")]
    assert d[0]["message"].startswith('D1 column "prompt"')
    assert "A1" in d[0]["message"]
    d = problems(kiln, b"visibility,prompt,visibility\npublic,a,private\n")
    assert [(x["cell"], x["column"]) for x in d] == [("C1", "visibility")]


def test_header_names_with_spaces_around_warn(kiln):
    b, rows = upload_rows(kiln, b" prompt ,visibility \na cat,public\n")
    assert rows[2]["prompt"] == "a cat"
    assert sorted(w["cell"] for w in b["warnings"]) == ["A1", "B1"]


# ---- values -------------------------------------------------------------------------------

def test_values_case_insensitive_and_trimmed(kiln):
    data = full_csv([
        {"prompt": "  a cat  ", "visibility": " PUBLIC ", "aspect_ratio": " 16:9 ",
         "magic_prompt": "On", "model": " 2.0 ", "seed_number": " 42 ", "rendering": "TURBO",
         "negative_prompt": "  blurry, dark  ", "style": "3D", "color_palette": " PASTEL ",
         "num_images": " 2 "},
        {"prompt": "b", "visibility": "Private", "aspect_ratio": "4:3", "magic_prompt": "OFF",
         "model": "1.0", "rendering": "Quality", "style": "Anime", "num_images": "1"},
        {"prompt": "c", "visibility": "\u00a0public\u00a0", "aspect_ratio": "\t9:16",
         "magic_prompt": "oN", "model": "2A", "rendering": "DEFAULT", "style": "AUTO"},
        {"prompt": "d", "visibility": "PuBlIc", "model": "3.0", "style": "Realistic",
         "color_palette": "#cba324  #F86c14", "num_images": "4"},
        {"prompt": "e", "visibility": "public", "style": "GENERAL", "color_palette": "Ultramarine"},
        {"prompt": "f", "visibility": "public", "style": "Design"},
    ])
    b, rows = upload_rows(kiln, data)
    assert b["warnings"] == []
    assert rows[2] == {"prompt": "a cat", "visibility": "public", "aspect_ratio": "16:9",
                       "magic_prompt": "on", "model": "2.0", "seed_number": 42,
                       "rendering": "turbo", "negative_prompt": "blurry, dark", "style": "3d",
                       "color_palette": "pastel", "num_images": 2}
    assert rows[3] == with_defaults(prompt="b", visibility="private", aspect_ratio="4:3",
                                    magic_prompt="off", model="1.0", rendering="quality",
                                    style="anime", num_images=1)
    assert rows[4] == with_defaults(prompt="c", visibility="public", aspect_ratio="9:16",
                                    model="2a")
    assert rows[5] == with_defaults(prompt="d", visibility="public", model="3.0",
                                    style="realistic", color_palette="#CBA324 #F86C14")
    assert rows[6]["style"] == "general" and rows[6]["color_palette"] == "ultramarine"
    assert rows[7]["style"] == "design"
    assert b["images_total"] == 2 + 1 + 4 * 4


def test_prompt_text_is_not_case_folded(kiln):
    b, rows = upload_rows(kiln, b"prompt,visibility,negative_prompt\n"
                                b"A CAT In A HAT,public,NO Dogs\n")
    assert rows[2]["prompt"] == "A CAT In A HAT" and rows[2]["negative_prompt"] == "NO Dogs"


def test_every_column_default(kiln):
    # every column present but empty ...
    b, rows = upload_rows(kiln, full_csv([{"prompt": "a cat", "visibility": "public"}]))
    assert rows[2] == with_defaults(prompt="a cat", visibility="public")
    assert b["images_total"] == 4
    # ... or absent altogether
    b, rows = upload_rows(kiln, b"visibility,prompt\nprivate,a dog\nprivate,a bird\n")
    assert rows[2] == with_defaults(prompt="a dog", visibility="private")
    assert rows[3] == with_defaults(prompt="a bird", visibility="private")
    assert b["images_total"] == 8 and b["rows"] == 2


INVALID = [
    # column, value, other fields of the row, the message's start ("=...": the whole message)
    ("aspect_ratio", "7:5", {}, 'C7 aspect_ratio "7:5" is not an aspect ratio kiln knows; '
                                'use one of 1:1, 16:9'),
    ("aspect_ratio", "4:7", {}, 'C7 aspect_ratio "4:7"'),
    ("aspect_ratio", "square", {}, 'C7 aspect_ratio "square"'),
    ("seed_number", "12.5", {},
     '=F7 seed_number "12.5" must be a whole number from 0 to 2147483647'),
    ("seed_number", "-1", {},
     '=F7 seed_number "-1" must be a whole number from 0 to 2147483647'),
    ("seed_number", "2147483648", {}, 'F7 seed_number "2147483648"'),
    ("seed_number", "abc", {}, 'F7 seed_number "abc"'),
    ("seed_number", "0x10", {}, 'F7 seed_number "0x10"'),
    ("num_images", "0", {}, 'K7 num_images "0" must be a whole number from 1 to 4'),
    ("num_images", "5", {}, 'K7 num_images "5" must be a whole number from 1 to 4'),
    ("num_images", "2.5", {}, 'K7 num_images "2.5"'),
    ("num_images", "four", {}, 'K7 num_images "four"'),
    ("model", "1.5", {}, 'E7 model "1.5"'),
    ("model", "2b", {}, 'E7 model "2b"'),
    ("style", "bogus", {}, 'I7 style "bogus"'),
    ("rendering", "bogus", {}, 'G7 rendering "bogus"'),
    ("magic_prompt", "maybe", {}, 'D7 magic_prompt "maybe"'),
    ("visibility", "", {}, "B7 visibility"),
    ("visibility", "   ", {}, "B7 visibility"),
    ("visibility", "hidden", {}, 'B7 visibility "hidden"'),
    ("prompt", "", {"negative_prompt": "x"}, "A7 prompt"),
    ("prompt", "  \t ", {}, "A7 prompt"),
    ("color_palette", "#GGGGGG", {}, 'J7 color_palette "#GGGGGG"'),
    ("color_palette", "#12345", {}, 'J7 color_palette "#12345"'),
    ("color_palette", "rainbow", {}, 'J7 color_palette "rainbow"'),
    ("color_palette", "pastel ember", {}, "J7 color_palette"),
    ("color_palette", "#111111 #222222 #333333 #444444 #555555 #666666", {},
     "J7 color_palette has 6"),
    ("color_palette", "#CBA324", {"model": "1.0"},
     "=J7 color_palette is only available with model 2.0 (this row uses 1.0)"),
    ("color_palette", "pastel", {"model": "0.2"},
     "=J7 color_palette is only available with model 2.0 (this row uses 0.2)"),
    ("color_palette", "#CBA324 #F86C14", {"model": "1"},
     "=J7 color_palette is only available with model 2.0 (this row uses 1.0)"),
]


@pytest.mark.parametrize("column,value,extra,expect", INVALID,
                         ids=["%s=%r%s" % (c, v, "+model" if e else "") for c, v, e, _ in INVALID])
def test_invalid_value_names_its_cell(kiln, column, value, extra, expect):
    rows = [{"prompt": "ok %d" % i, "visibility": "public"} for i in range(2, 7)]
    bad = {"prompt": "the bad row", "visibility": "public"}
    bad.update(extra)
    bad[column] = value
    data = full_csv(rows + [bad, {"prompt": "ok 8", "visibility": "private"}])
    d = problems(kiln, data)
    assert len(d) == 1, d
    d = d[0]
    cell = LETTER[column] + "7"
    assert d["cell"] == cell and d["row"] == 7 and d["column"] == column
    assert d.get("value", "") == value
    assert d["message"].startswith("%s %s" % (cell, column))
    if expect.startswith("="):
        assert d["message"] == expect[1:]
    else:
        assert d["message"].startswith(expect)
    no_batches(kiln)


def test_color_palette_values(kiln):
    data = full_csv([
        {"prompt": "a", "visibility": "public", "color_palette": "#cba324 #f86c14 #c71e71"},
        {"prompt": "b", "visibility": "public",
         "color_palette": "#000000 #FFFFFF #abcdef #123456 #7a7B7c"},
        {"prompt": "c", "visibility": "public", "color_palette": "mosaic"},
        {"prompt": "d", "visibility": "public", "model": "3.0", "color_palette": "#C71E71"},
        {"prompt": "e", "visibility": "public", "model": "1.0"},
        {"prompt": "f", "visibility": "public", "model": "2", "color_palette": "Jungle"},
    ])
    b, rows = upload_rows(kiln, data)
    assert rows[2]["color_palette"] == "#CBA324 #F86C14 #C71E71"
    assert rows[3]["color_palette"] == "#000000 #FFFFFF #ABCDEF #123456 #7A7B7C"
    assert rows[4]["color_palette"] == "mosaic"
    assert rows[5]["color_palette"] == "#C71E71" and rows[5]["model"] == "3.0"
    assert rows[6]["color_palette"] is None and rows[6]["model"] == "1.0"
    assert rows[7]["color_palette"] == "jungle" and rows[7]["model"] == "2.0"
    for preset in ("ember", "fresh", "jungle", "magic", "melon", "mosaic", "pastel",
                   "ultramarine"):
        b, rows = upload_rows(kiln, ("prompt,visibility,color_palette\na,public,%s\n"
                                     % preset.upper()).encode())
        assert rows[2]["color_palette"] == preset


def test_ratios_turned_into_times_are_read_back(kiln):
    times = [("2:03", "2:3"), ("02:03:00", "2:3"), ("16:09", "16:9"), ("1:01", "1:1"),
             ("04:09:00 PM", "16:9"), ("02:03:00 AM", "2:3"), ("16:10:00", "16:10"),
             ("03:04:00 AM", "3:4"), ("4:09 pm", "16:9")]
    lines = ["prompt,visibility,aspect_ratio"]
    lines += ["time %d,public,%s" % (i, t) for i, (t, _) in enumerate(times)]
    lines += ["as typed,public,16:10", "as typed too,public,10:16"]
    b, rows = upload_rows(kiln, ("\n".join(lines) + "\n").encode())
    n = len(times)
    for i, (t, ratio) in enumerate(times):
        assert rows[i + 2]["aspect_ratio"] == ratio, t
    assert rows[n + 2]["aspect_ratio"] == "16:10" and rows[n + 3]["aspect_ratio"] == "10:16"
    # one warning per time cell, naming it; none for ratios typed as such
    assert [w["cell"] for w in b["warnings"]] == ["C%d" % (i + 2) for i in range(n)]
    for i, w in enumerate(b["warnings"]):
        t, ratio = times[i]
        assert w["row"] == i + 2 and w["column"] == "aspect_ratio" and w["value"] == t
        assert w["message"].startswith("C%d aspect_ratio" % (i + 2))
        assert ("read as %s " % ratio) in w["message"]
        assert w["hint"]


@pytest.mark.parametrize("value", ["4:07", "13:45", "12:00:00 AM", "02:03:30", "11:59 PM",
                                   "4:05 PM", "04:09:00"])
def test_unrecoverable_time_is_an_error(kiln, value):
    d = problems(kiln, ("prompt,visibility,aspect_ratio\na,public,%s\n" % value).encode())
    assert [(x["cell"], x["row"], x["column"], x["value"]) for x in d] == \
        [("C2", 2, "aspect_ratio", value)]
    assert "text" in d[0]["message"]       # tells to format the column as text


def test_numbers_where_text_was_meant(kiln):
    data = full_csv([
        {"prompt": "a", "visibility": "public", "model": "2", "seed_number": "42.0"},
        {"prompt": "b", "visibility": "public", "model": "1", "seed_number": "2147483647"},
        {"prompt": "c", "visibility": "public", "model": "0.2", "seed_number": "0"},
        {"prompt": "d", "visibility": "public", "model": "3", "seed_number": "1.2345E+09"},
        {"prompt": "e", "visibility": "public", "model": "2.00", "seed_number": "007",
         "num_images": "3.0"},
        {"prompt": "f", "visibility": "public", "model": "2", "color_palette": "#CBA324"},
    ])
    b, rows = upload_rows(kiln, data)
    assert b["warnings"] == []
    assert [rows[r]["model"] for r in range(2, 8)] == ["2.0", "1.0", "0.2", "3.0", "2.0", "2.0"]
    assert [rows[r]["seed_number"] for r in range(2, 8)] == [42, 2147483647, 0, 1234500000, 7,
                                                             None]
    assert rows[6]["num_images"] == 3
    assert rows[7]["color_palette"] == "#CBA324"


# ---- limits and empty files ------------------------------------------------------------------

def many_rows(n, extra=b""):
    return b"prompt,visibility\n" + b"".join(b"p%d,public\n" % i for i in range(n)) + extra


def test_row_limit_1000(kiln):
    b = kiln.upload_ok(many_rows(999))                 # 1000 rows, the header included
    assert b["rows"] == 999 and b["images_total"] == 3996
    for n in (1000, 5000):
        d = problems(kiln, many_rows(n))
        assert len(d) == 1, d[:3]                      # one clear error, however long
        assert "%d" % (n + 1) in d[0]["message"] and "1000" in d[0]["message"]
        assert "cell" not in d[0]
    no_batches_but(kiln, 1)


def test_row_limit_ignores_blank_rows(kiln):
    # blank rows are skipped, so they do not count towards the limit either
    data = many_rows(999, b"\n,\n \n  ,  \n\t,\n")
    b = kiln.upload_ok(data)
    assert b["rows"] == 999
    # ... nor do rows of white space among the prompts: all 999 are read
    mid = b"prompt,visibility\n" + b" , \n" * 10 + b"".join(b"p%d,public\n" % i for i in range(999))
    b = kiln.upload_ok(mid)
    assert b["rows"] == 999


def test_max_rows_setting_lowers_the_limit(make_kiln):
    k = make_kiln(["--set", "max_rows=10"])
    b = k.upload_ok(many_rows(9))
    assert b["rows"] == 9
    d = problems(k, many_rows(10))
    assert len(d) == 1 and "11" in d[0]["message"] and "10" in d[0]["message"]


@pytest.mark.parametrize("data", [b"prompt,visibility\n", b"prompt,visibility",
                                  b"prompt,visibility\r\n\r\n,\r\n  ,  \r\n",
                                  b"\xef\xbb\xbfprompt;visibility;aspect_ratio\n"],
                         ids=["header", "header-no-eol", "header-blank-rows", "header-bom"])
def test_only_a_header_is_an_error(kiln, data):
    d = problems(kiln, data)
    assert len(d) == 1 and d[0]["row"] == 1 and "cell" not in d[0]
    assert "prompt" in d[0]["message"]
    no_batches(kiln)


@pytest.mark.parametrize("data", [b"\n", b"\r\n\r\n\r\n", b",,,\n,,\n", b"  \n \t \n",
                                  b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf\r\n"],
                         ids=["lf", "crlf", "commas", "spaces", "bom", "utf16-bom", "bom-crlf"])
def test_empty_file_is_an_error(kiln, data):
    d = problems(kiln, data)
    assert len(d) == 1 and "empty" in d[0]["message"]
    no_batches(kiln)


def test_zero_bytes_is_an_error(kiln):
    for multipart in (True, False):
        refused(kiln, b"", (400, 422), multipart=multipart)
    no_batches(kiln)


# ---- every problem at once; nothing stored ------------------------------------------------------

def test_all_problems_reported_at_once(kiln):
    data = (b"prompt,visibility,aspect_ratio,model,seed_number,color_palette,num_images,colour\n"
            b",public,1:1,2.0,1,,1,\n"                     # A2 empty prompt
            b"b,hidden,7:5,2.0,12.5,,9,red\n"               # B3 C3 E3 G3
            b"c,public,1:1,1.0,,#CBA324,,\n"                # F4 palette with model 1.0
            b"d,public,4:07,2.0,,,,\n"                      # C5 a time that is no ratio
            b"fine,public,2:03,,,,,\n"                      # a warning, not an error
            b"e,public,1:1,1.5,-1,#XYZ,0,\n")               # D7 E7 F7 G7
    r = kiln.upload(data, "many.csv")
    assert r.status == 422
    e = r.json()["error"]
    # every problem, in the order a user reads the file: the header, then row by row
    cells = [d.get("cell") for d in e["details"]]
    assert cells == ["H1", "A2", "B3", "C3", "E3", "G3", "F4", "C5", "D7", "E7", "F7", "G7"]
    assert [d["row"] for d in e["details"]] == [1, 2, 3, 3, 3, 3, 4, 5, 7, 7, 7, 7]
    assert e["message"].startswith("12 problems in many.csv")
    by = {d["cell"]: d for d in e["details"]}
    assert by["E3"]["value"] == "12.5" and by["G3"]["column"] == "num_images"
    assert by["F4"]["message"] == \
        "F4 color_palette is only available with model 2.0 (this row uses 1.0)"
    assert 'did you mean "color_palette"' in by["H1"]["message"]
    no_batches(kiln)


def test_nothing_stored_after_refusals(kiln):
    assert kiln.upload(b"prompt,visibility\n,public\n").status == 422            # validation
    assert kiln.upload(b'prompt,visibility\n"a cat,public\n').status == 422     # reading
    assert kiln.upload(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "x.pdf").status == 415
    assert kiln.upload(b"prompt,visibility\n,public\n", multipart=False).status == 422
    no_batches(kiln)
    assert kiln.request("GET", "/v1/account").json()["credits_reserved"] == 0
    kiln.upload_ok(b"prompt,visibility\na cat,public\n")
    no_batches_but(kiln, 1)


# ---- templates --------------------------------------------------------------------------------

def test_templates_uploaded_unchanged_warn_about_example_rows(kiln):
    for name in ("simple", "full"):
        r = kiln.request("GET", "/v1/templates/%s.csv" % name, auth=False)
        assert r.status == 200
        b, rows = upload_rows(kiln, r.body, "%s.csv" % name)
        assert sorted(rows) == [2, 3]
        assert [(w["row"], w["cell"], w["column"]) for w in b["warnings"]] == \
            [(2, "A2", "prompt"), (3, "A3", "prompt")]
        for w in b["warnings"]:
            assert w["message"].startswith(w["cell"] + " ") and "example" in w["message"]
            assert w["hint"]
        assert rows[2]["prompt"].startswith("Example row") and rows[2]["aspect_ratio"] == "16:9"
        assert rows[3]["visibility"] == "private"
        if name == "full":
            assert rows[2] == {"prompt": rows[2]["prompt"], "visibility": "public",
                               "aspect_ratio": "16:9", "magic_prompt": "on", "model": "2.0",
                               "seed_number": 12345, "rendering": "default",
                               "negative_prompt": "blurry, text, watermark", "style": "general",
                               "color_palette": "#CBA324 #F86C14 #C71E71", "num_images": 4}
            assert rows[3] == {"prompt": rows[3]["prompt"], "visibility": "private",
                               "aspect_ratio": "1:1", "magic_prompt": "off", "model": "2.0",
                               "seed_number": None, "rendering": "turbo",
                               "negative_prompt": "photo, gradients", "style": "design",
                               "color_palette": "pastel", "num_images": 2}
            assert b["images_total"] == 6
        # the same file with the first example replaced warns about the other one only
        lines = r.body.decode("utf-8-sig").splitlines()
        lines[1] = "my own prompt," + lines[1].split('",', 1)[1]
        b = kiln.upload_ok("\n".join(lines).encode())
        assert [w["cell"] for w in b["warnings"]] == ["A3"]


# ---- formats that are not CSV -------------------------------------------------------------------

def test_format_sniffed_from_bytes_not_name(kiln):
    data = b"prompt,visibility\na cat,public\n"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    b = kiln.upload_ok(data, "looks-like.xlsx", content_type=xlsx)
    assert b["rows"] == 1
    b = kiln.upload_ok(data, "raw.xls", multipart=False, content_type="application/vnd.ms-excel")
    assert b["rows"] == 1


@pytest.mark.parametrize("data,what", [
    (b"%PDF-1.7\n1 0 obj\n", "PDF"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "ELF"),
    (b"<?xml version=\"1.0\"?><root/>", "XML"),
    (b"<!DOCTYPE html><html><table><tr><td>prompt</td></tr></table></html>", "HTML"),
    (b"PK\x03\x04" + b"\x00" * 60, "zip"),
])
def test_not_a_spreadsheet_is_415(kiln, data, what):
    status, e = refused(kiln, data, (415, 422), "upload.csv")
    assert what.lower() in e["message"].lower()
    if status == 422:
        assert what == "zip"                    # a damaged container may be 422
    healthy(kiln)
    no_batches(kiln)


@pytest.mark.parametrize("name", WORKBOOKS)
def test_workbooks_read_like_the_csv(kiln, name):
    """Every workbook of batches/ gives stickers.csv's batch over the API, with its warnings."""
    _, ref = upload_rows(kiln, read_corpus("batches", "stickers.csv"), "stickers.csv")
    b, rows = upload_rows(kiln, read_corpus("batches", name), name)
    assert b["rows"] == 12 and b["images_total"] == 48
    assert b["format"] == name.rsplit(".", 1)[1]
    for row, f in ref.items():
        got = dict(rows[row])
        if name.startswith("stickers-default") and row == 5:
            # LibreOffice's default CSV import misread this prompt's UTF-8 (see its oracle)
            assert got.pop("prompt").startswith("Cr\u00c3\u00a8me")
            f = {k: v for k, v in f.items() if k != "prompt"}
        assert got == f, (row, got, f)
    cells = sorted(w["cell"] for w in b["warnings"] if w.get("cell"))
    if name.startswith("stickers-times"):
        assert cells == sorted("C%d" % r for r in range(2, 14) if r != 7)
    else:
        assert cells == []
    sheet_warnings = [w for w in b["warnings"] if not w.get("cell")]
    if name.startswith("stickers-hidden-first"):
        assert len(sheet_warnings) == 1
        assert "Batch" in sheet_warnings[0]["message"]
        assert "Instructions" in sheet_warnings[0]["message"]
    healthy(kiln)


@pytest.mark.parametrize("path", [("batches", "stickers-encrypted.xlsx"),
                                  ("batches", "stickers-encrypted.xls"),
                                  ("batches", "stickers-encrypted.ods"),
                                  ("sheetjs", "password_2002_40_xor.xls"),
                                  ("sheetjs", "password_2002_128_strong.xls"),
                                  ("sheetjs", "biff5", "password_2002_40_xor.xls")],
                         ids=lambda p: "/".join(p))
def test_encrypted_files_say_password(kiln, path):
    _, e = refused(kiln, read_corpus(*path), (415, 422), path[-1])
    assert "password" in e["message"].lower()
    assert "zip" not in e["message"].lower()   # never "not a zip file"
    healthy(kiln)
    no_batches(kiln)


# ---- the real batch files of ../shared/corpus/batches ------------------------------------------

def test_corpus_reference_stickers_csv(kiln):
    b, rows = upload_rows(kiln, read_corpus("batches", "stickers.csv"), "stickers.csv")
    assert b["rows"] == 12 and b["images_total"] == 48 and b["warnings"] == []
    assert rows[2]["color_palette"] == "#CBA324 #F86C14 #C71E71"
    assert rows[2]["negative_prompt"] == "blurry, low resolution, text, watermark"
    assert rows[3]["aspect_ratio"] == "2:3" and rows[3]["visibility"] == "private"
    assert rows[3]["color_palette"] == "pastel" and rows[3]["seed_number"] is None
    assert rows[4]["aspect_ratio"] == "16:9" and rows[4]["model"] == "1.0"
    assert rows[4]["magic_prompt"] == "on" and rows[4]["negative_prompt"] == ""
    assert rows[4]["color_palette"] is None
    assert rows[5]["aspect_ratio"] == "3:4" and rows[5]["seed_number"] == 42
    assert rows[5]["prompt"].startswith("Crème brûlée Christmas pudding")
    assert rows[6]["model"] == "0.2" and rows[6]["seed_number"] == 2147483647
    assert rows[7] == with_defaults(prompt="Candy cane heart with glitter, round sticker",
                                    visibility="public")
    assert '"Let it snow"' in rows[10]["prompt"]
    assert (rows[12]["magic_prompt"], rows[12]["model"], rows[12]["rendering"],
            rows[12]["style"]) == ("on", "2.0", "default", "auto")
    assert rows[13]["seed_number"] == 0


TIME_CELLS = {2: "1:1", 3: "2:3", 4: "16:9", 5: "3:4", 6: "16:9", 8: "2:3", 9: "3:4",
              10: "1:1", 11: "16:9", 12: "2:3", 13: "3:4"}


@pytest.mark.parametrize("name", BATCH_CSV)
def test_corpus_batch_csv_files(kiln, name):
    ref_b, ref = upload_rows(kiln, read_corpus("batches", "stickers.csv"), "stickers.csv")
    with open(corpus_path("batches", "stickers.csv"), newline="", encoding="utf-8") as f:
        prompts = [r[0] for r in csv.reader(f)][1:]
    assert [ref[r]["prompt"] for r in sorted(ref)] == prompts

    b, rows = upload_rows(kiln, read_corpus("batches", name), name)
    assert b["name"] == name
    assert b["rows"] == 12 and b["images_total"] == 48
    assert sorted(rows) == list(range(2, 14))
    assert [rows[r]["prompt"] for r in range(2, 14)] == prompts
    # every field of every row is what stickers.csv gives: ratios, models and seeds included
    for r in range(2, 14):
        assert rows[r] == ref[r], "row %d of %s" % (r, name)

    w = b["warnings"]
    if name == "stickers-cp1252.csv":
        assert len(w) == 1 and "Windows-1252" in w[0]["message"]
        assert rows[5]["prompt"].startswith("Crème brûlée Christmas pudding")
    elif name == "stickers-times.csv":
        assert [x["cell"] for x in w] == ["C%d" % r for r in sorted(TIME_CELLS)]
        for x in w:
            assert x["column"] == "aspect_ratio" and x["row"] == int(x["cell"][1:])
            assert x["message"].startswith(x["cell"] + " aspect_ratio")
            assert ("read as %s " % TIME_CELLS[x["row"]]) in x["message"]
        assert w[2]["value"] == "04:09:00 PM" and "16:09" in w[2]["message"]
        assert [rows[r]["aspect_ratio"] for r in range(2, 14)] == \
            [ref[r]["aspect_ratio"] for r in range(2, 14)]
    else:
        assert w == []


def sheetjs_manifest():
    """(file, format, expectation) of each line of sheetjs/MANIFEST.tsv; [] without the corpus."""
    path = os.path.join(CORPUS, "sheetjs", "MANIFEST.tsv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        fields = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [(x[0], x[1], x[4]) for x in fields[1:]]


SHEETJS = sheetjs_manifest()
SHEETJS_CSV = [f for f, fmt, _ in SHEETJS if fmt.startswith("csv")] or ["(corpus absent)"]


@pytest.mark.parametrize("name", SHEETJS_CSV)
def test_sheetjs_csv_never_crashes(kiln, name):
    data = read_corpus("sheetjs", *name.split("/"))
    t = time.monotonic()
    r = kiln.upload(data, os.path.basename(name))
    assert time.monotonic() - t < 5
    # none of them is a batch (any of 201/422/415 would do for "never crash", but 422
    # is what is due): each header cell of row 1 is reported as an unknown column, with
    # its value as read -- which must be what an independent reader decoded (oracle/)
    assert r.status == 422, r
    assert r.json()["error"]["message"]
    healthy(kiln)
    with open(corpus_path("sheetjs", "oracle", *(name + ".jsonl").split("/")),
              encoding="utf-8") as f:
        first = json.loads(f.readline())
    assert first["row"] == 1
    details = r.json()["error"]["details"]
    header = {d["cell"]: d["value"] for d in details if d.get("row") == 1 and d.get("cell")}
    assert header == {col + "1": v for col, v in first["cells"].items()
                      if v.strip() not in COLUMNS}


def test_sheetjs_other_files_never_crash(kiln):
    files = [f for f, fmt, _ in SHEETJS if not fmt.startswith("csv")]
    if not files:
        corpus_path("sheetjs", "MANIFEST.tsv")
    for name in files:
        r = kiln.upload(read_corpus("sheetjs", *name.split("/")), os.path.basename(name))
        assert r.status in (415, 422), (name, r)
        assert r.json()["error"]["message"], name
    healthy(kiln)
    no_batches(kiln)


# ---- hostile files ----------------------------------------------------------------------------

def hostile(kiln, data, statuses=(422,)):
    t = time.monotonic()
    _, e = refused(kiln, data, statuses, "hostile.csv")
    assert time.monotonic() - t < 5, "took %.1fs" % (time.monotonic() - t)
    healthy(kiln)
    no_batches(kiln)
    return e


def test_hostile_100000_columns(kiln):
    wide = b",".join(b"c%d" % i for i in range(100000))
    e = hostile(kiln, b"prompt,visibility," + wide + b"\na,public\n")
    assert "IW1" in e["message"] and "column" in e["message"]
    e = hostile(kiln, b"prompt,visibility\na,public," + wide + b"\n")
    assert "IW2" in e["message"]


def test_hostile_a_million_rows(kiln):
    e = hostile(kiln, b"prompt,visibility\n" + b"a,public\n" * 1000000)
    assert len(e["details"]) == 1 and "1000001" in e["details"][0]["message"]
    e = hostile(kiln, b"\n" * 5000000)
    assert len(e["details"]) == 1 and "empty" in e["details"][0]["message"]


def test_hostile_100000_empty_columns_are_blank(kiln):
    commas = b"," * 100000
    b = kiln.upload_ok(b"prompt,visibility" + commas + b"\na cat,public" + commas + b"\n")
    assert b["rows"] == 1


@pytest.mark.parametrize("quoted", [True, False], ids=["quoted", "unquoted"])
def test_hostile_5mb_cell(kiln, quoted):
    cell = b"a" * (5 * 1024 * 1024)
    if quoted:
        cell = b'"' + cell + b'"'
    e = hostile(kiln, b"prompt,visibility\n" + cell + b",public\n")
    assert "A2" in e["message"]


def test_hostile_unterminated_quote(kiln):
    e = hostile(kiln, b'prompt,visibility\nok,public\n"a cat, public\nmore,public\n')
    assert "A3" in e["message"] and "quote" in e["message"]


def test_hostile_nul_bytes(kiln):
    hostile(kiln, b"prompt,visibility\na\x00cat,public\n", (415, 422))
    late = b"prompt,visibility\n" + b"x" * 9000 + b",public\nnul\x00here,public\n"
    e = hostile(kiln, late, (415, 422))
    assert "NUL" in e["message"] or "binary" in e["message"]


@pytest.mark.parametrize("data", [
    b"\xff\xfe" + "prompt\tvisibility\n".encode("utf-16-le") + b"\x00\xd8a\x00",   # lone high
    b"\xff\xfe" + "prompt\tvisibility\n".encode("utf-16-le") + b"\x00\xdc\n\x00",  # lone low
    b"\xfe\xff" + "prompt\tvisibility\n".encode("utf-16-be") + b"\xd8\x00",         # at the end
    b"\xff\xfe" + "prompt\tvisibility\n".encode("utf-16-le") + b"a",                # odd length
], ids=["lone-high", "lone-low", "high-at-end", "odd-length"])
def test_hostile_invalid_utf16(kiln, data):
    e = hostile(kiln, data)
    assert "UTF-16" in e["message"]


def test_upload_past_max_upload_bytes(make_kiln):
    k = make_kiln(["--set", "max_upload_bytes=64K"])
    for multipart in (True, False):
        refused(k, many_rows(10000), (413,), multipart=multipart)
    assert k.upload_ok(many_rows(10))["rows"] == 10
    healthy(k)
