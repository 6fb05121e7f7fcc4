"""
fake_upstream.py — a stand-in for the three image services kilnd's network
engines call, following their public API documents, with faults on demand.

It serves, on one port:
  POST /generate                   Ideogram (legacy: 1.0, 2.0, 2a), JSON {"image_request": {...}}
  POST /v1/ideogram-v3/generate    Ideogram 3.0, multipart/form-data
  GET  /files/<name>               the image URLs the Ideogram answers point to
  POST /v1/images/generations      OpenAI images (dall-e-2, dall-e-3, gpt-image-1, other names)
  POST /sdapi/v1/txt2img           AUTOMATIC1111
Each generation request is checked as the documents say (the key, the enum
values, the sizes a model allows, n = 1 for dall-e-3, no response_format
for gpt-image-1, ...); a request the real service would refuse gets the
service's 400.  The images are real PNGs (one colour, any size, made with
zlib and cached), and the sizes and seeds reported match them.

Every generation request is recorded (api, path, headers, the parsed body,
when it started and ended) and counted while in flight, so tests assert the
request field by field and the limit on calls in flight.  Faults: `script`
is a list consumed one per generation request, `fault_rate`/`fault_kinds`
draw faults at random (seeded), `latency` delays every generation answer.
Fault names: 429 (with Retry-After: retry_after), 500, 503, reset (the
connection is reset without an answer), truncated (a Content-Length longer
than the body), badjson, hang (no answer for 60 s), slow (2 s), unsafe (the
first image is_image_safe: false), safety (the service's 400/422 refusal),
401, quota (OpenAI's 429 insufficient_quota), notimage and badpng (the image bytes are not a whole image), jpeg,
webp (the image is served in that format), big (a 2 MB answer), dead (this
server answers 503 to everything).

Run alone: python3 fake_upstream.py --port N --latency S; the benchmark runs it
with --bench: the a1111 route only, on one asyncio thread, so that hundreds of
calls in flight keep their fixed latency.
Standard library only.
"""
import argparse
import base64
import json
import random
import socket
import struct
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDEOGRAM_RATIOS = {"ASPECT_10_16": (10, 16), "ASPECT_16_10": (16, 10), "ASPECT_9_16": (9, 16),
                   "ASPECT_16_9": (16, 9), "ASPECT_3_2": (3, 2), "ASPECT_2_3": (2, 3),
                   "ASPECT_4_3": (4, 3), "ASPECT_3_4": (3, 4), "ASPECT_1_1": (1, 1),
                   "ASPECT_1_3": (1, 3), "ASPECT_3_1": (3, 1)}
IDEOGRAM_MODELS = {"V_1", "V_1_TURBO", "V_2", "V_2_TURBO", "V_2A", "V_2A_TURBO"}
IDEOGRAM_STYLES = {"AUTO", "GENERAL", "REALISTIC", "DESIGN", "RENDER_3D", "ANIME"}
IDEOGRAM_PRESETS = {"EMBER", "FRESH", "JUNGLE", "MAGIC", "MELON", "MOSAIC", "PASTEL", "ULTRAMARINE"}
V3_RATIOS = {"1x3", "3x1", "1x2", "2x1", "9x16", "16x9", "10x16", "16x10", "2x3", "3x2", "3x4",
             "4x3", "4x5", "5x4", "1x1"}
V3_STYLES = {"AUTO", "GENERAL", "REALISTIC", "DESIGN"}
OPENAI_SIZES = {"dall-e-2": {"256x256", "512x512", "1024x1024"},
                "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"},
                "gpt-image-1": {"1024x1024", "1536x1024", "1024x1536", "auto"}}

_png_cache = {}
_png_lock = threading.Lock()


def png(w, h, rgb=(200, 120, 40)):
    """A valid one-colour PNG of w x h (cached)."""
    key = (w, h, rgb)
    with _png_lock:
        if key in _png_cache:
            return _png_cache[key]
    row = b"\x00" + bytes(rgb) * w
    raw = zlib.compress(row * h, 6)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    with _png_lock:
        _png_cache[key] = data
    return data


def jpeg(w, h):
    """The headers of a baseline JPEG of w x h: SOI, JFIF APP0, SOF0, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def webp(w, h):
    """A lossless WebP header (VP8L) of w x h."""
    bits = (w - 1) | ((h - 1) << 14)
    body = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 3
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def small_size(rw, rh, long_side=64):
    """A small image size with the ratio rw:rh (the fake's images stay small)."""
    if rw >= rh:
        return long_side, max(1, round(long_side * rh / rw))
    return max(1, round(long_side * rw / rh)), long_side


def parse_multipart(body, ctype):
    """The text fields of a multipart/form-data body."""
    boundary = None
    for part in ctype.split(";"):
        part = part.strip()
        if part.startswith("boundary="):
            boundary = part[9:].strip('"')
    if not boundary:
        raise ValueError("no boundary")
    fields = {}
    delim = b"--" + boundary.encode()
    pieces = body.split(delim)
    if not pieces[-1].startswith(b"--"):
        raise ValueError("no closing boundary")
    for piece in pieces[1:-1]:
        piece = piece[2:] if piece.startswith(b"\r\n") else piece
        head, _, value = piece.partition(b"\r\n\r\n")
        if value.endswith(b"\r\n"):
            value = value[:-2]
        name = None
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for attr in line.split(";"):
                    attr = attr.strip()
                    if attr.startswith("name="):
                        name = attr[5:].strip('"')
        if name is None:
            raise ValueError("a part without a name")
        fields[name] = value.decode()
    return fields


class Refusal(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


class Fake:
    """The fake services, their records and their faults."""

    def __init__(self, key="test-key", name="fake"):
        self.key = key
        self.name = name
        self.lock = threading.Lock()
        self.requests = []
        self.downloads = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.script = []
        self.fault_rate = 0.0
        self.fault_kinds = []
        self.rnd = random.Random(1234)
        self.latency = 0.0
        self.retry_after = "1"
        self.dead = False
        self.image_format = "png"
        self.a1111_auth = None
        self.seq = 0
        self.files = {}
        self.server = None
        self.port = None

    # -- life ------------------------------------------------------------------

    def start(self, port=0):
        fake = self

        class Handler(FakeHandler):
            pass
        Handler.fake = fake

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024     # the benchmark opens hundreds of connections at once
        self.server = Server(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    # -- faults ----------------------------------------------------------------

    def next_fault(self):
        with self.lock:
            if self.dead:
                return "dead"
            if self.script:
                return self.script.pop(0)
            if self.fault_rate and self.rnd.random() < self.fault_rate:
                return self.rnd.choice(self.fault_kinds)
        return None

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def done(self, entry):
        with self.lock:
            self.in_flight -= 1
            entry["end"] = time.monotonic()

    def of(self, api):
        with self.lock:
            return [r for r in self.requests if r["api"] == api]

    def new_file(self, w, h, fmt):
        with self.lock:
            self.seq += 1
            name = "img%06d.%s" % (self.seq, {"png": "png", "jpeg": "jpg", "webp": "webp"}.get(fmt, "png"))
            self.files[name] = (w, h, fmt)
        return name


class FakeHandler(BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # -- answering -------------------------------------------------------------

    def send(self, status, body, ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def reset(self):
        """Closes the connection with a TCP reset and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def fault(self, kind, api):
        """Answers with the fault; True when it answered (or closed)."""
        if kind in ("dead", "503"):
            self.send(503, {"error": {"message": "Service Unavailable"}} if api == "openai"
                      else {"detail": "Service Unavailable"})
        elif kind == "500":
            self.send(500, {"detail": "Internal Server Error"})
        elif kind == "429":
            self.send(429, {"error": {"message": "Rate limit reached", "type": "requests"}}
                      if api == "openai" else {"detail": "Too many requests"},
                      headers={"Retry-After": self.fake.retry_after})
        elif kind == "quota":
            self.send(429, {"error": {"message": "You exceeded your current quota, please check your"
                                      " plan and billing details.", "type": "insufficient_quota",
                                      "code": "insufficient_quota"}})
        elif kind == "401":
            if api == "openai":
                self.send(401, {"error": {"message": "Incorrect API key provided: %s."
                                          % self.headers.get("Authorization", "")[7:],
                                          "type": "invalid_request_error", "code": "invalid_api_key"}})
            else:
                self.send(401, {"detail": "Invalid API key: %s" % self.headers.get("Api-Key", "")})
        elif kind == "safety":
            if api == "openai":
                self.send(400, {"error": {"message": "Your request was rejected as a result of our"
                                          " safety system.\nIt may contain\tdisallowed content.",
                                          "type": "invalid_request_error",
                                          "code": "content_policy_violation"}})
            else:
                self.send(422, {"detail": "Prompt failed the safety check.\r\nTry another."})
        elif kind == "reset":
            self.reset()
        elif kind == "truncated":
            body = b'{"data": [{"url": "http://127.0.0.1/x"'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 500))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.reset()
        elif kind == "badjson":
            self.send(200, b"{\"data\": [ this is not json", "application/json")
        elif kind == "hang":
            time.sleep(60)
            self.reset()
        else:
            return False
        return True

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- routes ----------------------------------------------------------------

    def do_GET(self):
        if self.path.startswith("/files/"):
            return self.file(self.path[7:])
        self.send(404, {"detail": "Not Found"})

    def do_POST(self):
        routes = {"/generate": ("ideogram", self.ideogram),
                  "/v1/ideogram-v3/generate": ("ideogram3", self.ideogram3),
                  "/v1/images/generations": ("openai", self.openai),
                  "/sdapi/v1/txt2img": ("a1111", self.a1111)}
        if self.path not in routes:
            entry = {"api": "unknown", "path": self.path, "raw": self.read_body(),
                     "start": time.monotonic(), "headers": {}, "server": self.fake.name}
            self.fake.record(entry)
            self.fake.done(entry)
            return self.send(404, {"detail": "Not Found"})
        api, handler = routes[self.path]
        raw = self.read_body()
        entry = {"api": api, "path": self.path, "start": time.monotonic(),
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw,
                 "server": self.fake.name}
        self.fake.record(entry)
        try:
            kind = self.fake.next_fault()
            entry["fault"] = kind
            if kind == "slow":
                time.sleep(2)
            elif self.fake.latency:
                time.sleep(self.fake.latency)
            if kind and self.fault(kind, "openai" if api == "openai" else api):
                return
            try:
                status, body = handler(entry, raw, kind)
            except Refusal as r:
                status, body = r.status, r.body
            entry["status"] = status
            entry["answer"] = body
            if kind == "big" and status == 200:
                body["padding"] = "x" * (2 * 1024 * 1024)
            self.send(status, body)
        finally:
            self.fake.done(entry)

    def file(self, name):
        f = self.fake
        with f.lock:
            f.downloads += 1
            info = f.files.get(name)
        if not info:
            return self.send(404, {"detail": "Not Found"})
        w, h, fmt = info
        data = {"png": png, "jpeg": jpeg, "webp": webp}.get(fmt, png)(w, h) if fmt in \
            ("png", "jpeg", "webp") else b""
        if fmt == "notimage":
            data = b"<html><body>Access denied</body></html>"
        elif fmt == "badpng":
            data = png(w, h)[:-20]
        ctype = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}.get(fmt, "text/html")
        self.send(200, data, ctype)

    # -- the services ----------------------------------------------------------

    def check_ideogram_key(self):
        if self.headers.get("Api-Key") != self.fake.key:
            raise Refusal(401, {"detail": "Invalid API key"})

    def ideogram_answer(self, n, seed, rw, rh, kind, style):
        data = []
        with self.fake.lock:
            base = seed if seed is not None else 100000 + 8 * len(self.fake.requests)
        for i in range(n):
            w, h = small_size(rw, rh)
            fmt = kind if kind in ("jpeg", "webp", "notimage", "badpng") else self.fake.image_format
            name = self.fake.new_file(w, h, fmt)
            data.append({"prompt": "", "resolution": "%dx%d" % (w, h),
                         "is_image_safe": not (kind == "unsafe" and i == 0),
                         "seed": base + i,
                         "style_type": style, "url": "%s/files/%s" % (self.fake.url, name)})
        return 200, {"created": "2024-01-01T00:00:00Z", "data": data}

    def ideogram(self, entry, raw, kind):
        self.check_ideogram_key()
        try:
            body = json.loads(raw)
            r = body["image_request"]
        except (ValueError, KeyError, TypeError):
            raise Refusal(400, {"detail": "image_request is required"})
        entry["body"] = r
        if not isinstance(r.get("prompt"), str) or not r["prompt"]:
            raise Refusal(400, {"detail": "prompt is required"})
        ratio = r.get("aspect_ratio", "ASPECT_1_1")
        if ratio not in IDEOGRAM_RATIOS:
            raise Refusal(400, {"detail": "invalid aspect_ratio"})
        if r.get("model", "V_2") not in IDEOGRAM_MODELS:
            raise Refusal(400, {"detail": "invalid model"})
        if r.get("magic_prompt_option", "AUTO") not in ("AUTO", "ON", "OFF"):
            raise Refusal(400, {"detail": "invalid magic_prompt_option"})
        if "style_type" in r and (r["style_type"] not in IDEOGRAM_STYLES or
                                  r.get("model", "V_2").startswith("V_1")):
            raise Refusal(400, {"detail": "invalid style_type"})
        n = r.get("num_images", 1)
        if not isinstance(n, int) or not 1 <= n <= 8:
            raise Refusal(400, {"detail": "num_images must be 1 to 8"})
        seed = r.get("seed")
        if seed is not None and (not isinstance(seed, int) or not 0 <= seed <= 2147483647):
            raise Refusal(400, {"detail": "invalid seed"})
        pal = r.get("color_palette")
        if pal is not None:
            if r.get("model", "V_2") not in ("V_2", "V_2_TURBO"):
                raise Refusal(400, {"detail": "color_palette is not supported by this model"})
            if not (isinstance(pal, dict) and (pal.get("name") in IDEOGRAM_PRESETS or
                    (isinstance(pal.get("members"), list) and pal["members"] and
                     all(isinstance(m, dict) and isinstance(m.get("color_hex"), str) and
                         len(m["color_hex"]) == 7 and m["color_hex"][0] == "#"
                         for m in pal["members"])))):
                raise Refusal(400, {"detail": "invalid color_palette"})
        rw, rh = IDEOGRAM_RATIOS[ratio]
        return self.ideogram_answer(n, seed, rw, rh, kind, r.get("style_type", "AUTO"))

    def ideogram3(self, entry, raw, kind):
        self.check_ideogram_key()
        try:
            f = parse_multipart(raw, self.headers.get("Content-Type", ""))
        except ValueError as e:
            raise Refusal(400, {"detail": "bad multipart body: %s" % e})
        entry["body"] = f
        if not f.get("prompt"):
            raise Refusal(400, {"detail": "prompt is required"})
        ratio = f.get("aspect_ratio", "1x1")
        if ratio not in V3_RATIOS:
            raise Refusal(400, {"detail": "invalid aspect_ratio"})
        if f.get("rendering_speed", "DEFAULT") not in ("TURBO", "DEFAULT", "QUALITY"):
            raise Refusal(400, {"detail": "invalid rendering_speed"})
        if f.get("magic_prompt", "AUTO") not in ("AUTO", "ON", "OFF"):
            raise Refusal(400, {"detail": "invalid magic_prompt"})
        if "style_type" in f and f["style_type"] not in V3_STYLES:
            raise Refusal(400, {"detail": "invalid style_type"})
        n = int(f.get("num_images", "1"))
        if not 1 <= n <= 8:
            raise Refusal(400, {"detail": "num_images must be 1 to 8"})
        seed = int(f["seed"]) if "seed" in f else None
        if "color_palette" in f:
            try:
                pal = json.loads(f["color_palette"])
            except ValueError:
                raise Refusal(400, {"detail": "invalid color_palette"})
            if not (pal.get("name") in IDEOGRAM_PRESETS or pal.get("members")):
                raise Refusal(400, {"detail": "invalid color_palette"})
        rw, rh = (int(x) for x in ratio.split("x"))
        return self.ideogram_answer(n, seed, rw, rh, kind, f.get("style_type", "AUTO"))

    def openai(self, entry, raw, kind):
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + self.fake.key:
            raise Refusal(401, {"error": {"message": "Incorrect API key provided: %s." % auth[7:],
                                          "type": "invalid_request_error", "code": "invalid_api_key"}})
        try:
            r = json.loads(raw)
        except ValueError:
            raise Refusal(400, {"error": {"message": "We could not parse the JSON body"}})
        entry["body"] = r
        model = r.get("model", "dall-e-2")
        n = r.get("n", 1)
        size = r.get("size", "1024x1024")
        if not r.get("prompt"):
            raise Refusal(400, {"error": {"message": "prompt is required"}})
        if model in OPENAI_SIZES and size not in OPENAI_SIZES[model]:
            raise Refusal(400, {"error": {"message": "Invalid size for %s" % model}})
        if not isinstance(n, int) or not 1 <= n <= 10 or (model == "dall-e-3" and n != 1):
            raise Refusal(400, {"error": {"message": "Invalid n for %s" % model}})
        if model.startswith("gpt-image") and "response_format" in r:
            raise Refusal(400, {"error": {"message": "Unknown parameter: 'response_format'."}})
        if model == "dall-e-3" and r.get("quality", "standard") not in ("standard", "hd"):
            raise Refusal(400, {"error": {"message": "Invalid quality"}})
        if model.startswith("gpt-image") and r.get("quality", "auto") not in ("low", "medium", "high", "auto"):
            raise Refusal(400, {"error": {"message": "Invalid quality"}})
        if model == "dall-e-2" and "quality" in r:
            raise Refusal(400, {"error": {"message": "quality is not supported for dall-e-2"}})
        w, h = (int(x) for x in (size if size != "auto" else "1024x1024").split("x"))
        data = []
        for i in range(n):
            img = png(w, h)
            if kind == "notimage":
                img = b"not an image at all"
            if r.get("response_format") == "url":
                data.append({"url": "%s/files/%s" % (self.fake.url, self.fake.new_file(w, h, "png"))})
            else:
                data.append({"b64_json": base64.b64encode(img).decode(), "revised_prompt": r["prompt"]})
        return 200, {"created": int(time.time()), "data": data}

    def a1111(self, entry, raw, kind):
        if self.fake.a1111_auth and self.headers.get("Authorization") != \
                "Basic " + base64.b64encode(self.fake.a1111_auth.encode()).decode():
            raise Refusal(401, {"detail": "Not authenticated"})
        try:
            r = json.loads(raw)
        except ValueError:
            raise Refusal(422, {"detail": [{"msg": "invalid JSON"}]})
        entry["body"] = r
        w, h = r.get("width", 512), r.get("height", 512)
        n = r.get("batch_size", 1)
        if not (isinstance(w, int) and isinstance(h, int) and w % 8 == 0 and h % 8 == 0 and
                64 <= w <= 2048 and 64 <= h <= 2048):
            raise Refusal(422, {"detail": [{"msg": "width and height must be multiples of 8"}]})
        if not isinstance(n, int) or not 1 <= n <= 16:
            raise Refusal(422, {"detail": [{"msg": "invalid batch_size"}]})
        seed = r.get("seed", -1)
        first = seed if seed != -1 else 7000 + len(self.fake.requests)
        seeds = [first + i for i in range(n)]
        img = png(w, h)
        if kind == "notimage":
            img = b"GIF89a not what it claims"
        info = {"prompt": r.get("prompt", ""), "seed": first, "all_seeds": seeds,
                "width": w, "height": h, "steps": r.get("steps", 20), "batch_size": n}
        return 200, {"images": [base64.b64encode(img).decode() for _ in range(n)],
                     "parameters": r, "info": json.dumps(info)}


def serve_bench(port, latency):
    """
    The benchmark's upstream: POST /sdapi/v1/txt2img only, answered after exactly `latency`
    seconds, on one asyncio thread (hundreds of calls in flight cost no thread each, so the
    latency stays fixed under load).  The answer has the documented shape, a 64x64 PNG per
    image asked.  Prints its port; stdin lines "stats" and "reset" as in main().
    """
    import asyncio
    stats = {"requests": 0, "in_flight": 0, "max_in_flight": 0, "service_s": 0.0}

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                t0 = time.monotonic()
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                body = json.loads(await reader.readexactly(n)) if n else {}
                stats["requests"] += 1
                stats["in_flight"] += 1
                stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                await asyncio.sleep(latency)
                k = body.get("batch_size", 1)
                img = base64.b64encode(png(body.get("width", 64), body.get("height", 64))).decode()
                seed = body.get("seed", -1) if body.get("seed", -1) != -1 else 1
                out = json.dumps({"images": [img] * k, "parameters": body,
                                  "info": json.dumps({"seed": seed, "all_seeds": [seed + i for i in range(k)]})
                                  }).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(out) + out)
                await writer.drain()
                stats["in_flight"] -= 1
                stats["service_s"] += time.monotonic() - t0
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def control():
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            if line.strip() == "stats":
                mean = stats["service_s"] / stats["requests"] if stats["requests"] else 0
                print(json.dumps({"requests": stats["requests"], "max_in_flight": stats["max_in_flight"],
                                  "mean_service_s": mean}), flush=True)
            elif line.strip() == "reset":
                stats.update(requests=0, max_in_flight=0, service_s=0.0)
                print("ok", flush=True)

    async def run():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=2048)
        print(server.sockets[0].getsockname()[1], flush=True)
        await control()
        server.close()

    asyncio.run(run())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--key", default="test-key")
    ap.add_argument("--bench", action="store_true", help="the benchmark's asyncio a1111 upstream")
    args = ap.parse_args()
    if args.bench:
        return serve_bench(args.port, args.latency)
    fake = Fake(args.key).start(args.port)
    fake.latency = args.latency
    print(fake.port, flush=True)
    try:
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            if line.strip() == "stats":
                with fake.lock:
                    print(json.dumps({"requests": len(fake.requests),
                                      "max_in_flight": fake.max_in_flight}), flush=True)
            elif line.strip() == "reset":
                with fake.lock:
                    fake.requests = []
                    fake.max_in_flight = 0
                print("ok", flush=True)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
