"""
test_ledger_property.py — a property test of the credits: random sequences
(fixed seed) of upload, start, stop, resume, delete, engine failures and
`kill -9` + restart by three accounts (at most 6 active batches each, so
some starts are refused with 429 too), with the ledger read straight from
the store after every step:

  - for every account, available + reserved + charged = granted, and each
    balance is what its ledger lines add up to;
  - no image is charged twice, an image is charged exactly when it is done,
    at its row's cost, and what an account was charged is the cost of the
    images it was delivered (those of deleted batches included);
  - every batch holds exactly the reservation its state calls for, its
    counts match its images, and every done image has its file.
"""
import os
import random
import sqlite3
import time

from conftest import Kilnd

SEED = 20261124
STEPS = 400
WANT = {"start": ("draft",), "stop": ("queued", "running"), "resume": ("stopped", "stopping")}


def snapshot_checks(data_dir):
    db = sqlite3.connect(os.path.join(data_dir, "kiln.db"), isolation_level=None, timeout=30)
    try:
        db.execute("BEGIN")           # one read snapshot for every check below
        q = lambda sql, *a: db.execute(sql, a).fetchall()
        assert q("PRAGMA integrity_check")[0][0] == "ok"
        for acct, av, rs, ch in q("SELECT id, credits_available, credits_reserved, credits_charged"
                                  " FROM accounts"):
            sums = dict(q("SELECT kind, SUM(amount) FROM ledger WHERE account_id = ? GROUP BY kind", acct))
            g, r, c, rel = (sums.get(k, 0) for k in ("grant", "reserve", "charge", "release"))
            assert av + rs + ch == g, (acct, av, rs, ch, g)
            assert (av, rs, ch) == (g - r + rel, r - c - rel, c), acct
            assert av >= 0 and rs >= 0
            # charged = the cost of the images delivered: done images still here, plus the
            # charges of images whose batch was deleted since
            here = q("SELECT COALESCE(SUM(r.cost), 0) FROM images i JOIN batches b ON b.seq = i.batch_seq"
                     " JOIN batch_rows r ON r.batch_seq = i.batch_seq AND r.row = i.row"
                     " WHERE b.account_id = ? AND i.state = 'done'", acct)[0][0]
            gone = q("SELECT COALESCE(SUM(amount), 0) FROM ledger l WHERE l.account_id = ? AND"
                     " l.kind = 'charge' AND NOT EXISTS (SELECT 1 FROM images i WHERE i.id = l.image_id)",
                     acct)[0][0]
            assert ch == here + gone, (acct, ch, here, gone)
            held = q("SELECT COALESCE(SUM(credits_reserved), 0) FROM batches WHERE account_id = ?", acct)[0][0]
            assert rs == held, (acct, rs, held)
        assert q("SELECT image_id FROM ledger WHERE kind = 'charge' GROUP BY image_id"
                 " HAVING count(*) > 1") == [], "an image was charged twice"
        assert q("SELECT i.id, i.state FROM images i WHERE (i.state = 'done') != EXISTS (SELECT 1 FROM"
                 " ledger l WHERE l.kind = 'charge' AND l.image_id = i.id)") == []
        assert q("SELECT l.seq FROM ledger l JOIN images i ON i.id = l.image_id JOIN batch_rows r ON"
                 " r.batch_seq = i.batch_seq AND r.row = i.row WHERE l.kind = 'charge'"
                 " AND l.amount != r.cost") == []
        for seq, bid, state, done, failed, reserved, charged in q(
                "SELECT seq, id, state, images_done, images_failed, credits_reserved, credits_charged"
                " FROM batches"):
            counts = dict(q("SELECT i.state, count(*) FROM images i WHERE i.batch_seq = ?"
                            " GROUP BY i.state", seq))
            cost = dict(q("SELECT i.state, SUM(r.cost) FROM images i JOIN batch_rows r ON"
                          " r.batch_seq = i.batch_seq AND r.row = i.row WHERE i.batch_seq = ?"
                          " GROUP BY i.state", seq))
            assert (done, failed) == (counts.get("done", 0), counts.get("failed", 0)), bid
            assert charged == cost.get("done", 0), bid
            if state in ("queued", "running"):
                want = cost.get("pending", 0) + cost.get("running", 0)
            elif state in ("stopping", "stopped", "failed"):
                want = cost.get("running", 0)
            else:
                want = 0
            assert reserved == want, (bid, state, reserved, want)
            for iid, ext, nbytes in q("SELECT id, ext, bytes FROM images WHERE batch_seq = ? AND"
                                      " state = 'done'", seq):
                p = os.path.join(data_dir, "images", bid, "%s.%s" % (iid, ext))
                assert os.path.getsize(p) == nbytes, p
        db.execute("COMMIT")
    finally:
        db.close()


def random_csv(rng):
    lines = ["prompt,visibility,num_images,model,rendering"]
    for i in range(rng.randint(1, 3)):
        prompt = "p%d" % i
        roll = rng.random()
        if roll < 0.2:
            prompt += " [[kiln:fail]]"
        elif roll < 0.23:
            prompt += " [[kiln:fatal]]"
        lines.append("%s,%s,%d,%s,%s" % (prompt, rng.choice(["public", "private"]), rng.randint(1, 3),
                                          rng.choice(["2.0", "1.0"]), rng.choice(["default", "turbo",
                                                                                   "quality"])))
    return ("\n".join(lines) + "\n").encode()


def test_random_sequences_keep_the_ledger(tmp_path):
    rng = random.Random(SEED)
    k = Kilnd(tmp_path / "data", ["--set", "builtin.size=32", "--set", "builtin.delay_ms=120",
                                  "--set", "max_active_batches=6",
                                  "--workers", "2", "--set", "max_attempts=1",
                                  "--set", "cost.turbo=1", "--set", "cost.quality=3",
                                  "--set", "cost.1.0.quality=4"])
    k.start()
    try:
        tokens = [k.token]
        for name, credits in (("alice", 40), ("bob", 4)):
            r = k.request("POST", "/v1/accounts", body={"name": name, "credits": credits})
            assert r.status == 201
            tokens.append(r.json()["token"])
        admin_token = k.token
        batches = []          # (id, index of the owner's token)
        last, statuses = {}, {}
        seen = {"402": 0, "kill": 0, "upload": 0, "start": 0, "stop": 0, "resume": 0, "delete": 0}
        for step in range(STEPS):
            action = rng.choices(["upload", "start", "stop", "resume", "delete", "kill", "sleep", "grant"],
                                 [5, 5, 3, 3, 2, 1, 3, 1])[0]
            if action in ("start", "stop", "resume", "delete") and not batches:
                action = "upload"
            if action == "upload":
                who = rng.randrange(len(tokens))
                r = k.request("POST", "/v1/batches?name=b%d.csv" % step, body=random_csv(rng),
                              headers={"Content-Type": "text/csv"}, token=tokens[who])
                assert r.status == 201, r
                batches.append((r.json()["id"], who))
                last[r.json()["id"]] = "draft"
            elif action in ("start", "stop", "resume"):
                # mostly a batch in a state that allows it (as last seen), sometimes any
                fits = [b for b in batches if last.get(b[0]) in WANT[action]]
                bid, who = rng.choice(fits if fits and rng.random() < 0.8 else batches)
                r = k.request("POST", "/v1/batches/%s/%s" % (bid, action), token=tokens[who])
                assert r.status in (200, 402, 409, 429), (action, r)
                if r.status == 429:
                    assert r.json()["error"]["limit"] in ("max_active_batches", "max_queued_images")
                statuses[action, r.status] = statuses.get((action, r.status), 0) + 1
                if r.status == 200:
                    last[bid] = r.json()["state"]
                if r.status == 402:
                    e = r.json()["error"]
                    assert e["required"] > e["available"]
                    seen["402"] += 1
                # another account's token never reaches it
                other = (who + 1) % len(tokens)
                assert k.request("POST", "/v1/batches/%s/%s" % (bid, action),
                                 token=tokens[other]).status == 404
            elif action == "delete":
                i = rng.randrange(len(batches))
                bid, who = batches[i]
                r = k.request("DELETE", "/v1/batches/" + bid, token=tokens[who])
                assert r.status in (204, 409), r
                if r.status == 204:
                    batches.pop(i)
            elif action == "kill":
                time.sleep(rng.uniform(0, 0.2))
                k.kill9()
                k.start()
                k.token = admin_token
            elif action == "grant":
                who = rng.randrange(1, len(tokens))
                me = k.request("GET", "/v1/account", token=tokens[who]).json()
                k.request("POST", "/v1/accounts/%s/credits" % me["id"], body={"delta": rng.randint(1, 8)})
            else:
                time.sleep(rng.uniform(0.05, 0.3))
            seen[action] = seen.get(action, 0) + 1
            snapshot_checks(k.data_dir)
        # let everything settle, then check once more
        deadline = time.monotonic() + 90
        for bid, who in batches:
            while k.request("GET", "/v1/batches/" + bid, token=tokens[who]).json()["state"] in (
                    "queued", "running", "stopping"):
                assert time.monotonic() < deadline, "batches did not settle"
                time.sleep(0.05)
        snapshot_checks(k.data_dir)
        # the sequence did exercise what it is meant to
        assert seen["kill"] >= 2 and seen["402"] >= 1 and seen["delete"] >= 2, seen
        for want in (("start", 200), ("stop", 200), ("resume", 200), ("stop", 409), ("resume", 409)):
            assert statuses.get(want, 0) >= 3, statuses
        for who, tok in enumerate(tokens):
            me = k.request("GET", "/v1/account", token=tok).json()
            assert me["credits_reserved"] == 0, me
    finally:
        rc = k.stop()
        log = k.log()
        assert "Sanitizer:" not in log and "runtime error:" not in log, log
        assert rc == 0, log
