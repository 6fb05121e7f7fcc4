#!/bin/sh
# demo.sh — the whole kiln flow on the built-in engine, as a user would run it
# with curl: start kilnd on a temporary data dir, upload examples/stickers.csv,
# show the preview, start the batch, watch it, stop it midway and resume it,
# download the zip, say where it is, shut kilnd down.  `make demo` runs it.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
kilnd="$top/build/kilnd"
out="$top/demo-output"
data=$(mktemp -d /tmp/kiln-demo.XXXXXX)
log="$data.log"
pid=""

cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid"
		wait "$pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT INT TERM

pretty() { /usr/bin/python3 -m json.tool; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "== starting kilnd (built-in engine, data dir $data)"
"$kilnd" --listen 127.0.0.1:0 --data-dir "$data" --workers 4 \
	--set builtin.delay_ms=120 --set builtin.size=384 >"$log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
	port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ] || { cat "$log"; echo "kilnd did not start"; exit 1; }
url="http://127.0.0.1:$port"
token=$(cat "$data/admin.token")
auth="Authorization: Bearer $token"
echo "   listening on $url; the admin token is in $data/admin.token"

echo
echo "== uploading examples/stickers.csv"
batch=$(curl -sS -H "$auth" -F "file=@$top/examples/stickers.csv" "$url/v1/batches")
id=$(echo "$batch" | field "['id']")
echo "$batch" | /usr/bin/python3 -c '
import json, sys
b = json.load(sys.stdin)
print("   batch %s: %d rows, %d images, %d credits required, %d available" % (
    b["id"], b["rows"], b["images_total"], b["credits_required"], b["credits_available"]))
print("   preview of row %d:" % b["preview"]["row"])
for k, v in b["preview"]["fields"].items():
    print("     %-16s %s" % (k, v))
'

echo
echo "== starting it"
curl -sS -H "$auth" -X POST "$url/v1/batches/$id/start" | field "['state']" | sed 's/^/   state: /'

# prints a progress line and leaves the state in $data.state
progress() {
	curl -sS -H "$auth" "$url/v1/batches/$id" | /usr/bin/python3 -c '
import json, sys
b = json.load(sys.stdin)
n = int(b["progress"] * 30)
eta = b["eta_seconds"]
print("   [%-30s] %3d%%  %2d/%d done  %-9s eta %s" % ("#" * n, b["progress"] * 100,
      b["images_done"], b["images_total"], b["state"], "-" if eta is None else "%ds" % eta))
open(sys.argv[1], "w").write("%s %d\n" % (b["state"], b["images_done"]))' "$data.state"
}

stopped=0
while :; do
	progress
	read -r state done_now <"$data.state"
	case "$state" in completed|failed) break ;; esac
	if [ "$stopped" -eq 0 ] && [ "$done_now" -ge 16 ]; then
		echo "== stopping it midway"
		curl -sS -H "$auth" -X POST "$url/v1/batches/$id/stop" | field "['state']" | sed 's/^/   state: /'
		sleep 1
		progress
		echo "== downloading the partial archive"
		curl -sS -H "$auth" -o "$data/partial.zip" "$url/v1/batches/$id/archive"
		echo "   $(unzip -Z1 "$data/partial.zip" | grep -c png) images in the partial zip"
		echo "== resuming it"
		curl -sS -H "$auth" -X POST "$url/v1/batches/$id/resume" | field "['state']" | sed 's/^/   state: /'
		stopped=1
	fi
	sleep 0.5
done

echo
echo "== downloading the archive"
mkdir -p "$out"
curl -sS -H "$auth" -o "$out/stickers.zip" "$url/v1/batches/$id/archive"
unzip -l "$out/stickers.zip" | sed -n '1,6p;$p' | sed 's/^/   /'
echo "   $(unzip -Z1 "$out/stickers.zip" | grep -c png) images and manifest.csv"
echo
echo "The archive is at $out/stickers.zip"
echo "kilnd's log is at $log"
