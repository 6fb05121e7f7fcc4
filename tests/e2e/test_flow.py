"""
test_flow.py — the whole batch flow of api.md against a real kilnd: upload,
preview, start, progress, rows, images, archive, delete, replace, templates,
credits, idempotency, and the error answers.
"""
import csv
import io
import json
import os
import struct
import zipfile

from conftest import stickers_csv


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def test_health_needs_no_token_and_v1_does(kiln):
    r = kiln.request("GET", "/healthz", auth=False)
    assert r.status == 200 and r.json()["status"] == "ok"
    r = kiln.request("GET", "/v1/batches", auth=False)
    assert r.status == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = kiln.request("GET", "/v1/batches", token="kiln_" + "0" * 64)
    assert r.status == 401


def test_admin_token_file_is_private(kiln):
    st = os.stat(os.path.join(kiln.data_dir, "admin.token"))
    assert st.st_mode & 0o777 == 0o600
    assert "admin.token" in kiln.log()


def test_upload_preview(kiln):
    b = kiln.upload_ok(stickers_csv(), "stickers.csv")
    assert b["state"] == "draft"
    assert b["name"] == "stickers.csv"
    assert b["rows"] == 12
    assert b["images_total"] == 48
    assert b["credits_required"] == 96
    assert b["credits_available"] == 100000
    assert b["warnings"] == []
    p = b["preview"]
    assert p["row"] == 2
    f = p["fields"]
    assert f["prompt"].startswith("A cheerful gingerbread man sticker")
    assert f["visibility"] == "public"
    assert f["aspect_ratio"] == "1:1"
    assert f["model"] == "2.0"
    assert f["seed_number"] == 12345
    assert f["color_palette"] == "#CBA324 #F86C14 #C71E71"
    assert f["negative_prompt"] == "blurry, low resolution, text, watermark"
    assert f["style"] == "design"
    assert f["num_images"] == 4
    # the same batch, read back
    assert kiln.batch(b["id"])["preview"] == p


def test_upload_raw_body_with_name(kiln):
    b = kiln.upload_ok(stickers_csv(), "mine.csv", multipart=False)
    assert b["name"] == "mine.csv" and b["rows"] == 12


def test_defaults_applied_in_rows(kiln):
    b = kiln.upload_ok(stickers_csv(), "stickers.csv")
    r = kiln.request("GET", "/v1/batches/%s/rows?limit=500" % b["id"]).json()
    rows = {x["row"]: x for x in r["rows"]}
    assert sorted(rows) == list(range(2, 14))
    seven = rows[7]["fields"]   # only prompt and visibility were given
    assert seven == {"prompt": "Candy cane heart with glitter, round sticker", "visibility": "public",
                     "aspect_ratio": "1:1", "magic_prompt": "on", "model": "2.0",
                     "seed_number": None, "rendering": "default", "negative_prompt": "",
                     "style": "auto", "color_palette": None, "num_images": 4}
    assert rows[10]["fields"]["prompt"] == 'Snowman with a carrot nose and "Let it snow" lettering, sticker'
    assert rows[5]["fields"]["prompt"].startswith("Crème brûlée")
    assert all(x["state"] == "pending" for x in r["rows"])


def test_full_flow_to_archive(kiln):
    b = kiln.upload_ok(stickers_csv(), "stickers.csv")
    r = kiln.start_batch(b["id"])
    assert r.status == 200, r
    assert r.json()["state"] in ("queued", "running", "completed")
    assert r.json()["credits_available"] == 100000 - 96
    done = kiln.wait_state(b["id"], "completed")
    assert done["images_done"] == 48 and done["images_failed"] == 0
    assert done["progress"] == 1
    assert done["credits_charged"] == 96
    assert done["started_at"] and done["finished_at"]
    acct = kiln.request("GET", "/v1/account").json()
    assert acct["credits_available"] == 100000 - 96
    assert acct["credits_reserved"] == 0

    # rows: every row done, every image with a URL that serves a PNG of the right shape
    rows = kiln.request("GET", "/v1/batches/%s/rows?limit=500" % b["id"]).json()["rows"]
    assert all(x["state"] == "done" for x in rows)
    row4 = next(x for x in rows if x["row"] == 4)   # 16:9
    assert [i["index"] for i in row4["images"]] == [1, 2, 3, 4]
    img = kiln.request("GET", row4["images"][0]["url"])
    assert img.status == 200 and img.header("Content-Type") == "image/png"
    w, h = png_size(img.body)
    assert w == 64 and abs(w / h - 16 / 9) < 0.2
    etag = img.header("ETag")
    assert etag
    again = kiln.request("GET", row4["images"][0]["url"], headers={"If-None-Match": etag})
    assert again.status == 304

    meta = kiln.request("GET", "/v1/images/" + row4["images"][0]["id"]).json()
    assert meta["batch_id"] == b["id"] and meta["row"] == 4 and meta["index"] == 1
    assert meta["fields"]["seed_number"] == 987654321
    assert meta["width"] == w and meta["height"] == h

    # the archive: 48 PNGs named in row order and the manifest
    a = kiln.request("GET", "/v1/batches/%s/archive" % b["id"])
    assert a.status == 200
    assert a.header("Content-Type") == "application/zip"
    assert 'filename="stickers.zip"' in a.header("Content-Disposition")
    z = zipfile.ZipFile(io.BytesIO(a.body))
    assert z.testzip() is None
    names = z.namelist()
    pngs = sorted(n for n in names if n.endswith(".png"))
    assert len(pngs) == 48
    assert pngs[0] == "row-0002-1.png" and pngs[-1] == "row-0013-4.png"
    assert "manifest.csv" in names
    assert z.read("row-0004-1.png") == img.body
    man = list(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))
    assert len(man) == 48
    m = next(x for x in man if x["file"] == "row-0005-1.png")
    assert m["prompt"].startswith("Crème brûlée") and m["seed_number"] == "42"
    assert m["status"] == "done" and m["engine"] == "builtin" and m["seed"]
    # images of different rows differ; the same row's images differ too
    assert z.read("row-0002-1.png") != z.read("row-0003-1.png")
    assert z.read("row-0002-1.png") != z.read("row-0002-2.png")


def test_deterministic_images(make_kiln):
    """The same prompt, settings, seed and index give the same bytes, in another kilnd."""
    data = b"prompt,visibility,seed_number,num_images\ncat,public,7,2\n"
    digests = []
    for _ in range(2):
        k = make_kiln(["--set", "builtin.size=48"])
        b = k.upload_ok(data)
        k.start_batch(b["id"])
        k.wait_state(b["id"], "completed")
        z = zipfile.ZipFile(io.BytesIO(k.request("GET", "/v1/batches/%s/archive" % b["id"]).body))
        digests.append([z.read(n) for n in ("row-0002-1.png", "row-0002-2.png")])
        k.stop()
    assert digests[0] == digests[1]
    assert digests[0][0] != digests[0][1]


def test_list_and_paging(kiln):
    ids = [kiln.upload_ok(stickers_csv(), "s%d.csv" % i)["id"] for i in range(5)]
    r = kiln.request("GET", "/v1/batches?limit=2").json()
    assert [b["id"] for b in r["batches"]] == ids[::-1][:2]
    seen = [b["id"] for b in r["batches"]]
    while r["next_cursor"]:
        r = kiln.request("GET", "/v1/batches?limit=2&cursor=" + r["next_cursor"]).json()
        seen += [b["id"] for b in r["batches"]]
    assert seen == ids[::-1]
    kiln.start_batch(ids[0])
    kiln.wait_state(ids[0], "completed")
    r = kiln.request("GET", "/v1/batches?state=completed").json()
    assert [b["id"] for b in r["batches"]] == [ids[0]]
    assert kiln.request("GET", "/v1/batches?state=bogus").status == 400
    assert kiln.request("GET", "/v1/batches?limit=0").status == 400
    assert kiln.request("GET", "/v1/batches?limit=501").status == 400


def test_rows_paging(kiln):
    b = kiln.upload_ok(stickers_csv())
    got, cursor = [], None
    while True:
        q = "/v1/batches/%s/rows?limit=5" % b["id"] + ("&cursor=" + cursor if cursor else "")
        r = kiln.request("GET", q).json()
        got += [x["row"] for x in r["rows"]]
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert got == list(range(2, 14))


def test_replace_draft_only(kiln):
    b = kiln.upload_ok(stickers_csv(), "stickers.csv")
    r = kiln.upload(b"prompt,visibility\na fox,private\n", "fox.csv",
                    path="/v1/batches/%s/spreadsheet" % b["id"], method="PUT")
    assert r.status == 200, r
    nb = r.json()
    assert nb["id"] == b["id"] and nb["rows"] == 1 and nb["images_total"] == 4
    assert nb["name"] == "fox.csv"
    assert nb["preview"]["fields"]["prompt"] == "a fox"
    # a bad replacement changes nothing
    r = kiln.upload(b"prompt,visibility\n,public\n", "bad.csv",
                    path="/v1/batches/%s/spreadsheet" % b["id"], method="PUT")
    assert r.status == 422
    assert kiln.batch(b["id"])["name"] == "fox.csv"
    kiln.start_batch(b["id"])
    r = kiln.upload(stickers_csv(), "again.csv",
                    path="/v1/batches/%s/spreadsheet" % b["id"], method="PUT")
    assert r.status == 409 and r.json()["error"]["code"] == "invalid_state"


def test_delete(kiln):
    b = kiln.upload_ok(stickers_csv())
    kiln.start_batch(b["id"])
    kiln.wait_state(b["id"], "completed")
    img_dir = os.path.join(kiln.data_dir, "images", b["id"])
    assert len(os.listdir(img_dir)) == 48
    r = kiln.request("DELETE", "/v1/batches/" + b["id"])
    assert r.status == 204
    assert kiln.request("GET", "/v1/batches/" + b["id"]).status == 404
    assert not os.path.exists(img_dir)
    assert kiln.request("DELETE", "/v1/batches/" + b["id"]).status == 404


def test_start_is_idempotent_and_checks_state(kiln):
    b = kiln.upload_ok(stickers_csv())
    assert kiln.start_batch(b["id"]).status == 200
    done = kiln.wait_state(b["id"], "completed")
    assert done["credits_charged"] == 96
    r = kiln.start_batch(b["id"])
    assert r.status == 409 and r.json()["error"]["code"] == "invalid_state"
    assert kiln.resume_batch(b["id"]).status == 409
    assert kiln.stop_batch(b["id"]).status == 409
    acct = kiln.request("GET", "/v1/account").json()
    assert acct["credits_available"] == 100000 - 96


def test_insufficient_credits(make_kiln):
    k = make_kiln(["--set", "admin_credits=50"])
    b = k.upload_ok(stickers_csv())
    assert b["credits_required"] == 96 and b["credits_available"] == 50
    r = k.start_batch(b["id"])
    assert r.status == 402
    e = r.json()["error"]
    assert e["code"] == "insufficient_credits" and e["required"] == 96 and e["available"] == 50
    assert k.batch(b["id"])["state"] == "draft"
    small = k.upload_ok(b"prompt,visibility,num_images\na,public,1\n")
    assert k.start_batch(small["id"]).status == 200
    k.wait_state(small["id"], "completed")
    assert k.request("GET", "/v1/account").json()["credits_available"] == 48


def test_webhook_url_checked(kiln):
    b = kiln.upload_ok(stickers_csv())
    r = kiln.start_batch(b["id"], {"webhook_url": "ftp://example.invalid/x"})
    assert r.status == 400
    r = kiln.request("POST", "/v1/batches/%s/start" % b["id"], body=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert r.status == 400
    r = kiln.start_batch(b["id"], {"webhook_url": "https://hooks.example.invalid/kiln"})
    assert r.status == 200
    assert r.json()["webhook_url"] == "https://hooks.example.invalid/kiln"


def test_idempotency_key(kiln):
    h = {"Idempotency-Key": "upload-1"}
    a = kiln.upload_ok(stickers_csv(), headers=h)
    b = kiln.upload_ok(stickers_csv(), headers=h)
    assert a["id"] == b["id"]
    c = kiln.upload_ok(stickers_csv(), headers={"Idempotency-Key": "upload-2"})
    assert c["id"] != a["id"]
    assert len(kiln.request("GET", "/v1/batches").json()["batches"]) == 2


def test_errors(make_kiln):
    k = make_kiln(["--set", "max_upload_bytes=4K"])
    # too large, declared and streamed
    r = k.upload(b"prompt,visibility\n" + b"a,public\n" * 1000, multipart=False)
    assert r.status == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = k.upload(b"prompt,visibility\n" + b"a,public\n" * 1000)
    assert r.status == 413
    # not a spreadsheet
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    r = k.upload(png, "x.png", content_type="image/png")
    assert r.status == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    # every problem at once
    r = k.upload(b"prompt,visibility,aspect_ratio\n,public,7:5\ncat,hidden,1:1\n")
    assert r.status == 422
    e = r.json()["error"]
    assert e["code"] == "invalid_spreadsheet"
    cells = sorted(d["cell"] for d in e["details"])
    assert cells == ["A2", "B3", "C2"]
    c2 = next(d for d in e["details"] if d["cell"] == "C2")
    assert c2["row"] == 2 and c2["column"] == "aspect_ratio" and c2["value"] == "7:5"
    assert c2["message"] and c2["hint"]
    # empty body, form without file
    assert k.upload(b"", multipart=False).status == 400
    # unknown routes, methods and ids
    assert k.request("GET", "/v1/nothing").status == 404
    assert k.request("PATCH", "/v1/batches").status == 405
    assert k.request("GET", "/v1/batches/../../etc/passwd").status == 404
    assert k.request("GET", "/v1/batches/%2e%2e%2fkiln.db").status == 404
    assert k.request("GET", "/v1/batches/" + "0" * 24).status == 404
    assert k.request("GET", "/v1/images/" + "0" * 24 + "/file").status == 404
    r = k.request("GET", "/v1/batches/zzz/archive")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    # nothing was stored by the failed uploads
    assert k.request("GET", "/v1/batches").json()["batches"] == []


def test_templates(kiln):
    for name, cols in (("simple", ["prompt", "visibility", "aspect_ratio"]),
                       ("full", ["prompt", "visibility", "aspect_ratio", "magic_prompt", "model",
                                 "seed_number", "rendering", "negative_prompt", "style",
                                 "color_palette", "num_images"])):
        r = kiln.request("GET", "/v1/templates/%s.csv" % name, auth=False)
        assert r.status == 200
        assert r.header("Content-Type").startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"))))
        assert sorted(rows[0]) == sorted(cols)
        assert len(rows) == 3
        # uploading it unchanged works, with a warning per example row
        b = kiln.upload_ok(r.body, "%s.csv" % name)
        assert b["rows"] == 2
        assert len([w for w in b["warnings"] if w.get("row") in (2, 3)]) == 2
    assert kiln.request("GET", "/v1/templates/other.csv", auth=False).status == 404


def test_restart_keeps_everything(make_kiln):
    k = make_kiln(["--set", "builtin.size=32"])
    b = k.upload_ok(stickers_csv())
    k.start_batch(b["id"])
    k.wait_state(b["id"], "completed")
    token = k.token
    assert k.stop() == 0
    k.start()
    assert k.token == token
    again = k.batch(b["id"])
    assert again["state"] == "completed" and again["images_done"] == 48
    assert k.log().count("applied migration 0001_init") == 1
