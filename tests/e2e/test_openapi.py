"""
test_openapi.py — GET /openapi.json against the routes kilnd really answers.

kilnd's routes are read from API_ROUTES in api/api.h (the one place they
are declared; server.c's routing table is made of it) and each is probed
over HTTP, so a route that the parse missed or invented fails here; every one of them must be an operation
of the document.  The served document must be api/openapi.json byte for
byte.  When the npm validator is installed (make check-openapi installs it
before the e2e tests run), the served document is validated with it, and a
broken copy must be refused, so the validator is shown able to fail.  When
../shared/design/api.md is present, every route it names must be documented.
And the document must tell the truth: the answers of a whole flow (each
status code, content type and JSON body) are checked against the schemas it
gives for them, with python3-jsonschema (draft 2020-12, OpenAPI 3.1's
dialect).
"""
import http.client
import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, stickers_csv

DOC = os.path.join(ROOT, "api", "openapi.json")
API_H = os.path.join(ROOT, "api", "api.h")
VALIDATOR = os.path.join(ROOT, "tests", "openapi", "validate.js")
NODE_MODULES = os.path.join(ROOT, "tests", "openapi", "node_modules", "@apidevtools", "swagger-parser")
API_MD = os.path.join(os.path.dirname(ROOT), "shared", "design", "api.md")
METHODS = ("get", "put", "post", "delete", "patch")


def route_table():
    """(METHOD, pattern) of every R(...) of API_ROUTES in api/api.h."""
    with open(API_H) as f:
        src = f.read()
    m = re.search(r"#define API_ROUTES\(R\) \\\n(.*?[^\\])\n", src, re.S)
    assert m, "#define API_ROUTES not found in api/api.h"
    return re.findall(r'R\("([A-Z]+)",\s*"([^"]+)"', m.group(1))


def doc_key(path):
    """/v1/batches/:id and /v1/batches/{id} both become /v1/batches/{}."""
    return re.sub(r"\{[^}]+\}|:[A-Za-z_]+", "{}", path)


def documented():
    with open(DOC) as f:
        doc = json.load(f)
    ops = set()
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                ops.add((method.upper(), doc_key(path)))
    return doc, ops


def probe(kiln, method, path):
    """Status and error body of one request; an event stream is not read."""
    conn = http.client.HTTPConnection("127.0.0.1", kiln.port, timeout=10)
    try:
        conn.request(method, path, headers={"Authorization": "Bearer " + kiln.token})
        r = conn.getresponse()
        if (r.getheader("Content-Type") or "").startswith("text/event-stream"):
            return r.status, None
        body = r.read()
        try:
            return r.status, json.loads(body).get("error")
        except (ValueError, AttributeError):
            return r.status, None
    finally:
        conn.close()


def concrete(pattern):
    """A path that matches the pattern: a real template or asset name, ids of zeros."""
    if pattern.startswith("/web/"):
        path = pattern.replace(":name", "app.js")
    else:
        path = pattern.replace(":name", "simple.csv")
    return re.sub(r":[A-Za-z_]+", "0" * 24, path)


def test_route_table_is_documented_and_answered(kiln):
    routes = route_table()
    assert len(routes) >= 17, routes          # the parse found the table
    _, ops = documented()
    unrouted = probe(kiln, "GET", "/v1/no-such-route-xyz")
    assert unrouted[0] == 404
    for method, pattern in routes:
        status, err = probe(kiln, method, concrete(pattern))
        # kilnd routes it: not the answer of a path it does not know, not 405
        assert status != 405 and (status, err) != unrouted, (method, pattern, status, err)
        assert (method, doc_key(pattern)) in ops, \
            "%s %s is answered by kilnd but missing from api/openapi.json" % (method, pattern)


def test_served_document_is_the_file(kiln):
    r = kiln.request("GET", "/openapi.json", auth=False)
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/json")
    with open(DOC, "rb") as f:
        assert r.body == f.read()
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # HEAD, as on every GET route
    h = kiln.request("HEAD", "/openapi.json", auth=False)
    assert h.status == 200 and h.body == b""


def test_api_md_routes_are_documented():
    if not os.path.exists(API_MD):
        pytest.skip("../shared/design/api.md not present")
    with open(API_MD) as f:
        text = f.read()
    named = set(re.findall(r"`(GET|POST|PUT|DELETE|PATCH) (/[^`\s]*)`", text))
    assert len(named) >= 15, named
    _, ops = documented()
    for method, path in named:
        # a templated path matches by shape, a concrete one (a template's name) by pattern
        found = (method, doc_key(path)) in ops or any(
            m == method and re.fullmatch(re.escape(k).replace(r"\{\}", "[^/]+"), path)
            for m, k in ops)
        assert found, "%s %s of api.md is not documented" % (method, path)


def run_validator(path):
    return subprocess.run(["node", VALIDATOR, path], capture_output=True, text=True, timeout=120)


def test_validator_passes_the_served_document_and_fails_a_broken_one(kiln, tmp_path):
    if not os.path.isdir(NODE_MODULES):
        pytest.skip("the validator is not installed (make check-openapi installs it)")
    r = kiln.request("GET", "/openapi.json", auth=False)
    good = tmp_path / "served.json"
    good.write_bytes(r.body)
    res = run_validator(str(good))
    assert res.returncode == 0, res.stderr
    assert "valid OpenAPI 3.1" in res.stdout
    doc = r.json()
    del doc["paths"]["/v1/batches/{id}"]["get"]["responses"]
    doc["paths"]["/v1/images/{id}"]["get"]["parameters"] = [{"name": "id", "in": "path"}]
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(doc))
    res = run_validator(str(bad))
    assert res.returncode == 1, res.stdout
    assert "NOT valid" in res.stderr


def inline_refs(node, doc):
    """The schema with every local $ref replaced by what it points to (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return inline_refs(target, doc)
        return {k: inline_refs(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [inline_refs(v, doc) for v in node]
    return node


def test_real_answers_match_the_documented_schemas(kiln):
    """Each JSON answer of a whole flow is valid against its operation's documented schema."""
    from jsonschema import Draft202012Validator

    with open(DOC) as f:
        doc = json.load(f)

    def check(method, path, template, r):
        op = doc["paths"][template][method.lower()]
        assert str(r.status) in op["responses"], (method, path, r.status, "status not documented")
        if r.status == 204 or r.status == 304:
            return
        resp = inline_refs(op["responses"][str(r.status)], doc)
        ctype = (r.header("Content-Type") or "").split(";")[0]
        documented = resp["content"]
        assert ctype in documented or ctype.split("/")[0] + "/*" in documented, \
            (method, path, r.status, ctype, "content type not documented")
        if ctype != "application/json":
            return None
        schema = documented["application/json"]["schema"]
        errors = sorted(Draft202012Validator(schema).iter_errors(r.json()), key=str)
        assert not errors, "%s %s -> %d: %s" % (method, path, r.status,
                                                 "; ".join(e.message for e in errors[:5]))
        return r.json()

    def call(method, path, template, body=None, **kw):
        r = kiln.request(method, path, body=body, **kw)
        return check(method, path, template, r)

    call("GET", "/healthz", "/healthz", auth=False)
    call("GET", "/v1/account", "/v1/account")
    call("GET", "/v1/account", "/v1/account", token="wrong")                       # 401
    r = kiln.upload(b"prompt,aspect_ratio\nok,1:1\n,7:5\n", name="bad.csv")            # 422
    check("POST", "/v1/batches", "/v1/batches", r)
    r = kiln.upload(stickers_csv(), name="stickers.csv")                               # 201
    b = check("POST", "/v1/batches", "/v1/batches", r)
    bid = b["id"]
    one = "/v1/batches/{id}"
    call("GET", "/v1/batches/" + bid, one)
    call("GET", "/v1/batches/" + "0" * 24, one)                                        # 404
    call("POST", "/v1/batches/%s/resume" % bid, one + "/resume")                       # 409
    call("POST", "/v1/batches/%s/start" % bid, one + "/start")
    kiln.wait_state(bid, "completed")
    call("GET", "/v1/batches/" + bid, one)
    call("GET", "/v1/batches?limit=1", "/v1/batches")
    call("GET", "/v1/batches?limit=0", "/v1/batches")                                  # 400
    rows = call("GET", "/v1/batches/%s/rows?limit=2" % bid, one + "/rows")
    imgs = call("GET", "/v1/images?limit=3", "/v1/images")
    call("GET", "/v1/images?scope=public", "/v1/images")
    iid = rows["rows"][0]["images"][0]["id"]
    call("GET", "/v1/images/" + iid, "/v1/images/{id}")
    call("GET", "/v1/images/" + "0" * 24, "/v1/images/{id}")                           # 404
    assert imgs["images"] and rows["rows"]
    call("GET", "/v1/images/%s/file" % iid, "/v1/images/{id}/file")                   # image/png
    call("GET", "/v1/batches/%s/archive" % bid, one + "/archive")                      # zip
    call("DELETE", "/v1/batches/" + bid, one)                                          # 204
    call("GET", "/v1/templates/full.xlsx", "/v1/templates/{name}", auth=False)
    call("GET", "/v1/templates/nope.txt", "/v1/templates/{name}", auth=False)          # 404
    call("GET", "/openapi.json", "/openapi.json", auth=False)
