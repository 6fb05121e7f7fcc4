"""
test_paging.py — cursor paging of /v1/images and /v1/batches across pages:
every item once, newest first, the last page without a next cursor; another
account's images never appear (the image list walks images by seq from the
cursor and checks the account per image, store.c's Q_IMAGES_LIST).
"""
import time

from conftest import add_account, small_csv


def pages(kiln, path, key, token=None):
    """Every page of a list, following next_cursor; returns the items and the page count."""
    items, n, cursor = [], 0, None
    while True:
        sep = "&" if "?" in path else "?"
        p = path + ("%scursor=%s" % (sep, cursor) if cursor else "")
        headers = {"Authorization": "Bearer " + token} if token else None
        r = kiln.request("GET", p, headers=headers, auth=token is None)
        assert r.status == 200, r
        body = r.json()
        items += body[key]
        n += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, n
        assert n < 100


def test_images_and_batches_page_across_cursors(kiln):
    other = add_account(kiln, "paging-other", credits=1000)
    ids = []
    for i in range(3):
        b = kiln.upload_ok(small_csv(3, num_images=2, prefix="b%d" % i))
        assert kiln.start_batch(b["id"]).status == 200
        kiln.wait_state(b["id"], "completed")
        ids.append(b["id"])
    # another account's batch: its images are never in the admin's list
    r = kiln.request("POST", "/v1/batches?name=o.csv", body=small_csv(2), auth=False,
                     headers={"Authorization": "Bearer " + other, "Content-Type": "text/csv"})
    assert r.status == 201, r
    ob = r.json()["id"]
    r = kiln.request("POST", "/v1/batches/%s/start" % ob, auth=False,
                     headers={"Authorization": "Bearer " + other})
    assert r.status == 200, r
    for _ in range(200):
        r = kiln.request("GET", "/v1/batches/" + ob, auth=False,
                         headers={"Authorization": "Bearer " + other})
        if r.json()["state"] == "completed":
            break
        time.sleep(0.05)
    assert r.json()["state"] == "completed"

    everything = kiln.request("GET", "/v1/images?limit=500").json()["images"]
    assert len(everything) == 18
    for limit in (1, 4, 5, 18):
        got, n = pages(kiln, "/v1/images?limit=%d" % limit, "images")
        assert [g["id"] for g in got] == [e["id"] for e in everything]
        assert n == -(-18 // limit)          # a next cursor only when more follow
        assert all(g["batch_id"] in ids for g in got)
    mine, _ = pages(kiln, "/v1/images?limit=3", "images", token=other)
    assert len(mine) == 2 and all(g["batch_id"] == ob for g in mine)
    # newest first: ids in the order they were made, read backwards
    made = []
    for bid in ids:
        rows = kiln.request("GET", "/v1/batches/%s/rows?limit=500" % bid).json()["rows"]
        made += [im["id"] for row in rows for im in row["images"]]
    assert sorted(made) == sorted(e["id"] for e in everything)

    got, n = pages(kiln, "/v1/batches?limit=2", "batches")
    assert [g["id"] for g in got] == list(reversed(ids)) and n == 2
    got, n = pages(kiln, "/v1/batches?limit=1&state=completed", "batches")
    assert [g["id"] for g in got] == list(reversed(ids))
    # a cursor past the oldest: an empty last page
    r = kiln.request("GET", "/v1/images?limit=5&cursor=1")
    assert r.status == 200 and r.json()["images"] == [] and r.json()["next_cursor"] is None
