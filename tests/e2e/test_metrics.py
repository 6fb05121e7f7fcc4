"""
test_metrics.py — GET /metrics against a real kilnd: the text parses with
the Prometheus client library's parser (and stricter checks of our own:
one TYPE per family before its samples, histogram buckets cumulative and
ending in +Inf = _count), and the values follow a batch as it runs:
batches by state, queue depth, images done and failed, engine calls and
errors by kind, credits charged, HTTP requests by route and status.
"""
import math
import re
import time

from prometheus_client.parser import text_string_to_metric_families

from conftest import add_account, small_csv, stickers_csv

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def scrape(k, **kw):
    r = k.request("GET", "/metrics", auth=False, **kw)
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    return parse(r.body.decode())


def parse(text):
    """{(name, frozenset(labels)): value} and {family: type}, checked on the way."""
    types = {}
    samples = {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            assert NAME.match(s.name), s.name
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, "sample twice: %r" % (key,)
            samples[key] = s.value
    seen_type = set()
    current = None
    for line in text.splitlines():
        assert line == line.strip() and line, "blank or padded line %r" % line
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in seen_type, "TYPE twice for " + name
            seen_type.add(name)
            current = name
        elif not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            assert current and name.startswith(current), "sample %s outside its family" % name
    for fam, typ in types.items():
        if typ != "histogram":
            continue
        groups = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                groups.setdefault(frozenset(d.items()), []).append(
                    (math.inf if le == "+Inf" else float(le), v))
        for labels, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), "buckets not cumulative"
            assert buckets[-1][0] == math.inf
            assert counts[-1] == samples[(fam + "_count", labels)]
    return samples, types


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def scrape_settled(k, images, timeout=10):
    """A scrape once `images` images are counted done or failed: a worker counts
    its image in memory just after the commit that may complete the batch, so
    the last count can trail the batch's state by a moment."""
    deadline = time.time() + timeout
    while True:
        s, _ = scrape(k)
        n = val(s, "kiln_images_total", result="done") + val(s, "kiln_images_total", result="failed")
        if n >= images or time.time() > deadline:
            return s
        time.sleep(0.05)


def test_metrics_follow_a_batch(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--workers", "2", "--set", "builtin.delay_ms=25"])
    s, types = scrape(k)
    assert types["kiln_batches"] == "gauge"
    assert types["kiln_http_requests"] == "counter"     # the parser drops _total
    assert types["kiln_engine_call_duration_seconds"] == "histogram"
    assert types["kiln_engine_errors"] == "counter"
    assert types["kiln_queue_depth"] == "gauge"
    assert types["kiln_credits_charged"] == "counter"
    assert types["kiln_images"] == "counter"
    assert val(s, "kiln_batches", state="completed") == 0
    assert val(s, "kiln_engine_call_duration_seconds_count", engine="builtin") == 0
    b = k.upload_ok(stickers_csv(), "stickers.csv")
    s, _ = scrape(k)
    assert val(s, "kiln_batches", state="draft") == 1
    assert val(s, "kiln_http_requests_total", method="POST", route="/v1/batches", status="201") == 1
    assert k.start_batch(b["id"]).status == 200
    gets, depths, running = 0, [], 0
    while True:
        r = k.request("GET", "/v1/batches/" + b["id"])
        gets += 1
        s, _ = scrape(k)
        depths.append(val(s, "kiln_queue_depth"))
        running = max(running, val(s, "kiln_batches", state="running"))
        if r.json()["state"] == "completed":
            break
        time.sleep(0.05)
    assert max(depths) > 0 and running == 1
    s = scrape_settled(k, 48)
    assert val(s, "kiln_queue_depth") == 0
    assert val(s, "kiln_batches", state="completed") == 1 and val(s, "kiln_batches", state="running") == 0
    assert val(s, "kiln_images_total", result="done") == 48
    assert val(s, "kiln_batch_images", state="done") == 48
    assert val(s, "kiln_credits_charged_total") == 96
    assert val(s, "kiln_engine_call_duration_seconds_count", engine="builtin") == 48
    # each call slept 25 ms: the sum says so, and no call is in the 5 ms bucket
    assert val(s, "kiln_engine_call_duration_seconds_sum", engine="builtin") >= 48 * 0.025
    assert val(s, "kiln_engine_call_duration_seconds_bucket", engine="builtin", le="0.005") == 0
    assert val(s, "kiln_http_requests_total", method="GET", route="/v1/batches/:id",
               status="200") == gets
    assert val(s, "kiln_http_requests_total", method="POST", route="/v1/batches/:id/start",
               status="200") == 1
    # failures are counted by route and status too, and a path kilnd does not know
    k.request("GET", "/v1/batches/" + "0" * 24)
    k.request("GET", "/v1/nothing-here")
    k.request("GET", "/v1/account", auth=False)
    s, _ = scrape(k)
    assert val(s, "kiln_http_requests_total", method="GET", route="/v1/batches/:id",
               status="404") == 1
    assert val(s, "kiln_http_requests_total", method="", route="unmatched", status="404") == 1
    assert val(s, "kiln_http_requests_total", method="GET", route="/v1/account", status="401") == 1
    assert val(s, "kiln_http_requests_total", method="GET", route="/metrics", status="200") >= 3


def test_engine_errors_by_kind(make_kiln):
    k = make_kiln(["--set", "builtin.size=64", "--workers", "2", "--set", "max_attempts=2"])
    data = (b"prompt,visibility,num_images\nfine,public,2\n[[kiln:fail]] no,public,1\n"
            b"[[kiln:retry]] flaky,public,1\n")
    b = k.upload_ok(data)
    k.start_batch(b["id"])
    done = k.wait_state(b["id"], "completed", timeout=60)
    assert done["images_failed"] == 2
    s = scrape_settled(k, 4)
    assert val(s, "kiln_engine_errors_total", engine="builtin", kind="fail") == 1
    assert val(s, "kiln_engine_errors_total", engine="builtin", kind="retry") == 2
    assert val(s, "kiln_engine_errors_total", engine="builtin", kind="fatal") == 0
    assert val(s, "kiln_images_total", result="done") == 2
    assert val(s, "kiln_images_total", result="failed") == 2
    assert val(s, "kiln_engine_call_duration_seconds_count", engine="builtin") == 5
    assert val(s, "kiln_credits_charged_total") == 4


def test_metrics_survive_a_restart_from_the_store(make_kiln):
    k = make_kiln(["--set", "builtin.size=64"])
    b = k.upload_ok(small_csv(2, 2))
    k.start_batch(b["id"])
    k.wait_state(b["id"], "completed")
    k.stop()
    k.start()
    s, _ = scrape(k)
    assert val(s, "kiln_batches", state="completed") == 1
    assert val(s, "kiln_credits_charged_total") == 8
    assert val(s, "kiln_images_total", result="done") == 0     # this process made none


def test_metrics_auth(make_kiln):
    k = make_kiln(["--set", "metrics.require_admin=true"])
    other = add_account(k)
    assert k.request("GET", "/metrics", auth=False).status == 401
    r = k.request("GET", "/metrics", token=other)
    assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
    assert k.request("GET", "/metrics").status == 200
