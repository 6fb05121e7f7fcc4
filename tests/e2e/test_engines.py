"""
test_engines.py — what kilnd's network engines send, field by field, for
every value of every column, and what they record: a real kilnd against the
fake upstream (fake_upstream.py), which checks each request as the public
API documents say and records it.  The expected requests are written out
here from the documents (the mapping tables below), not computed by kiln.
"""
import csv
import io
import json
import zipfile

from conftest import ENGINE_KEY, engine_args, engine_env

RATIOS = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "16:10", "10:16", "3:1", "1:3",
          "2:1", "1:2", "5:4", "4:5"]
# Ideogram's legacy list has no 2:1, 1:2, 5:4, 4:5: the nearest is sent
LEGACY_RATIO = {"1:1": "ASPECT_1_1", "16:9": "ASPECT_16_9", "9:16": "ASPECT_9_16",
                "4:3": "ASPECT_4_3", "3:4": "ASPECT_3_4", "3:2": "ASPECT_3_2", "2:3": "ASPECT_2_3",
                "16:10": "ASPECT_16_10", "10:16": "ASPECT_10_16", "3:1": "ASPECT_3_1",
                "1:3": "ASPECT_1_3", "2:1": "ASPECT_16_9", "1:2": "ASPECT_9_16", "5:4": "ASPECT_4_3",
                "4:5": "ASPECT_3_4"}
STYLES = {"auto": "AUTO", "general": "GENERAL", "realistic": "REALISTIC", "design": "DESIGN",
          "3d": "RENDER_3D", "anime": "ANIME"}
PRESETS = ["ember", "fresh", "jungle", "magic", "melon", "mosaic", "pastel", "ultramarine"]
COLUMNS = ["prompt", "visibility", "aspect_ratio", "magic_prompt", "model", "seed_number",
           "rendering", "negative_prompt", "style", "color_palette", "num_images"]


def row(**kw):
    r = {"visibility": "public", "aspect_ratio": "1:1", "magic_prompt": "on", "model": "2.0",
         "seed_number": "", "rendering": "default", "negative_prompt": "", "style": "auto",
         "color_palette": "", "num_images": "1"}
    r.update({k: str(v) for k, v in kw.items()})
    return r


def make_csv(rows):
    out = io.StringIO()
    w = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    w.writeheader()
    for i, r in enumerate(rows):
        r.setdefault("prompt", "prompt %d, with a comma" % i)
        w.writerow(r)
    return out.getvalue().encode()


def run(k, rows, states=("completed",), timeout=60):
    b = k.upload_ok(make_csv(rows))
    assert k.start_batch(b["id"]).status == 200
    done = k.wait_state(b["id"], states, timeout=timeout)
    return b["id"], done


def rows_of(k, bid):
    r = k.request("GET", "/v1/batches/%s/rows?limit=500" % bid)
    assert r.status == 200
    return r.json()["rows"]


def manifest(k, bid):
    r = k.request("GET", "/v1/batches/%s/archive" % bid)
    assert r.status == 200
    z = zipfile.ZipFile(io.BytesIO(r.body))
    text = z.read("manifest.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text))), z


def by_prompt(requests):
    out = {}
    for q in requests:
        out.setdefault(q["body"]["prompt"], []).append(q)
    return out


def palette_json(p):
    if p in PRESETS:
        return {"name": p.upper()}
    return {"members": [{"color_hex": h if h.startswith("#") else "#" + h} for h in p.split()]}


def legacy_expected(r):
    model = {"1.0": "V_1", "2.0": "V_2", "2a": "V_2A"}[r["model"]]
    if r["rendering"] == "turbo":
        model += "_TURBO"
    e = {"prompt": r["prompt"], "aspect_ratio": LEGACY_RATIO[r["aspect_ratio"]], "model": model,
         "magic_prompt_option": r["magic_prompt"].upper(), "num_images": int(r["num_images"])}
    if r["model"] != "1.0":
        e["style_type"] = STYLES[r["style"]]
    if r["seed_number"]:
        e["seed"] = int(r["seed_number"])
    if r["negative_prompt"]:
        e["negative_prompt"] = r["negative_prompt"]
    if r["color_palette"]:
        e["color_palette"] = palette_json(r["color_palette"])
    return e


def legacy_ignored(r):
    ig = []
    if r["rendering"] == "quality":
        ig.append("rendering")
    if r["aspect_ratio"] in ("2:1", "1:2", "5:4", "4:5"):
        ig.append("aspect_ratio")
    if r["model"] == "1.0" and r["style"] != "auto":
        ig.append("style")
    return ig


def v3_expected(r):
    e = {"prompt": r["prompt"], "aspect_ratio": r["aspect_ratio"].replace(":", "x"),
         "rendering_speed": r["rendering"].upper(), "magic_prompt": r["magic_prompt"].upper(),
         "num_images": r["num_images"]}
    if r["style"] not in ("3d", "anime"):
        e["style_type"] = STYLES[r["style"]]
    if r["seed_number"]:
        e["seed"] = r["seed_number"]
    if r["negative_prompt"]:
        e["negative_prompt"] = r["negative_prompt"]
    if r["color_palette"]:
        e["color_palette"] = palette_json(r["color_palette"])
    return e


def ideogram_rows():
    rows = [row(aspect_ratio=a) for a in RATIOS]
    rows += [row(model=m, rendering=rd) for m in ("1.0", "2.0", "2a")
             for rd in ("default", "turbo", "quality")]
    rows += [row(style=s) for s in STYLES]
    rows += [row(model="1.0", style="design"), row(model="2a", style="anime", magic_prompt="off")]
    rows += [row(seed_number=123456, negative_prompt="blurry, text", num_images=4),
             row(seed_number=0, num_images=2), row(seed_number=2147483647)]
    rows += [row(color_palette=p) for p in PRESETS]
    rows += [row(color_palette="#CBA324 #F86C14 #C71E71", num_images=3)]
    v3 = [row(model="3.0", aspect_ratio=a) for a in RATIOS]
    v3 += [row(model="3.0", rendering=rd, magic_prompt=mp) for rd in ("default", "turbo", "quality")
           for mp in ("on", "off")]
    v3 += [row(model="3.0", style=s) for s in STYLES]
    v3 += [row(model="3.0", seed_number=77, negative_prompt="no people", num_images=4,
               color_palette="#112233 #AABBCC"), row(model="3.0", color_palette="pastel", num_images=2)]
    return rows, v3


def test_ideogram_every_column_value(make_kiln, fake):
    legacy, v3 = ideogram_rows()
    bad = [row(model="0.2", num_images=2)]
    all_rows = legacy + v3 + bad
    k = make_kiln(engine_args("ideogram", fake.url, workers=4), env=engine_env())
    bid, done = run(k, all_rows)
    total = sum(int(r["num_images"]) for r in all_rows)
    assert done["images_done"] == total - 2 and done["images_failed"] == 2

    # one call per row (every image of a row in one request), field by field
    reqs = by_prompt(fake.of("ideogram"))
    reqs3 = by_prompt(fake.of("ideogram3"))
    assert len(fake.of("ideogram")) == len(legacy) and len(fake.of("ideogram3")) == len(v3)
    for r in legacy:
        (q,) = reqs[r["prompt"]]
        assert q["body"] == legacy_expected(r), r
        assert q["headers"]["api-key"] == ENGINE_KEY
        assert q["headers"]["content-type"] == "application/json"
    for r in v3:
        (q,) = reqs3[r["prompt"]]
        body = dict(q["body"])
        if "color_palette" in body:
            body["color_palette"] = json.loads(body["color_palette"])
        assert body == v3_expected(r), r
        assert q["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    # model 0.2 never reaches the service and fails its row with a message, refunded
    assert bad[0]["prompt"] not in reqs and bad[0]["prompt"] not in reqs3

    # seeds and sizes as the service reported them; ignored fields per image
    answers = {}
    for q in fake.of("ideogram") + fake.of("ideogram3"):
        answers[q["body"]["prompt"]] = q["answer"]["data"]
    rows = rows_of(k, bid)
    assert len(rows) == len(all_rows)
    man, z = manifest(k, bid)
    man_by = {(int(m["row"]), int(m["index"])): m for m in man}
    for api_row, r in zip(rows, all_rows):
        if r is bad[0]:
            assert api_row["state"] == "failed"
            assert "0.2" in api_row["error"] and "Ideogram" in api_row["error"]
            continue
        assert api_row["state"] == "done"
        data = answers[r["prompt"]]
        want_ignored = legacy_ignored(r) if r["model"] != "3.0" else \
            (["style"] if r["style"] in ("3d", "anime") else [])
        for img, d in zip(api_row["images"], data):
            assert img["seed"] == d["seed"]
            assert "%dx%d" % (img["width"], img["height"]) == d["resolution"]
            m = man_by[(api_row["row"], img["index"])]
            assert m["status"] == "done" and m["seed"] == str(d["seed"])
            assert sorted(filter(None, m["ignored"].split(","))) == sorted(want_ignored), (r, m)
            assert z.read(m["file"]).startswith(b"\x89PNG")
        meta = k.request("GET", "/v1/images/" + api_row["images"][0]["id"]).json()
        assert sorted(filter(None, meta.get("ignored", "").split(","))) == sorted(want_ignored)
    assert fake.downloads == total - 2
    acct = k.request("GET", "/v1/account").json()
    assert acct["credits_available"] == 100000 - 2 * (total - 2) and acct["credits_reserved"] == 0


OPENAI_SIZES = {"gpt-image-1": ["1024x1024", "1536x1024", "1024x1536"],
                "dall-e-3": ["1024x1024", "1792x1024", "1024x1792"],
                "dall-e-2": ["1024x1024"]}


def nearest(model, ratio):
    import math
    a, b = (int(x) for x in ratio.split(":"))
    return min(OPENAI_SIZES[model], key=lambda s: abs(math.log(int(s.split("x")[0]) /
                                                              int(s.split("x")[1])) - math.log(a / b)))


def openai_rows():
    rows = [row(aspect_ratio=a) for a in RATIOS]
    rows += [row(rendering=rd) for rd in ("default", "turbo", "quality")]
    rows += [row(style=s) for s in STYLES]
    rows += [row(seed_number=5, negative_prompt="fog", color_palette="ember", magic_prompt="off",
                 num_images=3)]
    rows += [row(num_images=4, aspect_ratio="16:9")]
    return rows


def openai_check(k, fake, model, rows, bid):
    reqs = by_prompt(fake.of("openai"))
    for r in rows:
        qs = reqs[r["prompt"]]
        n = int(r["num_images"])
        # dall-e-3 allows n = 1 only: one call per image; the others ask for every image at once
        assert [q["body"]["n"] for q in qs] == ([1] * n if model == "dall-e-3" else [n])
        size = nearest(model, r["aspect_ratio"])
        for q in qs:
            want = {"model": model, "prompt": r["prompt"], "n": q["body"]["n"], "size": size}
            if model == "gpt-image-1":
                want["quality"] = {"turbo": "low", "default": "medium", "quality": "high"}[r["rendering"]]
            else:
                want["response_format"] = "b64_json"
            if model == "dall-e-3":
                want["quality"] = "hd" if r["rendering"] == "quality" else "standard"
                if r["style"] == "realistic":
                    want["style"] = "natural"
            assert q["body"] == want, r
            assert q["headers"]["authorization"] == "Bearer " + ENGINE_KEY
    for api_row in rows_of(k, bid):
        assert all(i["seed"] is None for i in api_row["images"])   # the API has no seed
    man, _ = manifest(k, bid)
    w, h = None, None
    for m in man:
        r = rows[int(m["row"]) - 2]
        size = nearest(model, r["aspect_ratio"])
        w, h = (int(x) for x in size.split("x"))
        assert (m["width"], m["height"], m["status"]) == (str(w), str(h), "done")
        assert m["seed"] == ""       # the API has no seed: none is recorded
        a, b = (int(x) for x in r["aspect_ratio"].split(":"))
        want = {"magic_prompt", "model"}
        if r["seed_number"]:
            want.add("seed")
        if r["negative_prompt"]:
            want.add("negative_prompt")
        if r["color_palette"]:
            want.add("color_palette")
        if r["style"] != "auto" and not (model == "dall-e-3" and r["style"] == "realistic"):
            want.add("style")
        if model == "dall-e-2" and r["rendering"] != "default":
            want.add("rendering")
        if not close((w / h) / (a / b)):
            want.add("aspect_ratio")
        assert set(filter(None, m["ignored"].split(","))) == want, (r, m["ignored"])


def test_openai_gpt_image_1(make_kiln, fake):
    rows = openai_rows()
    k = make_kiln(engine_args("openai", fake.url), env=engine_env())
    bid, done = run(k, rows)
    assert done["images_done"] == sum(int(r["num_images"]) for r in rows)
    assert len(fake.of("openai")) == len(rows)
    openai_check(k, fake, "gpt-image-1", rows, bid)


def test_openai_dalle3_splits_n(make_kiln, fake):
    rows = openai_rows()
    k = make_kiln(engine_args("openai", fake.url, "--set", "openai.model=dall-e-3"), env=engine_env())
    bid, done = run(k, rows)
    total = sum(int(r["num_images"]) for r in rows)
    assert done["images_done"] == total and len(fake.of("openai")) == total
    openai_check(k, fake, "dall-e-3", rows, bid)


def test_openai_dalle2(make_kiln, fake):
    rows = openai_rows()[:4] + [row(rendering="quality", num_images=2)]
    k = make_kiln(engine_args("openai", fake.url, "--set", "openai.model=dall-e-2"), env=engine_env())
    bid, done = run(k, rows)
    assert done["images_done"] == sum(int(r["num_images"]) for r in rows)
    openai_check(k, fake, "dall-e-2", rows, bid)


def close(x):
    """A size within 5 % of the ratio asked, either way: aspect_ratio is not listed as ignored."""
    return x < 1.05 and 1 / x < 1.05


def a1111_size(ratio, base):
    import math
    a, b = (int(x) for x in ratio.split(":"))
    w = base * math.sqrt(a / b)
    h = base * math.sqrt(b / a)
    return max(1, int(math.floor(w / 64 + 0.5))) * 64, max(1, int(math.floor(h / 64 + 0.5))) * 64


def test_a1111_every_column_value(make_kiln, fake):
    rows = [row(aspect_ratio=a) for a in RATIOS]
    rows += [row(rendering=rd) for rd in ("default", "turbo", "quality")]
    rows += [row(style=s, magic_prompt="off") for s in STYLES]
    rows += [row(seed_number=1000, negative_prompt="lowres, watermark", num_images=4,
                 color_palette="#CBA324")]
    rows += [row(num_images=3)]
    fake.a1111_auth = "kiln:" + ENGINE_KEY
    k = make_kiln(engine_args("a1111", fake.url, "--set", "a1111.base_size=768",
                              "--set", "a1111.steps_turbo=8", "--set", "a1111.steps_quality=50",
                              key="kiln:" + ENGINE_KEY),
                  env=engine_env("kiln:" + ENGINE_KEY))
    bid, done = run(k, rows)
    assert done["images_done"] == sum(int(r["num_images"]) for r in rows)
    reqs = by_prompt(fake.of("a1111"))
    assert len(fake.of("a1111")) == len(rows)
    for r in rows:
        (q,) = reqs[r["prompt"]]
        w, h = a1111_size(r["aspect_ratio"], 768)
        assert w % 64 == 0 and h % 64 == 0
        want = {"prompt": r["prompt"], "negative_prompt": r["negative_prompt"],
                "seed": int(r["seed_number"]) if r["seed_number"] else -1, "width": w, "height": h,
                "batch_size": int(r["num_images"]), "n_iter": 1,
                "steps": {"turbo": 8, "default": 25, "quality": 50}[r["rendering"]],
                "send_images": True, "save_images": False}
        assert q["body"] == want, r
    man, _ = manifest(k, bid)
    for m in man:
        r = rows[int(m["row"]) - 2]
        q = reqs[r["prompt"]][0]
        info = json.loads(q["answer"]["info"])
        assert m["seed"] == str(info["all_seeds"][int(m["index"]) - 1])
        if r["seed_number"]:
            assert m["seed"] == str(int(r["seed_number"]) + int(m["index"]) - 1)
        want = {"magic_prompt", "model"}
        if r["style"] != "auto":
            want.add("style")
        if r["color_palette"]:
            want.add("color_palette")
        w, h = a1111_size(r["aspect_ratio"], 768)
        a, b = (int(x) for x in r["aspect_ratio"].split(":"))
        if not close((w / h) / (a / b)):
            want.add("aspect_ratio")       # 64-pixel steps cannot come within 5 % of it
        assert set(filter(None, m["ignored"].split(","))) == want
        assert (m["width"], m["height"]) == tuple(str(x) for x in a1111_size(r["aspect_ratio"], 768))
