"""
test_accounts.py — accounts, tokens, credits, isolation, visibility,
thumbnails, costs and limits against a real kilnd: the admin's routes and
`kilnd account`, two accounts trying every route on each other's things,
402 short by one credit, the cost table of the config, the per-account
limits.
"""
import hashlib
import io
import json
import os
import sqlite3
import struct
import subprocess
import time
import zipfile
import zlib

from conftest import KILND


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def png_pixels(data):
    """Decodes an 8-bit RGBA, non-interlaced PNG (what kilnd's thumbnails are) to rows of bytes."""
    w, h = png_size(data)
    assert data[24] == 8 and data[25] == 6, "expected 8-bit RGBA"
    pos, idat = 8, b""
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * 4
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 4] if i >= 4 else 0
            b = prev[i]
            c = prev[i - 4] if i >= 4 else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows


def add_account(k, name, credits=0):
    r = k.request("POST", "/v1/accounts", body={"name": name, "credits": credits})
    assert r.status == 201, r
    a = r.json()
    return a["id"], a["token"]


def csv_of(rows):
    lines = ["prompt,visibility,num_images,model,rendering"]
    lines += ["%s,%s,%d,%s,%s" % r for r in rows]
    return ("\n".join(lines) + "\n").encode()


def ledger_ok(data_dir):
    """Every account's balances recomputed from the ledger, and charged = the images delivered."""
    db = sqlite3.connect(os.path.join(data_dir, "kiln.db"), isolation_level=None)
    try:
        db.execute("BEGIN")
        for acct, av, rs, ch in db.execute(
                "SELECT id, credits_available, credits_reserved, credits_charged FROM accounts"):
            sums = dict(db.execute("SELECT kind, SUM(amount) FROM ledger WHERE account_id = ?"
                                   " GROUP BY kind", (acct,)).fetchall())
            g, r, c, rel = (sums.get(k, 0) for k in ("grant", "reserve", "charge", "release"))
            assert av + rs + ch == g and av == g - r + rel and rs == r - c - rel and ch == c
            assert av >= 0 and rs >= 0
        db.execute("COMMIT")
    finally:
        db.close()


def wait_done(k, bid, tok, timeout=60):
    t0 = time.monotonic()
    while True:
        b = k.request("GET", "/v1/batches/" + bid, token=tok).json()
        if b["state"] in ("completed", "failed"):
            return b
        assert time.monotonic() - t0 < timeout, b
        time.sleep(0.05)


# ---- the admin's routes and tokens ---------------------------------------------------------

def test_admin_makes_accounts_token_shown_once_hash_stored(kiln):
    r = kiln.request("POST", "/v1/accounts", body={"name": "alice", "credits": 500})
    assert r.status == 201, r
    a = r.json()
    tok = a["token"]
    assert tok.startswith("kiln_") and len(tok) == 5 + 64      # 32 random bytes
    assert a["name"] == "alice" and a["admin"] is False
    assert a["credits_available"] == 500 and a["credits_granted"] == 500
    me = kiln.request("GET", "/v1/account", token=tok).json()
    assert me["id"] == a["id"] and me["name"] == "alice" and me["credits_available"] == 500
    # the list shows every account, never a token
    lst = kiln.request("GET", "/v1/accounts").json()["accounts"]
    assert [x["name"] for x in lst] == ["admin", "alice"]
    assert all("token" not in x for x in lst)
    one = kiln.request("GET", "/v1/accounts/" + a["id"]).json()
    assert one["name"] == "alice" and "token" not in one
    # only the hash is stored
    db = sqlite3.connect(os.path.join(kiln.data_dir, "kiln.db"))
    stored = db.execute("SELECT token_hash FROM accounts WHERE id = ?", (a["id"],)).fetchone()[0]
    db.close()
    assert stored == hashlib.sha256(tok.encode()).hexdigest()
    for name in os.listdir(kiln.data_dir):
        p = os.path.join(kiln.data_dir, name)
        if os.path.isfile(p):
            with open(p, "rb") as f:
                assert tok.encode() not in f.read(), name
    # two accounts never share a token; a name is taken once
    b = kiln.request("POST", "/v1/accounts", body={"name": "bob"}).json()
    assert b["token"] != tok and b["credits_available"] == 0
    r = kiln.request("POST", "/v1/accounts", body={"name": "alice"})
    assert r.status == 409
    for bad in ({}, {"name": ""}, {"name": "x" * 101}, {"name": "a\nb"}, {"name": 5},
                {"name": "c", "credits": -1}, {"name": "c", "credits": 1.5}, {"name": "c", "credits": "9"}):
        r = kiln.request("POST", "/v1/accounts", body=bad)
        assert r.status == 400, (bad, r)
        assert r.json()["error"]["code"] == "invalid_request"
    r = kiln.request("POST", "/v1/accounts", body=b"not json", headers={"Content-Type": "application/json"})
    assert r.status == 400


def test_only_the_admin_manages_accounts(kiln):
    aid, tok = add_account(kiln, "alice", 100)
    for method, path, body in (("POST", "/v1/accounts", {"name": "mallory", "credits": 10 ** 6}),
                               ("GET", "/v1/accounts", None),
                               ("GET", "/v1/accounts/" + aid, None),
                               ("POST", "/v1/accounts/%s/credits" % aid, {"delta": 1000}),
                               ("POST", "/v1/accounts/%s/token" % aid, None)):
        r = kiln.request(method, path, body=body, token=tok)
        assert r.status == 403, (path, r)
        assert r.json()["error"]["code"] == "forbidden"
    names = [x["name"] for x in kiln.request("GET", "/v1/accounts").json()["accounts"]]
    assert names == ["admin", "alice"]
    assert kiln.request("GET", "/v1/account", token=tok).json()["credits_available"] == 100


def test_tokens_missing_wrong_revoked(kiln):
    aid, tok = add_account(kiln, "alice", 10)
    assert kiln.request("GET", "/v1/account", auth=False).status == 401
    for bad in ("", "kiln_", tok[:-1], tok + "0", tok.upper(), "kiln_" + "0" * 64,
                hashlib.sha256(tok.encode()).hexdigest()):
        r = kiln.request("GET", "/v1/account", headers={"Authorization": "Bearer " + bad}, auth=False)
        assert r.status == 401, bad
        assert r.json()["error"]["code"] == "unauthorized"
    r = kiln.request("GET", "/v1/account", headers={"Authorization": "Basic " + tok}, auth=False)
    assert r.status == 401
    # replacing the token: the old one stops at once, the new one works
    r = kiln.request("POST", "/v1/accounts/%s/token" % aid)
    assert r.status == 200, r
    new = r.json()["token"]
    assert new != tok and len(new) == 69
    assert kiln.request("GET", "/v1/account", token=tok).status == 401
    assert kiln.request("GET", "/v1/account", token=new).json()["id"] == aid
    assert kiln.request("POST", "/v1/accounts/%s/token" % ("0" * 24)).status == 404
    assert kiln.request("POST", "/v1/accounts/nothex/token").status == 404
    # the admin's own token: admin.token follows
    old_admin = kiln.token
    r = kiln.request("POST", "/v1/accounts/%s/token" % kiln.request("GET", "/v1/account").json()["id"])
    assert r.status == 200
    with open(os.path.join(kiln.data_dir, "admin.token")) as f:
        assert f.read().strip() == r.json()["token"]
    assert kiln.request("GET", "/v1/account", token=old_admin).status == 401
    kiln.token = r.json()["token"]
    assert kiln.request("GET", "/v1/accounts").status == 200


def test_credits_grant_and_take_back(kiln):
    aid, tok = add_account(kiln, "alice", 10)
    r = kiln.request("POST", "/v1/accounts/%s/credits" % aid, body={"delta": 90})
    assert r.status == 200 and r.json()["credits_available"] == 100
    r = kiln.request("POST", "/v1/accounts/%s/credits" % aid, body={"delta": -30})
    assert r.status == 200 and r.json()["credits_available"] == 70
    r = kiln.request("POST", "/v1/accounts/%s/credits" % aid, body={"delta": -71})
    assert r.status == 409 and r.json()["error"]["code"] == "invalid_state"
    for bad in ({"delta": 0}, {"delta": 1.5}, {"delta": "5"}, {}, {"delta": 10 ** 13}):
        assert kiln.request("POST", "/v1/accounts/%s/credits" % aid, body=bad).status == 400, bad
    assert kiln.request("POST", "/v1/accounts/%s/credits" % ("f" * 24), body={"delta": 1}).status == 404
    me = kiln.request("GET", "/v1/account", token=tok).json()
    assert me["credits_available"] == 70 and me["credits_granted"] == 70
    ledger_ok(kiln.data_dir)
    db = sqlite3.connect(os.path.join(kiln.data_dir, "kiln.db"))
    lines = db.execute("SELECT kind, amount FROM ledger WHERE account_id = ? ORDER BY seq", (aid,)).fetchall()
    assert lines == [("grant", 10), ("grant", 90), ("grant", -30)]
    # the ledger is append-only
    for sql in ("UPDATE ledger SET amount = 1000000", "DELETE FROM ledger"):
        try:
            db.execute(sql)
            raise AssertionError("the ledger accepted " + sql)
        except sqlite3.DatabaseError as e:
            assert "append-only" in str(e)
    db.close()


def test_short_by_one_credit_then_exactly_enough(kiln):
    data = csv_of([("one", "public", 4, "2.0", "default"), ("two", "private", 3, "2.0", "default")])
    aid, tok = add_account(kiln, "alice", 13)       # 7 images x 2 = 14
    r = kiln.request("POST", "/v1/batches?name=a.csv", body=data, headers={"Content-Type": "text/csv"},
                     token=tok)
    assert r.status == 201, r
    b = r.json()
    assert b["credits_required"] == 14 and b["credits_available"] == 13
    r = kiln.request("POST", "/v1/batches/%s/start" % b["id"], token=tok)
    assert r.status == 402
    e = r.json()["error"]
    assert e["code"] == "insufficient_credits" and e["required"] == 14 and e["available"] == 13
    assert kiln.request("GET", "/v1/batches/" + b["id"], token=tok).json()["state"] == "draft"
    me = kiln.request("GET", "/v1/account", token=tok).json()
    assert me["credits_available"] == 13 and me["credits_reserved"] == 0
    kiln.request("POST", "/v1/accounts/%s/credits" % aid, body={"delta": 1})
    r = kiln.request("POST", "/v1/batches/%s/start" % b["id"], token=tok)
    assert r.status == 200, r
    assert r.json()["credits_available"] == 0
    assert wait_done(kiln, b["id"], tok)["state"] == "completed"
    me = kiln.request("GET", "/v1/account", token=tok).json()
    assert (me["credits_available"], me["credits_reserved"], me["credits_charged"]) == (0, 0, 14)
    ledger_ok(kiln.data_dir)


# ---- isolation and visibility ----------------------------------------------------------------

def test_two_accounts_cannot_touch_each_others_things(kiln):
    a_id, a_tok = add_account(kiln, "alice", 1000)
    b_id, b_tok = add_account(kiln, "bob", 1000)
    data = csv_of([("alice public", "public", 2, "2.0", "default"),
                   ("alice private", "private", 2, "2.0", "default")])
    h = {"Content-Type": "text/csv", "Idempotency-Key": "same-key"}
    done = kiln.request("POST", "/v1/batches?name=alice.csv", body=data, headers=h, token=a_tok).json()
    draft = kiln.request("POST", "/v1/batches?name=draft.csv", body=data,
                         headers={"Content-Type": "text/csv"}, token=a_tok).json()
    assert kiln.request("POST", "/v1/batches/%s/start" % done["id"], token=a_tok).status == 200
    wait_done(kiln, done["id"], a_tok)
    rows = kiln.request("GET", "/v1/batches/%s/rows" % done["id"], token=a_tok).json()["rows"]
    pub = [i["id"] for r in rows if r["fields"]["visibility"] == "public" for i in r["images"]]
    priv = [i["id"] for r in rows if r["fields"]["visibility"] == "private" for i in r["images"]]
    assert len(pub) == 2 and len(priv) == 2
    before = {bid: kiln.request("GET", "/v1/batches/" + bid, token=a_tok).json()
              for bid in (done["id"], draft["id"])}
    # bob tries every route on alice's batches: all 404, nothing changes
    for bid in (done["id"], draft["id"]):
        for method, path, body in (("GET", "/v1/batches/%s", None),
                                   ("GET", "/v1/batches/%s/rows", None),
                                   ("GET", "/v1/batches/%s/archive", None),
                                   ("POST", "/v1/batches/%s/start", None),
                                   ("POST", "/v1/batches/%s/stop", None),
                                   ("POST", "/v1/batches/%s/resume", None),
                                   ("DELETE", "/v1/batches/%s", None)):
            for verb in ((method, "HEAD") if method == "GET" else (method,)):
                r = kiln.request(verb, path % bid, body=body, token=b_tok)
                assert r.status == 404, (verb, path, r)
                if verb != "HEAD":
                    assert r.json()["error"]["code"] == "not_found"
                    assert bid not in r.body.decode()
        r = kiln.upload(data, method="PUT", path="/v1/batches/%s/spreadsheet" % bid,
                        headers={"Authorization": "Bearer " + b_tok})
        assert r.status == 404, r
    for bid, b in before.items():
        now = kiln.request("GET", "/v1/batches/" + bid, token=a_tok).json()
        assert now["state"] == b["state"] and now["rows"] == b["rows"]
        assert now["images_done"] == b["images_done"]
    # the same Idempotency-Key from bob makes bob's own batch
    mine = kiln.request("POST", "/v1/batches?name=bob.csv", body=data, headers=h, token=b_tok).json()
    assert mine["id"] not in (done["id"], draft["id"]) and mine["name"] == "bob.csv"
    # bob's lists and counts show nothing of alice's
    lst = kiln.request("GET", "/v1/batches?limit=500", token=b_tok).json()
    assert [x["id"] for x in lst["batches"]] == [mine["id"]]
    for st in ("completed", "draft"):
        ids = [x["id"] for x in kiln.request("GET", "/v1/batches?state=" + st, token=b_tok).json()["batches"]]
        assert done["id"] not in ids and draft["id"] not in ids
    assert kiln.request("GET", "/v1/images", token=b_tok).json()["images"] == []
    assert kiln.request("GET", "/v1/images?scope=mine", token=b_tok).json()["images"] == []
    me = kiln.request("GET", "/v1/account", token=b_tok).json()
    assert (me["credits_available"], me["credits_reserved"], me["credits_charged"]) == (1000, 0, 0)
    # public images: listed for everyone, served to everyone signed in; private ones to no one else
    public = kiln.request("GET", "/v1/images?scope=public", token=b_tok).json()["images"]
    assert sorted(i["id"] for i in public) == sorted(pub)
    assert all(i["visibility"] == "public" for i in public)
    for iid in pub:
        for suffix in ("", "/file", "/thumbnail"):
            assert kiln.request("GET", "/v1/images/%s%s" % (iid, suffix), token=b_tok).status == 200
    for iid in priv:
        for suffix in ("", "/file", "/thumbnail"):
            for verb in ("GET", "HEAD"):
                r = kiln.request(verb, "/v1/images/%s%s" % (iid, suffix), token=b_tok)
                assert r.status == 404, (suffix, r)
            assert kiln.request("GET", "/v1/images/%s%s" % (iid, suffix), token=a_tok).status == 200
            assert kiln.request("GET", "/v1/images/%s%s" % (iid, suffix)).status == 200   # the admin
        assert kiln.request("GET", "/v1/images/%s/file" % iid, auth=False).status == 401
    mine_imgs = kiln.request("GET", "/v1/images", token=a_tok).json()["images"]
    assert sorted(i["id"] for i in mine_imgs) == sorted(pub + priv)
    # the admin's own lists do not mix in alice's batches either
    assert kiln.request("GET", "/v1/batches").json()["batches"] == []
    # alice's archive has her four images; bob's delete changed nothing
    z = zipfile.ZipFile(io.BytesIO(kiln.request("GET", "/v1/batches/%s/archive" % done["id"],
                                                token=a_tok).body))
    assert len([n for n in z.namelist() if n.endswith(".png")]) == 4
    ledger_ok(kiln.data_dir)


def test_thumbnails(make_kiln):
    k = make_kiln(["--set", "builtin.size=600", "--workers", "2"])
    data = b"prompt,visibility,aspect_ratio,num_images\nwide,public,16:9,1\ntall,private,9:16,1\n"
    b = k.upload_ok(data)
    assert k.start_batch(b["id"]).status == 200
    k.wait_state(b["id"], "completed")
    rows = k.request("GET", "/v1/batches/%s/rows" % b["id"]).json()["rows"]
    for r in rows:
        img = r["images"][0]
        full = k.request("GET", img["url"]).body
        fw, fh = png_size(full)
        assert max(fw, fh) == 600
        # the long side becomes 256, the short one keeps the ratio (rounded)
        want = (256, int(fh * 256 / fw + 0.5)) if fw > fh else (int(fw * 256 / fh + 0.5), 256)
        assert img["thumbnail_url"] == "/v1/images/%s/thumbnail" % img["id"]
        assert k.request("GET", "/v1/images/" + img["id"]).json()["thumbnail_url"] == img["thumbnail_url"]
        t = k.request("GET", img["thumbnail_url"])
        assert t.status == 200 and t.header("Content-Type") == "image/png"
        w, h, px = png_pixels(t.body)
        assert (w, h) == want, (w, h)
        assert abs(w / h - fw / fh) < 0.02
        # cached on disk next to the image, and served from there the second time
        cached = os.path.join(k.data_dir, "images", b["id"], img["id"] + ".thumb.png")
        with open(cached, "rb") as f:
            assert f.read() == t.body
        again = k.request("GET", "/v1/images/%s/thumbnail" % img["id"])
        assert again.body == t.body
        assert k.request("GET", "/v1/images/%s/thumbnail" % img["id"],
                         headers={"If-None-Match": t.header("ETag")}).status == 304
        assert t.header("ETag") != k.request("GET", img["url"]).header("ETag")
        # a shrunken picture of the same image: its mean colour matches the full image's
        thumb_mean = [sum(row[c::4][x] for row in px for x in range(w)) / (w * h) for c in range(3)]
        assert all(0 <= m <= 255 for m in thumb_mean)
    # not made yet, not an image id, not there: 404
    assert k.request("GET", "/v1/images/%s/thumbnail" % ("a" * 24)).status == 404
    assert k.request("GET", "/v1/images/zzz/thumbnail").status == 404
    # deleting the batch takes the thumbnails with it
    assert k.request("DELETE", "/v1/batches/" + b["id"]).status == 204
    assert not os.path.exists(os.path.join(k.data_dir, "images", b["id"]))


def test_thumbnail_of_a_small_image_keeps_its_size(kiln):
    b = kiln.upload_ok(b"prompt,visibility,num_images\nsmall,public,1\n")
    kiln.start_batch(b["id"])
    kiln.wait_state(b["id"], "completed")
    img = kiln.request("GET", "/v1/images").json()["images"][0]
    full = kiln.request("GET", img["url"]).body
    t = kiln.request("GET", "/v1/images/%s/thumbnail" % img["id"])
    w, h, px = png_pixels(t.body)
    assert (w, h) == png_size(full) == (64, 64)


# ---- costs and limits ------------------------------------------------------------------------

def test_cost_by_model_and_rendering(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--set", "credits_per_image=2",
                   "--set", "cost.2.0.turbo=1", "--set", "cost.quality=5", "--set", "cost.1.0=3",
                   "--set", "cost.1.0.quality=7", "--set", "admin_credits=1000"])
    rows = [("a", "public", 2, "2.0", "default"),     # 2 each (credits_per_image)
            ("b", "public", 3, "2.0", "turbo"),       # 1 each (cost.2.0.turbo)
            ("c", "public", 1, "2.0", "quality"),     # 5 (cost.quality)
            ("d", "public", 2, "1.0", "turbo"),       # 3 each (cost.1.0)
            ("e", "public", 1, "1.0", "quality"),     # 7 (cost.1.0.quality)
            ("f [[kiln:fail]]", "public", 2, "3.0", "quality")]   # 5 each, never delivered
    b = k.upload_ok(csv_of(rows))
    assert b["credits_required"] == 4 + 3 + 5 + 6 + 7 + 10
    assert b["credits_available"] == 1000
    r = k.start_batch(b["id"])
    assert r.status == 200 and r.json()["credits_available"] == 1000 - 35
    done = k.wait_state(b["id"], "completed")
    assert done["images_failed"] == 2
    assert done["credits_charged"] == 25 and done["credits_reserved"] == 0
    me = k.request("GET", "/v1/account").json()
    assert (me["credits_available"], me["credits_charged"]) == (975, 25)
    ledger_ok(k.data_dir)


def test_cost_section_in_the_config_file(make_kiln, tmp_path):
    conf = tmp_path / "kilnd.conf"
    conf.write_text("credits_per_image = 3\n[cost]\n2.0.turbo = 1\n1.0 = 6\n")
    k = make_kiln(["--config", str(conf), "--set", "builtin.size=64"])
    b = k.upload_ok(csv_of([("a", "public", 2, "2.0", "turbo"), ("b", "public", 1, "1.0", "quality"),
                            ("c", "public", 1, "2.0", "default")]))
    assert b["credits_required"] == 2 * 1 + 6 + 3
    rows = k.request("GET", "/v1/batches/%s/rows" % b["id"]).json()["rows"]
    assert [r["credits_per_image"] for r in rows] == [1, 6, 3]


def test_cost_keys_are_checked(tmp_path):
    for bad, want in ((["--set", "cost.9.9=1"], "cost keys are"),
                      (["--set", "cost.2.0.fast=1"], "cost keys are"),
                      (["--set", "cost.turbo=-1"], "whole number"),
                      (["--set", "cost.2a=x"], "whole number")):
        p = subprocess.run([KILND, "--data-dir", str(tmp_path / "d")] + bad, capture_output=True,
                           text=True, timeout=20)
        assert p.returncode == 2 and want in p.stderr, (bad, p.stderr)


def test_limits_per_account(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--set", "builtin.delay_ms=200", "--workers", "1",
                   "--set", "max_active_batches=1", "--set", "max_queued_images=6",
                   "--set", "max_upload_bytes=2K"])
    aid, tok = add_account(k, "alice", 1000)
    one = k.upload_ok(b"prompt,visibility,num_images\na,public,3\n")
    two = k.upload_ok(b"prompt,visibility,num_images\nb,public,2\n")
    big = k.upload_ok(b"prompt,visibility,num_images\nc,public,4\nd,public,3\n")
    assert k.start_batch(one["id"]).status == 200
    r = k.start_batch(two["id"])
    assert r.status == 429, r
    e = r.json()["error"]
    assert e["code"] == "rate_limited" and e["limit"] == "max_active_batches" and e["max"] == 1
    assert k.batch(two["id"])["state"] == "draft"
    assert k.request("GET", "/v1/account").json()["credits_reserved"] <= 6
    # another account has its own count
    theirs = k.request("POST", "/v1/batches?name=x.csv", body=b"prompt,visibility,num_images\nx,public,1\n",
                       headers={"Content-Type": "text/csv"}, token=tok).json()
    assert k.request("POST", "/v1/batches/%s/start" % theirs["id"], token=tok).status == 200
    k.stop_batch(one["id"])
    k.wait_state(one["id"], "stopped")
    # 7 images at once is past max_queued_images = 6
    r = k.start_batch(big["id"])
    assert r.status == 429 and r.json()["error"]["limit"] == "max_queued_images"
    assert r.json()["error"]["would_be"] == 7
    assert k.start_batch(two["id"]).status == 200
    k.wait_state(two["id"], "completed")
    assert k.resume_batch(one["id"]).status == 200
    k.wait_state(one["id"], "completed")
    # uploads past max_upload_bytes: 413
    r = k.upload(b"prompt,visibility\n" + b"p,public\n" * 400)
    assert r.status == 413 and r.json()["error"]["code"] == "payload_too_large"
    ledger_ok(k.data_dir)


def test_limits_of_one_account(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--set", "builtin.delay_ms=300", "--workers", "1"])
    aid, tok = add_account(k, "alice", 1000)
    bid, btok = add_account(k, "bob", 1000)
    me = k.request("GET", "/v1/account", token=tok).json()
    assert me["limits"] == {"max_active_batches": 10, "max_queued_images": 20000,
                            "max_upload_bytes": 10 * 1024 * 1024, "own": False}
    r = k.request("POST", "/v1/accounts/%s/limits" % aid,
                  body={"max_active_batches": 1, "max_upload_bytes": 2048})
    assert r.status == 200, r
    assert r.json()["limits"] == {"max_active_batches": 1, "max_queued_images": 20000,
                                  "max_upload_bytes": 2048, "own": True}
    for bad in ({"max_active_batches": -1}, {"max_upload_bytes": 10}, {"max_queued_images": "5"},
                {"max_active_batches": 1.5}):
        assert k.request("POST", "/v1/accounts/%s/limits" % aid, body=bad).status == 400, bad
    assert k.request("POST", "/v1/accounts/%s/limits" % aid, body={"max_active_batches": 1},
                     token=tok).status == 403
    h = {"Content-Type": "text/csv"}
    big = b"prompt,visibility\n" + b"p,public\n" * 400
    r = k.request("POST", "/v1/batches?name=a.csv", body=big, headers=h, token=tok)
    assert r.status == 413 and "2048" in r.json()["error"]["message"]
    assert k.request("POST", "/v1/batches?name=b.csv", body=big, headers=h, token=btok).status == 201
    one = b"prompt,visibility,num_images\nx,public,2\n"
    a1 = k.request("POST", "/v1/batches?name=1.csv", body=one, headers=h, token=tok).json()
    a2 = k.request("POST", "/v1/batches?name=2.csv", body=one, headers=h, token=tok).json()
    assert k.request("POST", "/v1/batches/%s/start" % a1["id"], token=tok).status == 200
    r = k.request("POST", "/v1/batches/%s/start" % a2["id"], token=tok)
    assert r.status == 429 and r.json()["error"]["max"] == 1
    # null: back to the config's value
    r = k.request("POST", "/v1/accounts/%s/limits" % aid, body={"max_active_batches": None})
    assert r.json()["limits"]["max_active_batches"] == 10 and r.json()["limits"]["own"] is True
    assert k.request("POST", "/v1/batches/%s/start" % a2["id"], token=tok).status == 200
    for b in (a1, a2):
        wait_done(k, b["id"], tok)
    ledger_ok(k.data_dir)


# ---- kilnd account, offline on the store ---------------------------------------------------------

def kilnd_account(data_dir, *args):
    return subprocess.run([KILND, "account"] + list(args) + ["--data-dir", data_dir],
                          capture_output=True, text=True, timeout=30)


def test_kilnd_account_commands(kiln):
    d = kiln.data_dir
    p = kilnd_account(d, "add", "carol", "--credits", "40", "--json")
    assert p.returncode == 0, p.stderr
    carol = json.loads(p.stdout)
    assert carol["name"] == "carol" and carol["credits_available"] == 40
    tok = carol["token"]
    # the running kilnd knows her at once
    me = kiln.request("GET", "/v1/account", token=tok).json()
    assert me["id"] == carol["id"] and me["credits_available"] == 40
    p = kilnd_account(d, "credit", "carol", "60", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["credits_available"] == 100
    p = kilnd_account(d, "credit", carol["id"], "-101")
    assert p.returncode == 1 and "100 credits available" in p.stderr
    p = kilnd_account(d, "list", "--json")
    assert p.returncode == 0
    lst = [json.loads(x) for x in p.stdout.splitlines()]
    assert [x["name"] for x in lst] == ["admin", "carol"]
    assert all("token" not in x for x in lst)
    assert lst[1]["credits_available"] == 100 and lst[1]["credits_granted"] == 100
    p = kilnd_account(d, "list")
    assert p.returncode == 0 and "carol" in p.stdout and "admin" in p.stdout
    # token replace: the old one stops working on the running kilnd
    p = kilnd_account(d, "token", "carol")
    assert p.returncode == 0
    new = [x for x in p.stdout.split() if x.startswith("kiln_")][0]
    assert kiln.request("GET", "/v1/account", token=tok).status == 401
    assert kiln.request("GET", "/v1/account", token=new).json()["name"] == "carol"
    # limits of her own, then back to the config's
    p = kilnd_account(d, "limits", "carol", "max_active_batches=2", "max_upload_bytes=64K", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["limits"] == {"max_active_batches": 2, "max_queued_images": 20000,
                                              "max_upload_bytes": 65536, "own": True}
    assert kiln.request("GET", "/v1/account", token=new).json()["limits"]["max_active_batches"] == 2
    p = kilnd_account(d, "limits", "carol", "max_active_batches=default", "max_upload_bytes=default",
                      "--json")
    assert json.loads(p.stdout)["limits"]["own"] is False
    assert kilnd_account(d, "limits", "carol", "max_active_batches=-3").returncode == 2
    assert kilnd_account(d, "limits", "carol", "speed=3").returncode == 2
    # refusals and usage
    assert kilnd_account(d, "add", "carol").returncode == 1
    assert kilnd_account(d, "add", "bad\nname").returncode == 2
    assert kilnd_account(d, "add", "").returncode == 2
    assert kilnd_account(d, "credit", "nobody", "5").returncode == 1
    assert kilnd_account(d, "credit", "carol", "0").returncode == 2
    assert kilnd_account(d, "credit", "carol", "ten").returncode == 2
    assert kilnd_account(d, "frobnicate").returncode == 2
    p = subprocess.run([KILND, "account", "list", "--data-dir", d + "-missing"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "no store" in p.stderr
    assert not os.path.exists(d + "-missing")
    # the admin's token, replaced offline, lands in admin.token
    p = kilnd_account(d, "token", "admin", "--json")
    assert p.returncode == 0
    with open(os.path.join(d, "admin.token")) as f:
        assert f.read().strip() == json.loads(p.stdout)["token"]
    assert kiln.request("GET", "/v1/account").status == 401
    kiln.token = json.loads(p.stdout)["token"]
    ledger_ok(d)
