"""
test_web.py — the web page over HTTP: kilnd serves / and /web/<name> from
the bytes built into it (the files of web/, byte for byte), with the right
content types, a strict Content-Security-Policy and the other security
headers, ETags that answer 304, no token needed for the page (the API still
needs one), a 404 for any other name, and no way out through `..`.
The page's behaviour in a browser is tested by tests/browser/.
"""
import os
import re

from conftest import ROOT

WEB = os.path.join(ROOT, "web")
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/web/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/web/app.css": ("app.css", "text/css; charset=utf-8"),
    "/web/icon.svg": ("icon.svg", "image/svg+xml"),
}


def web_file(name):
    with open(os.path.join(WEB, name), "rb") as f:
        return f.read()


def test_every_asset_served_as_built_with_its_type(kiln):
    etags = set()
    for path, (name, ctype) in ASSETS.items():
        r = kiln.request("GET", path, auth=False)
        assert r.status == 200, (path, r)
        assert r.header("Content-Type") == ctype, path
        assert r.body == web_file(name), path
        assert r.header("X-Content-Type-Options") == "nosniff"
        assert r.header("Cache-Control") == "no-cache"
        etag = r.header("ETag")
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag), etag
        etags.add(etag)
    assert len(etags) == len(ASSETS), "each file has its own ETag"
    # every file of web/ is served (a new file needs no code change)
    names = sorted(os.listdir(WEB))
    assert names == sorted(n for n, _ in ASSETS.values()), names


def test_strict_content_security_policy(kiln):
    r = kiln.request("GET", "/", auth=False)
    csp = r.header("Content-Security-Policy")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("Referrer-Policy") == "no-referrer"
    # the page obeys it: no inline script, no inline style, nothing from elsewhere
    html = r.body.decode()
    for m in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S):
        assert 'src="/web/' in m.group(1) and m.group(2).strip() == "", m.group(0)
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<[a-z][^>]*\son[a-z]+\s*=", html), "no inline event handlers"
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing loaded from another host"
    assert "fetch('http" not in web_file("app.js").decode()


def test_etag_revalidation_and_head(kiln):
    r = kiln.request("GET", "/web/app.js", auth=False)
    etag = r.header("ETag")
    r2 = kiln.request("GET", "/web/app.js", auth=False, headers={"If-None-Match": etag})
    assert r2.status == 304 and r2.body == b""
    assert r2.header("ETag") == etag
    r3 = kiln.request("GET", "/web/app.js", auth=False, headers={"If-None-Match": '"other"'})
    assert r3.status == 200 and r3.body == web_file("app.js")
    h = kiln.request("HEAD", "/", auth=False)
    assert h.status == 200 and h.body == b""
    assert h.header("Content-Type") == "text/html; charset=utf-8"


def test_page_is_public_the_api_is_not(kiln):
    assert kiln.request("GET", "/", auth=False).status == 200
    assert kiln.request("GET", "/", auth=True, token="wrong").status == 200
    r = kiln.request("GET", "/v1/account", auth=False)
    assert r.status == 401 and r.json()["error"]["code"] == "unauthorized"
    assert kiln.request("GET", "/v1/account").status == 200


def test_unknown_names_and_methods(kiln):
    for path in ["/web/nope.js", "/web/", "/web", "/index.html", "/web/app.js/x", "/web/APP.JS",
                 "/app.js", "/web/index.html", "/favicon.ico"]:
        r = kiln.request("GET", path, auth=False)
        assert r.status == 404, (path, r)
        assert r.json()["error"]["code"] == "not_found", path
    r = kiln.request("POST", "/", auth=False, body=b"x")
    assert r.status == 405, r
    r = kiln.request("DELETE", "/web/app.js", auth=False)
    assert r.status == 405, r


def test_no_path_traversal(kiln):
    secret = open(os.path.join(ROOT, "Makefile"), "rb").read()[:40]
    token = kiln.token.encode()
    for path in ["/web/../Makefile", "/web/..%2fMakefile", "/web/%2e%2e/%2e%2e/etc/passwd",
                 "/web/..%2F..%2F..%2Fetc%2Fpasswd", "/web/%2e%2e%2fadmin.token", "/../admin.token",
                 "//etc/passwd", "/web//etc/passwd", "/web/.%2e/admin.token",
                 "/web/..\\..\\Makefile", "/web/%252e%252e%252fMakefile"]:
        r = kiln.request("GET", path, auth=False)
        assert r.status in (400, 404), (path, r)
        assert secret not in r.body and b"root:" not in r.body and token not in r.body, path
    # MHD would decode %00 into a NUL that ends the path; kilnd refuses it
    r = kiln.request("GET", "/web/app.js%00../../Makefile", auth=False)
    assert r.status == 400 and r.body != web_file("app.js"), r


def test_page_with_auth_none(make_kiln):
    k = make_kiln(["--set", "auth=none"])
    r = k.request("GET", "/", auth=False)
    assert r.status == 200 and r.body == web_file("index.html")
    # how the page knows that no token is needed
    assert k.request("GET", "/v1/account", auth=False).status == 200
