"""
store_scale.py — the API's reads with 1,000 batches and 1,000,000 image
records in the store: GET /v1/batches, GET /v1/batches/{id}, and the first,
a middle and the last page of /v1/batches/{id}/rows and /v1/images, each
request timed over HTTP (keep-alive) many times; median and p99.  Writes
its section of docs/PERFORMANCE.md.

The data dir is made once and kept under build/bench-store/ (a marker file
says it is complete): kilnd (build/kilnd, or $KILND) creates it, its schema
and its admin; then one SQL script (below, through Python's sqlite3 on the
same file, kilnd stopped) writes 1,000 completed batches of 250 rows of 4
done images each, straight into the real tables, the way kilnd's own
transactions leave them (ids of 24 hex digits, the credits charged through
the ledger).

usage: /usr/bin/python3 bench/store_scale.py [--n 200] [--rebuild] [--write docs/PERFORMANCE.md]
"""
import argparse
import http.client
import json
import os
import shutil
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))
import benchlib  # noqa: E402
from conftest import Kilnd  # noqa: E402

BATCHES, ROWS, PER_ROW = 1000, 250, 4
CACHE = os.path.join(benchlib.ROOT, "build", "bench-store")

# the whole store in one transaction; :admin is the admin's account id, :now ms
FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %(B)d)
INSERT INTO batches (seq, id, account_id, name, state, format, engine, nrows, images_total,
                     images_done, cost_per_image, credits_charged, credits_required, created_at,
                     started_at, finished_at, run_started_at, run_done_base, warnings)
SELECT i, printf('%%08x%%016x', 3054, i), :admin, printf('batch-%%d.csv', i), 'completed', 'csv',
       'builtin', %(R)d, %(I)d, %(I)d, 2, 2 * %(I)d, 2 * %(I)d, :now - (%(B)d - i) * 60000,
       :now - (%(B)d - i) * 60000 + 1000, :now - (%(B)d - i) * 60000 + 50000,
       :now - (%(B)d - i) * 60000 + 1000, 0, '[]' FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %(B)d * %(R)d - 1)
INSERT INTO batch_rows (batch_seq, row, prompt, visibility, aspect_ratio, magic_prompt, model,
                        seed, rendering, negative_prompt, style, color_palette, num_images, cost)
SELECT i / %(R)d + 1, i %% %(R)d + 2, printf('a watercolour fox number %%d in a quiet birch wood', i),
       CASE WHEN i %% 3 = 0 THEN 'public' ELSE 'private' END, '1:1', 'AUTO', 'V_2', NULL,
       'DEFAULT', '', 'AUTO', NULL, %(P)d, 2 FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %(B)d * %(I)d - 1)
INSERT INTO images (seq, id, batch_seq, row, idx, state, attempts, seed, width, height, bytes,
                    crc32, mime, ext, created_at)
SELECT i + 1, printf('%%08x%%016x', 3055, i + 1), i / %(I)d + 1, (i %% %(I)d) / %(P)d + 2,
       i %% %(P)d + 1, 'done', 1, i, 512, 512, 40000, i, 'image/png', 'png',
       :now - (%(B)d - i / %(I)d) * 60000 + 2000 FROM n;
INSERT INTO ledger (account_id, kind, amount, batch_id, at)
SELECT :admin, 'reserve', credits_charged, id, started_at FROM batches;
INSERT INTO ledger (account_id, kind, amount, batch_id, at)
SELECT :admin, 'charge', credits_charged, id, finished_at FROM batches;
UPDATE accounts SET credits_available = credits_available + 10000000 - 2 * %(B)d * %(I)d,
                    credits_charged = credits_charged + 2 * %(B)d * %(I)d WHERE id = :admin;
INSERT INTO ledger (account_id, kind, amount, at) VALUES (:admin, 'grant', 10000000, :now);
"""


def build(d):
    """Makes the data dir in d: kilnd for the schema and the admin, then FILL."""
    if os.path.exists(d):
        shutil.rmtree(d)
    os.makedirs(d)
    t0 = time.monotonic()
    k = Kilnd(os.path.join(d, "data"), ["--set", "log_level=warn"])
    k.start()
    k.stop()
    db = sqlite3.connect(os.path.join(d, "data", "kiln.db"), isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    admin = db.execute("SELECT id FROM accounts WHERE is_admin = 1").fetchone()[0]
    sql = FILL % {"B": BATCHES, "R": ROWS, "P": PER_ROW, "I": ROWS * PER_ROW}
    now = int(time.time() * 1000)
    db.execute("BEGIN")
    for stmt in sql.split(";"):
        if stmt.strip():
            db.execute(stmt, {"admin": admin, "now": now})
    db.execute("COMMIT")
    db.execute("ANALYZE") if os.environ.get("KILN_BENCH_ANALYZE") else None
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    secs = time.monotonic() - t0
    with open(os.path.join(d, "complete"), "w") as f:
        f.write("%.1f\n" % secs)
    return secs


class Client:
    def __init__(self, port, token):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.h = {"Authorization": "Bearer " + token}

    def get(self, path):
        t0 = time.perf_counter()
        self.c.request("GET", path, headers=self.h)
        r = self.c.getresponse()
        body = r.read()
        t = (time.perf_counter() - t0) * 1000
        assert r.status == 200, (path, r.status, body[:300])
        return t, json.loads(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="requests per case")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--write", default=None)
    a = ap.parse_args()
    built = None
    if a.rebuild or not os.path.exists(os.path.join(CACHE, "complete")):
        print("bench: making the 1M-image data dir under %s" % CACHE, flush=True)
        built = build(CACHE)
    else:
        print("bench: the data dir under %s is reused" % CACHE)
    with open(os.path.join(CACHE, "complete")) as f:
        build_secs = float(f.read())
    size = os.path.getsize(os.path.join(CACHE, "data", "kiln.db"))
    load0 = benchlib.loadavg()
    k = Kilnd(os.path.join(CACHE, "data"), ["--set", "log_level=warn"])
    k.start()
    cases = []
    try:
        cl = Client(k.port, k.token)
        _, first = cl.get("/v1/batches?limit=50")
        bid = first["batches"][0]["id"]
        assert first["next_cursor"]
        # the cursors of a middle and the last page, as a client paging through would hold them
        mid_b = str(BATCHES // 2)
        last_b = "51"
        _, rows1 = cl.get("/v1/batches/%s/rows?limit=50" % bid)
        mid_r = str(ROWS // 2)
        last_r = str(ROWS + 1 - 50)
        _, img1 = cl.get("/v1/images?limit=50")
        mid_i = str(BATCHES * ROWS * PER_ROW // 2)
        last_i = "51"
        plan = [
            ("GET /v1/batches (first page, 50)", "/v1/batches?limit=50"),
            ("GET /v1/batches (a middle page)", "/v1/batches?limit=50&cursor=" + mid_b),
            ("GET /v1/batches (the last page)", "/v1/batches?limit=50&cursor=" + last_b),
            ("GET /v1/batches?state=completed (first page)", "/v1/batches?state=completed&limit=50"),
            ("GET /v1/batches/{id}", "/v1/batches/" + bid),
            ("GET /v1/batches/{id}/rows (first page, 50 rows, 200 images)",
             "/v1/batches/%s/rows?limit=50" % bid),
            ("GET /v1/batches/{id}/rows (a middle page)", "/v1/batches/%s/rows?limit=50&cursor=%s" % (bid, mid_r)),
            ("GET /v1/batches/{id}/rows (the last page)", "/v1/batches/%s/rows?limit=50&cursor=%s" % (bid, last_r)),
            ("GET /v1/images (first page, 50)", "/v1/images?limit=50"),
            ("GET /v1/images (a middle page)", "/v1/images?limit=50&cursor=" + mid_i),
            ("GET /v1/images (the last page)", "/v1/images?limit=50&cursor=" + last_i),
        ]
        # the pages are what they claim: full, and the last has no next cursor
        for name, path in plan:
            _, body = cl.get(path)
            key = next((k for k in ("batches", "images") if k in body), None)
            key = key or ("rows" if isinstance(body.get("rows"), list) else None)
            items = body[key] if key else [body]
            assert len(items) in (1, 50), (name, len(items))
            if "last page" in name:
                assert body["next_cursor"] is None, name
        for name, path in plan:
            ts = [cl.get(path)[0] for _ in range(a.n)]
            cases.append((name, benchlib.pct(ts, 50), benchlib.pct(ts, 99), max(ts)))
            print("  %-62s median %.2f ms  p99 %.2f ms" % (name, cases[-1][1], cases[-1][2]), flush=True)
    finally:
        k.stop()
    load1 = benchlib.loadavg()
    worst = max(c[2] for c in cases)
    met = worst < 5
    print("worst p99 %.2f ms: aim (< 5 ms) %s" % (worst, "met" if met else "NOT met"))
    if not a.write:
        return
    lines = [
        "## Scale of the store: 1,000 batches, 1,000,000 images", "",
        "`bench/store_scale.py`, run by `make bench`; alone: `make all && sh bench/run.sh store`.",
        "",
        "Machine: %s.  Run: %s, kiln %s; 1-minute load average %s at the start, %s at the end"
        " (the machine is shared)." % (benchlib.machine(), benchlib.now_utc(), benchlib.commit(), load0,
                                         load1),
        "",
        "The store: one account (the admin) with %d completed batches of %d rows of %d images, so"
        " %d batch rows and %d done image records (%.0f MiB of SQLite).  It is made once and kept"
        " in `build/bench-store/` (`--rebuild` makes it again; it took %.0f s%s): kilnd creates"
        " the data dir, its schema (every migration) and the admin; kilnd is stopped and one"
        " transaction of `INSERT … SELECT` over recursive CTEs (`FILL` in the script) writes"
        " the batches, rows, images and their ledger lines into the real tables, as kilnd's own"
        " transactions leave them.  kilnd is then started on it and each request below is sent"
        " %d times over one keep-alive connection (Python's http.client, authenticated), timed"
        " from the request to the last byte of the answer.  Pages are of 50 (a rows page holds"
        " 50 rows with their 200 images); the middle and last pages use the cursor a client"
        " paging through would hold there." %
        (BATCHES, ROWS, PER_ROW, BATCHES * ROWS, BATCHES * ROWS * PER_ROW, size / 1048576,
         build_secs, " in this run" if built else ", earlier", a.n),
        "",
        "| request | median ms | p99 ms | max ms |", "|---|---|---|---|"]
    for name, med, p99, mx in cases:
        lines.append("| %s | %.2f | %.2f | %.2f |" % (name, med, p99, mx))
    lines += ["", "The aim: each under 5 ms.  In this run the slowest p99 was %.2f ms: the aim was %s."
              % (worst, "**met**" if met else "**not met**")] + EXTRA
    benchlib.write_section(a.write, "store", lines)


# what EXPLAIN QUERY PLAN showed and what was changed
EXTRA = [
    "",
    "What EXPLAIN QUERY PLAN showed and what was changed: `GET /v1/images` joined every batch of"
    " the account to its images through `images_work`, gathered all its done images and sorted"
    " them in a temporary B-tree (`USE TEMP B-TREE FOR ORDER BY`): 5.4 s for the first page, 2.9 s"
    " for a middle one, 0.24 s for the last, on this store.  Its SQL (and the public gallery's) now"
    " walks `images` by its integer key from the cursor down (`i.seq < ?2`, INT64_MAX for the first"
    " page, `CROSS JOIN` so that images stays the outer loop: `SEARCH i USING INTEGER PRIMARY KEY"
    " (rowid<?)`), checks the batch's account per image and stops at the page's end: about 1.7 ms"
    " for each page.  `GET /v1/batches` had the same `(?3 = 0 OR b.seq < ?3)` form, which keeps"
    " SQLite from using the cursor as a range bound; it is now `b.seq < ?3` on `batches_account`."
    " No index was needed (schema/0006_indexes.sql is not used).  A rows page is 50 rows and"
    " their 200 images, two short queries per row (`Q_ROW_IMAGES`, on the images' unique"
    " (batch_seq, row, idx) index), each in a transaction of its own: 5 to 6.6 ms (median) in"
    " the first run of this section; the page is now read in one read transaction (one"
    " snapshot, so the rows' states and their images also agree, and one WAL read lock instead"
    " of a hundred), the figures above.  Known"
    " limit: the image list walks images newest first and skips other accounts' images, so an"
    " account with few images in a store where others have a million pays for the skipping (the"
    " admin's list, as measured here, and any account whose images are recent do not).",
    "",
    "`tests/e2e/test_paging.py` checks the rewritten cursors: every image and batch once, in the"
    " order of a single page, across pages of 1, 4, 5 and 18, another account's images never"
    " listed.",
]

if __name__ == "__main__":
    main()
