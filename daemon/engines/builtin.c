/*
 * builtin.c — the built-in image engine: real PNGs, no network, no keys.
 *
 * DESIGN
 * The built-in engine stands in for a real one so that kiln can be run,
 * demonstrated and tested anywhere.  Its output is deterministic: the bytes
 * depend only on the row's fields, the seed and the image's index (and the
 * engine's size and compression settings), never on time, threads or a
 * global random generator.  Two hashes drive everything, FNV-1a over the
 * inputs, stretched into a stream of numbers with splitmix64:
 *
 *   row hash   = prompt, negative prompt, style, model, rendering,
 *                magic prompt, aspect ratio, palette
 *   image hash = row hash + seed + index
 *
 * The row hash picks the palette (when the row has none) and the background
 * gradient, so the images of one row share a backdrop and different rows
 * look different; the image hash lays out the shapes, so the images of a
 * row differ.  The style picks the kind of picture (auto/general: mixed
 * shapes; realistic: sky, sun and hills; design: flat shapes on a grid;
 * 3d: shaded spheres on a floor; anime: outlined discs and speed lines) and
 * the rendering its amount of detail (turbo less, quality more).  A strip
 * along the bottom shows the palette's colours exactly, and small squares in
 * the top-left corner count the image's index, so a person browsing a batch
 * can tell rows and images apart at a glance.
 *
 * Pixels are made one row at a time with integer arithmetic only (spans of
 * discs come from an integer square root per row, not per pixel) and fed to
 * libpng, which writes into a growing memory buffer (png_set_write_fn); the
 * whole image is never held uncompressed.  Rows are not filtered: on flat
 * colours deflate alone compresses smaller and about twice as fast.  The PNG carries tEXt chunks
 * Software=kiln, prompt and seed (iTXt for a prompt that is not ASCII) and
 * no time chunk, so the bytes stay reproducible.
 *
 * Colours: color_palette is either hex values ("#CBA324 #F86C14", up to
 * five, '#' optional, #RGB accepted) or one of the presets in the table
 * below; anything else, or none, gives five colours derived from a hash of
 * the prompt.  With fewer than five colours, lighter and darker variants
 * fill the shapes' palette; the strip shows the given colours only.
 *
 * Seed: a request seed of -1 is replaced by a hash of the image id, in
 * 0..2147483647, so a retried image keeps its seed; out->seed reports it.
 *
 * Fields: the built-in engine stands in for every field (magic_prompt,
 * rendering, negative_prompt, model all feed the hashes), so out->ignored
 * is always "".
 *
 * Settings: builtin_size is the long side; builtin_compression the zlib
 * level; builtin_delay_ms a sleep per image, taken in slices of at most
 * 10 ms with *cancel checked between slices (and on every pixel row), so a
 * stop is honoured within ~10 ms; builtin_call_log, when set, gets
 * "<image id>\n" appended at the start of every call, with one write(2) on
 * an O_APPEND descriptor so that concurrent calls never interleave.
 *
 * Test hooks, in the prompt (after the call is logged and the delay slept):
 *   [[kiln:fail]]   returns ENGINE_FAIL (this image cannot be made)
 *   [[kiln:fatal]]  returns ENGINE_FATAL (the engine is unusable)
 *   [[kiln:retry]]  returns ENGINE_RETRY (a transient fault) on every call
 *
 * Thread safety: the engine's state is read-only after creation; every call
 * keeps its scene, row buffer and output buffer to itself.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../config.h"
#include "../engine.h"

#define BUILTIN_MIN_SIZE 8
#define BUILTIN_MAX_SIZE 16384
#define MAX_PAL 5
#define MAX_SHAPES 32
#define MAX_MARKS 8
#define DELAY_SLICE_NS 10000000L

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

#define MARK_FAIL "[[kiln:fail]]"
#define MARK_FATAL "[[kiln:fatal]]"
#define MARK_RETRY "[[kiln:retry]]"

struct builtin {
	unsigned delay_ms;
	unsigned size;
	int compression;
	char call_log[1024];
};

struct rgb {
	unsigned char r, g, b;
};

struct preset {
	const char *name;
	struct rgb c[MAX_PAL];
};

/* The colour_palette presets of spreadsheet.md, five colours each. */
static const struct preset presets[] = {
	{ "ember", { { 0x2B, 0x0F, 0x0E }, { 0x7A, 0x1F, 0x12 }, { 0xC8, 0x40, 0x1A },
		     { 0xF2, 0x7B, 0x1F }, { 0xFF, 0xC8, 0x57 } } },
	{ "fresh", { { 0xE8, 0xF6, 0xEF }, { 0xB8, 0xE0, 0xD2 }, { 0x52, 0xB7, 0x88 },
		     { 0xFF, 0xD1, 0x66 }, { 0x26, 0x7E, 0xB5 } } },
	{ "jungle", { { 0x0B, 0x3D, 0x20 }, { 0x1E, 0x6B, 0x34 }, { 0x3F, 0xA3, 0x4D },
		      { 0x8C, 0xC6, 0x3F }, { 0xD4, 0xA0, 0x17 } } },
	{ "magic", { { 0x2E, 0x08, 0x54 }, { 0x5B, 0x2A, 0x86 }, { 0x9A, 0x48, 0xD0 },
		     { 0xE0, 0x66, 0xFF }, { 0xFF, 0xD6, 0xFF } } },
	{ "melon", { { 0xFF, 0x6F, 0x61 }, { 0xFF, 0x9A, 0x8B }, { 0xFF, 0xC3, 0xA0 },
		     { 0xA8, 0xE6, 0xA3 }, { 0x3B, 0x8E, 0x3F } } },
	{ "mosaic", { { 0x1F, 0x77, 0xB4 }, { 0xFF, 0x7F, 0x0E }, { 0x2C, 0xA0, 0x2C },
		      { 0xD6, 0x27, 0x28 }, { 0xF4, 0xE1, 0x9C } } },
	{ "pastel", { { 0xFF, 0xD1, 0xDC }, { 0xFF, 0xE5, 0xB4 }, { 0xFF, 0xFA, 0xCD },
		      { 0xC1, 0xE1, 0xC1 }, { 0xAE, 0xC6, 0xCF } } },
	{ "ultramarine", { { 0x0A, 0x11, 0x72 }, { 0x12, 0x0A, 0x8F }, { 0x3F, 0x00, 0xFF },
			   { 0x41, 0x66, 0xF5 }, { 0x8F, 0xA8, 0xFF } } },
};

enum shape_kind {
	SHAPE_DISC,
	SHAPE_RING,
	SHAPE_RECT,
	SHAPE_BAND,
	SHAPE_SPHERE
};

/*
 * One shape.  Every shape is clipped to its box [x0, x1) x [y0, y1); discs,
 * rings and spheres are centred on (cx, cy); a band paints the pixels of its
 * box where (ax * x + ay * y + off) mod period < width.
 */
struct shape {
	enum shape_kind kind;
	struct rgb c;
	unsigned alpha;          /* 1..256, 256 = opaque */
	int x0, y0, x1, y1;
	int cx, cy;
	int64_t r2, rin2;        /* outer and inner radius squared */
	int64_t shade_k;         /* spheres: 16.16 factor from distance² to darkening */
	int hx, hy;              /* spheres: the highlight */
	int ax, ay, off, period, width;
};

struct scene {
	int w, h;
	struct rgb given[MAX_PAL];   /* the palette shown in the strip */
	int ngiven;
	struct rgb pal[MAX_PAL];     /* the palette shapes draw from (always MAX_PAL) */
	struct rgb bg0, bg1;
	int gx, gy;                  /* gradient direction */
	int64_t gmin, grange;
	struct shape shapes[MAX_SHAPES];
	int nshapes;
	int strip_y;                 /* first row of the palette strip */
	int mark, nmarks;            /* index squares: side, count */
};

/* ---- small helpers ------------------------------------------------------ */

/* Writes a formatted message into err when there is room for one. */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* FNV-1a over n bytes, continuing from h. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* FNV-1a over a string (NULL as ""), followed by a 0xFF separator byte. */
static uint64_t fnv1a_str(uint64_t h, const char *s)
{
	static const unsigned char sep = 0xFF;

	if (s)
		h = fnv1a(h, s, strlen(s));
	return fnv1a(h, &sep, 1);
}

/* FNV-1a over a 64-bit number, little-endian. */
static uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return fnv1a(h, b, sizeof(b));
}

/* splitmix64: the next number of the stream whose state is *s. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z;

	*s += 0x9e3779b97f4a7c15ULL;
	z = *s;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number from lo to hi inclusive (lo when hi < lo). */
static int rrange(uint64_t *s, int lo, int hi)
{
	uint64_t v = splitmix64(s);

	if (hi <= lo)
		return lo;
	return lo + (int)(v % (uint64_t)(hi - lo + 1));
}

static int imin(int a, int b)
{
	return a < b ? a : b;
}

static int imax(int a, int b)
{
	return a > b ? a : b;
}

/* Integer square root: the largest r with r * r <= v (0 for v <= 0). */
static int64_t isqrt64(int64_t v)
{
	uint64_t x, res = 0, bit = 1ULL << 62;

	if (v <= 0)
		return 0;
	x = (uint64_t)v;
	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= res + bit) {
			x -= res + bit;
			res = (res >> 1) + bit;
		}
		else
			res >>= 1;
		bit >>= 2;
	}
	return (int64_t)res;
}

/* Is *cancel set?  A NULL flag is never set. */
static int cancelled(const atomic_int *cancel)
{
	return cancel && atomic_load_explicit(cancel, memory_order_relaxed) != 0;
}

/* ---- colours ------------------------------------------------------------ */

/* Relative brightness, 0..2040 (weights 2:5:1 approximate luma). */
static int luma(struct rgb c)
{
	return 2 * c.r + 5 * c.g + c.b;
}

/* c scaled by f/256 (f 0..256 darkens; above 256 is clamped per channel). */
static struct rgb scale(struct rgb c, int f)
{
	struct rgb o;

	o.r = (unsigned char)imin(255, c.r * f >> 8);
	o.g = (unsigned char)imin(255, c.g * f >> 8);
	o.b = (unsigned char)imin(255, c.b * f >> 8);
	return o;
}

/* c moved towards white by t/256. */
static struct rgb lighten(struct rgb c, int t)
{
	struct rgb o;

	o.r = (unsigned char)(c.r + ((255 - c.r) * t >> 8));
	o.g = (unsigned char)(c.g + ((255 - c.g) * t >> 8));
	o.b = (unsigned char)(c.b + ((255 - c.b) * t >> 8));
	return o;
}

/* HSV to RGB in integers: h 0..359, s and v 0..255. */
static struct rgb hsv(int h, int s, int v)
{
	struct rgb o;
	int region = (h % 360) / 60;
	int rem = ((h % 60) * 255) / 60;
	int p = v * (255 - s) / 255;
	int q = v * (255 - s * rem / 255) / 255;
	int t = v * (255 - s * (255 - rem) / 255) / 255;
	int r, g, b;

	switch (region) {
	case 0: r = v; g = t; b = p; break;
	case 1: r = q; g = v; b = p; break;
	case 2: r = p; g = v; b = t; break;
	case 3: r = p; g = q; b = v; break;
	case 4: r = t; g = p; b = v; break;
	default: r = v; g = p; b = q; break;
	}
	o.r = (unsigned char)r;
	o.g = (unsigned char)g;
	o.b = (unsigned char)b;
	return o;
}

/* The value of one hex digit, or -1. */
static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Parses one colour token of n characters ("#CBA324", "CBA324", "#C2A")
 * into *c.  Returns 0, or -1 when it is not one.
 */
static int parse_hex(const char *s, size_t n, struct rgb *c)
{
	int d[6];
	size_t i;

	if (n && s[0] == '#') {
		s++;
		n--;
	}
	if (n != 6 && n != 3)
		return -1;
	for (i = 0; i < n; i++) {
		d[i] = hexval((unsigned char)s[i]);
		if (d[i] < 0)
			return -1;
	}
	if (n == 3) {
		c->r = (unsigned char)(d[0] * 17);
		c->g = (unsigned char)(d[1] * 17);
		c->b = (unsigned char)(d[2] * 17);
	}
	else {
		c->r = (unsigned char)(d[0] * 16 + d[1]);
		c->g = (unsigned char)(d[2] * 16 + d[3]);
		c->b = (unsigned char)(d[4] * 16 + d[5]);
	}
	return 0;
}

static int is_sep(int ch)
{
	return ch == ' ' || ch == '\t' || ch == ',' || ch == ';' || ch == '\n' || ch == '\r';
}

/*
 * Reads the row's color_palette into out (at most MAX_PAL colours): a
 * preset name (case-insensitive, spaces around it allowed) or hex tokens.
 * Returns the number of colours; 0 for NULL, empty or unrecognised text.
 */
static int read_palette(const char *s, struct rgb *out)
{
	const char *p, *e;
	size_t n, i;
	int count = 0;

	if (!s)
		return 0;
	p = s;
	while (*p && is_sep((unsigned char)*p))
		p++;
	e = p + strlen(p);
	while (e > p && is_sep((unsigned char)e[-1]))
		e--;
	n = (size_t)(e - p);
	for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
		if (strlen(presets[i].name) == n && !strncasecmp(p, presets[i].name, n)) {
			memcpy(out, presets[i].c, sizeof(presets[i].c));
			return MAX_PAL;
		}
	}
	while (p < e && count < MAX_PAL) {
		const char *t = p;

		while (t < e && !is_sep((unsigned char)*t))
			t++;
		if (parse_hex(p, (size_t)(t - p), &out[count]))
			return 0;
		count++;
		p = t;
		while (p < e && is_sep((unsigned char)*p))
			p++;
	}
	return count;
}

/* Five colours derived from a hash of the prompt: a hue scheme per prompt. */
static void derive_palette(const char *prompt, struct rgb *out)
{
	uint64_t s = fnv1a_str(FNV_OFFSET, prompt);
	int base = rrange(&s, 0, 359);
	int step = rrange(&s, 25, 70);
	int i;

	for (i = 0; i < MAX_PAL; i++) {
		int h = base + (i & 1 ? 180 : 0) + (i / 2) * step;
		int sat = rrange(&s, 110, 230);
		int val = 70 + i * 40 + rrange(&s, 0, 25);

		out[i] = hsv(h % 360, sat, imin(val, 255));
	}
}

/* ---- scene building ----------------------------------------------------- */

/* Appends a shape with its box clipped to the image; drops empty ones. */
static void add_shape(struct scene *sc, const struct shape *s)
{
	struct shape *d;

	if (sc->nshapes >= MAX_SHAPES)
		return;
	d = &sc->shapes[sc->nshapes];
	*d = *s;
	d->x0 = imax(d->x0, 0);
	d->y0 = imax(d->y0, 0);
	d->x1 = imin(d->x1, sc->w);
	d->y1 = imin(d->y1, sc->h);
	if (d->x0 >= d->x1 || d->y0 >= d->y1 || !d->alpha)
		return;
	if (d->alpha > 256)
		d->alpha = 256;
	sc->nshapes++;
}

/* A disc (kind SHAPE_DISC or SHAPE_SPHERE) of radius r centred on (cx, cy). */
static void add_disc(struct scene *sc, enum shape_kind kind, int cx, int cy, int r,
		     struct rgb c, unsigned alpha)
{
	struct shape s;

	memset(&s, 0, sizeof(s));
	r = imax(r, 1);
	s.kind = kind;
	s.c = c;
	s.alpha = alpha;
	s.cx = cx;
	s.cy = cy;
	s.r2 = (int64_t)r * r;
	s.x0 = cx - r;
	s.x1 = cx + r + 1;
	s.y0 = cy - r;
	s.y1 = cy + r + 1;
	if (kind == SHAPE_SPHERE) {
		int64_t far = (int64_t)(r + r / 3) * (r + r / 3) * 2;

		s.hx = cx - r / 3;
		s.hy = cy - r / 3;
		s.shade_k = ((int64_t)240 << 16) / (far > 0 ? far : 1);
	}
	add_shape(sc, &s);
}

/* A ring: radius r, thickness t, centred on (cx, cy). */
static void add_ring(struct scene *sc, int cx, int cy, int r, int t, struct rgb c,
		     unsigned alpha)
{
	struct shape s;
	int rin;

	memset(&s, 0, sizeof(s));
	r = imax(r, 1);
	rin = imax(r - imax(t, 1), 0);
	s.kind = SHAPE_RING;
	s.c = c;
	s.alpha = alpha;
	s.cx = cx;
	s.cy = cy;
	s.r2 = (int64_t)r * r;
	s.rin2 = (int64_t)rin * rin;
	s.x0 = cx - r;
	s.x1 = cx + r + 1;
	s.y0 = cy - r;
	s.y1 = cy + r + 1;
	add_shape(sc, &s);
}

/* A rectangle [x0, x1) x [y0, y1). */
static void add_rect(struct scene *sc, int x0, int y0, int x1, int y1, struct rgb c,
		     unsigned alpha)
{
	struct shape s;

	memset(&s, 0, sizeof(s));
	s.kind = SHAPE_RECT;
	s.c = c;
	s.alpha = alpha;
	s.x0 = x0;
	s.y0 = y0;
	s.x1 = x1;
	s.y1 = y1;
	add_shape(sc, &s);
}

/*
 * Stripes inside [x0, x1) x [y0, y1): pixels where
 * (ax * x + ay * y + off) mod period < width.
 */
static void add_band(struct scene *sc, int x0, int y0, int x1, int y1, int ax, int ay,
		     int period, int width, int off, struct rgb c, unsigned alpha)
{
	struct shape s;

	memset(&s, 0, sizeof(s));
	period = imax(period, 2);
	s.kind = SHAPE_BAND;
	s.c = c;
	s.alpha = alpha;
	s.x0 = x0;
	s.y0 = y0;
	s.x1 = x1;
	s.y1 = y1;
	s.period = period;
	s.width = imin(imax(width, 1), period - 1);
	s.ax = ((ax % period) + period) % period;
	s.ay = ay;
	s.off = ((off % period) + period) % period;
	add_shape(sc, &s);
}

/* A palette colour picked by the stream s. */
static struct rgb pick(const struct scene *sc, uint64_t *s)
{
	return sc->pal[rrange(s, 0, MAX_PAL - 1)];
}

/* The brightest (dir > 0) or darkest (dir < 0) palette colour. */
static struct rgb extreme(const struct scene *sc, int dir)
{
	struct rgb best = sc->pal[0];
	int i;

	for (i = 1; i < MAX_PAL; i++) {
		if (dir > 0 ? luma(sc->pal[i]) > luma(best) : luma(sc->pal[i]) < luma(best))
			best = sc->pal[i];
	}
	return best;
}

/* Mixed discs, rings, rectangles and stripes: styles auto and general. */
static void layout_general(struct scene *sc, uint64_t *s, int n)
{
	int S = imin(sc->w, sc->h);
	int i;

	for (i = 0; i < n; i++) {
		int kind = rrange(s, 0, 3);
		int cx = rrange(s, 0, sc->w - 1);
		int cy = rrange(s, 0, sc->h - 1);
		int r = rrange(s, S / 10, S / 3);
		unsigned alpha = (unsigned)rrange(s, 150, 230);
		struct rgb c = pick(sc, s);

		switch (kind) {
		case 0:
			add_disc(sc, SHAPE_DISC, cx, cy, r, c, alpha);
			break;
		case 1:
			add_ring(sc, cx, cy, r, rrange(s, imax(r / 4, 2), imax(r / 2, 2)), c, alpha);
			break;
		case 2:
			add_rect(sc, cx - r, cy - r / 2, cx + r, cy + r / 2 + rrange(s, 0, r), c, alpha);
			break;
		default: {
			int period = rrange(s, imax(S / 8, 4), imax(S / 4, 4));

			add_band(sc, 0, 0, sc->w, sc->h, rrange(s, -3, 3), rrange(s, 1, 3),
				 period, period / 3, rrange(s, 0, period), c,
				 (unsigned)rrange(s, 60, 110));
			break;
		}
		}
	}
}

/* A sky gradient, a sun with a halo, hills in layers, a faint haze. */
static void layout_realistic(struct scene *sc, uint64_t *s, int n)
{
	int S = imin(sc->w, sc->h), L = imax(sc->w, sc->h);
	int sunr = rrange(s, S / 12, S / 6);
	int sunx = rrange(s, sc->w / 8, sc->w - sc->w / 8);
	int suny = rrange(s, sc->h / 8, sc->h / 3);
	struct rgb sun = lighten(extreme(sc, 1), 90);
	int layers = imax(2, imin(6, n / 2));
	int i;

	sc->gx = 0;
	sc->gy = 1;
	add_ring(sc, sunx, suny, sunr * 2, sunr, sun, 50);
	add_disc(sc, SHAPE_DISC, sunx, suny, sunr, sun, 240);
	for (i = 0; i < layers; i++) {
		int r = L / 2 + rrange(s, 0, L * 2 / 5);
		int top = sc->h - sc->h * (layers - i) / (layers + 2) + rrange(s, -S / 16, S / 16);
		int cx = rrange(s, -sc->w / 4, sc->w + sc->w / 4);

		add_disc(sc, SHAPE_DISC, cx, top + r, r, scale(pick(sc, s), 230 - 25 * i), 256);
	}
	add_band(sc, 0, 0, sc->w, sc->h, 0, 1, imax(S / 12, 4), imax(S / 48, 1),
		 rrange(s, 0, 64), lighten(sc->bg0, 200), 28);
}

/* Flat rectangles, discs and stripes snapped to an 8 x 8 grid, opaque. */
static void layout_design(struct scene *sc, uint64_t *s, int n)
{
	int cell = imax(imin(sc->w, sc->h) / 8, 1);
	int cols = sc->w / cell, rows = sc->h / cell;
	int i;

	sc->bg1 = sc->bg0;
	for (i = 0; i < n; i++) {
		int kind = rrange(s, 0, 2);
		int x = rrange(s, 0, cols) * cell, y = rrange(s, 0, rows) * cell;
		int ww = rrange(s, 1, 4) * cell, hh = rrange(s, 1, 4) * cell;
		struct rgb c = pick(sc, s);

		switch (kind) {
		case 0:
			add_rect(sc, x, y, x + ww, y + hh, c, 256);
			break;
		case 1:
			add_disc(sc, SHAPE_DISC, x, y, rrange(s, 1, 3) * cell, c, 256);
			break;
		default: {
			int period = imax(cell / 2, 4);
			int dir = rrange(s, 0, 2);

			add_band(sc, x, y, x + ww, y + hh, dir != 1, dir != 0, period, period / 2, 0,
				 c, 256);
			break;
		}
		}
	}
}

/* Shaded spheres resting on a floor under a vertical gradient. */
static void layout_3d(struct scene *sc, uint64_t *s, int n)
{
	int S = imin(sc->w, sc->h);
	int floor_y = sc->h * 2 / 3;
	int count = imax(2, imin(6, n / 2));
	int i;

	sc->gx = 0;
	sc->gy = 1;
	add_rect(sc, 0, floor_y, sc->w, sc->h, scale(sc->bg1, 150), 256);
	for (i = 0; i < count; i++) {
		int r = rrange(s, S / 10, S / 4);
		int cx = rrange(s, r, sc->w - r);
		int cy = floor_y + rrange(s, -r / 2, (sc->h - floor_y) / 2);

		add_rect(sc, cx - r, cy + r - imax(r / 6, 1), cx + r + r / 2, cy + r + imax(r / 8, 1),
			 scale(sc->bg1, 80), 120);
		add_disc(sc, SHAPE_SPHERE, cx, cy, r, pick(sc, s), 256);
	}
}

/* Speed lines and bold discs with dark outlines. */
static void layout_anime(struct scene *sc, uint64_t *s, int n)
{
	int S = imin(sc->w, sc->h);
	struct rgb ink = scale(extreme(sc, -1), 90);
	int count = imax(2, imin(8, n - 1));
	int period = imax(S / 10, 4);
	int i;

	add_band(sc, 0, 0, sc->w, sc->h, rrange(s, 1, 3), -rrange(s, 1, 3), period,
		 imax(period / 6, 1), rrange(s, 0, period), lighten(extreme(sc, 1), 160), 110);
	for (i = 0; i < count; i++) {
		int r = rrange(s, S / 12, S / 4);
		int cx = rrange(s, 0, sc->w - 1), cy = rrange(s, 0, sc->h - 1);

		add_disc(sc, SHAPE_DISC, cx, cy, r, lighten(pick(sc, s), 40), 256);
		add_ring(sc, cx, cy, r, imax(S / 64, 1), ink, 256);
		add_disc(sc, SHAPE_DISC, cx - r / 3, cy - r / 3, imax(r / 6, 1),
			 lighten(extreme(sc, 1), 200), 220);
	}
}

/*
 * Lays out the whole picture for one request: palette, background, shapes,
 * palette strip and index squares.  row_h and img_h are the two hashes of
 * the DESIGN comment.
 */
static void build_scene(struct scene *sc, const struct sheet_fields *f, unsigned w,
			unsigned h, uint64_t row_h, uint64_t img_h, int index)
{
	uint64_t rs = row_h, is = img_h;
	int i, a, b, n;
	int64_t c[4];
	int S;

	memset(sc, 0, sizeof(*sc));
	sc->w = (int)w;
	sc->h = (int)h;
	S = imin(sc->w, sc->h);

	sc->ngiven = read_palette(f->color_palette, sc->given);
	if (!sc->ngiven) {
		derive_palette(f->prompt, sc->given);
		sc->ngiven = MAX_PAL;
	}
	for (i = 0; i < MAX_PAL; i++) {
		struct rgb g = sc->given[i % sc->ngiven];

		if (i < sc->ngiven)
			sc->pal[i] = g;
		else if ((i / sc->ngiven) & 1)
			sc->pal[i] = scale(g, 150);
		else
			sc->pal[i] = lighten(g, 120);
	}

	/* background: from the row hash only */
	a = rrange(&rs, 0, MAX_PAL - 1);
	b = (a + rrange(&rs, 1, MAX_PAL - 1)) % MAX_PAL;
	sc->bg0 = sc->pal[a];
	sc->bg1 = sc->pal[b];
	do {
		sc->gx = rrange(&rs, -3, 3);
		sc->gy = rrange(&rs, -3, 3);
	} while (!sc->gx && !sc->gy);

	n = 5 + rrange(&is, 0, 3);
	if (!strcmp(f->rendering, "turbo"))
		n -= 2;
	else if (!strcmp(f->rendering, "quality"))
		n += 4;

	if (!strcmp(f->style, "realistic"))
		layout_realistic(sc, &is, n);
	else if (!strcmp(f->style, "design"))
		layout_design(sc, &is, n);
	else if (!strcmp(f->style, "3d"))
		layout_3d(sc, &is, n);
	else if (!strcmp(f->style, "anime"))
		layout_anime(sc, &is, n);
	else
		layout_general(sc, &is, n);

	/* gradient range over the four corners */
	c[0] = 0;
	c[1] = (int64_t)sc->gx * (sc->w - 1);
	c[2] = (int64_t)sc->gy * (sc->h - 1);
	c[3] = c[1] + c[2];
	sc->gmin = c[0];
	sc->grange = c[0];
	for (i = 1; i < 4; i++) {
		if (c[i] < sc->gmin)
			sc->gmin = c[i];
		if (c[i] > sc->grange)
			sc->grange = c[i];
	}
	sc->grange -= sc->gmin;
	if (sc->grange <= 0)
		sc->grange = 1;

	sc->strip_y = sc->h - imax(2, sc->h / 16);
	sc->mark = imax(3, S / 24);
	sc->nmarks = imin(imin(index, MAX_MARKS), imax(1, (sc->w - sc->mark) / (2 * sc->mark)));
}

/* ---- rendering ---------------------------------------------------------- */

/* Blends colour c with alpha (1..256) over pixels [xa, xb] of row (inclusive). */
static void blend_span(unsigned char *row, int xa, int xb, struct rgb c, unsigned alpha)
{
	unsigned inv = 256 - alpha;
	unsigned char *p;
	int x;

	if (xa > xb)
		return;
	p = row + 3 * xa;
	if (alpha >= 256) {
		for (x = xa; x <= xb; x++, p += 3) {
			p[0] = c.r;
			p[1] = c.g;
			p[2] = c.b;
		}
		return;
	}
	for (x = xa; x <= xb; x++, p += 3) {
		p[0] = (unsigned char)((p[0] * inv + c.r * alpha) >> 8);
		p[1] = (unsigned char)((p[1] * inv + c.g * alpha) >> 8);
		p[2] = (unsigned char)((p[2] * inv + c.b * alpha) >> 8);
	}
}

/* Paints shape s's pixels in row y. */
static void draw_shape(const struct shape *s, int y, unsigned char *row)
{
	int64_t dy2 = (int64_t)(y - s->cy) * (y - s->cy);
	int64_t half, inner;
	int x, xa, xb;

	switch (s->kind) {
	case SHAPE_RECT:
		blend_span(row, s->x0, s->x1 - 1, s->c, s->alpha);
		break;
	case SHAPE_DISC:
		if (dy2 > s->r2)
			break;
		half = isqrt64(s->r2 - dy2);
		blend_span(row, imax(s->x0, (int)(s->cx - half)), imin(s->x1 - 1, (int)(s->cx + half)),
			   s->c, s->alpha);
		break;
	case SHAPE_RING:
		if (dy2 > s->r2)
			break;
		half = isqrt64(s->r2 - dy2);
		xa = imax(s->x0, (int)(s->cx - half));
		xb = imin(s->x1 - 1, (int)(s->cx + half));
		if (dy2 >= s->rin2) {
			blend_span(row, xa, xb, s->c, s->alpha);
			break;
		}
		inner = isqrt64(s->rin2 - dy2);
		blend_span(row, xa, imin(xb, (int)(s->cx - inner - 1)), s->c, s->alpha);
		blend_span(row, imax(xa, (int)(s->cx + inner + 1)), xb, s->c, s->alpha);
		break;
	case SHAPE_BAND: {
		int m = (int)((((int64_t)s->ax * s->x0 + (int64_t)s->ay * y + s->off) % s->period
			       + s->period) % s->period);
		unsigned inv = 256 - s->alpha;
		unsigned char *p = row + 3 * s->x0;

		for (x = s->x0; x < s->x1; x++, p += 3) {
			if (m < s->width) {
				p[0] = (unsigned char)((p[0] * inv + s->c.r * s->alpha) >> 8);
				p[1] = (unsigned char)((p[1] * inv + s->c.g * s->alpha) >> 8);
				p[2] = (unsigned char)((p[2] * inv + s->c.b * s->alpha) >> 8);
			}
			m += s->ax;
			if (m >= s->period)
				m -= s->period;
		}
		break;
	}
	case SHAPE_SPHERE: {
		int64_t hdy2 = (int64_t)(y - s->hy) * (y - s->hy);
		unsigned char *p;

		if (dy2 > s->r2)
			break;
		half = isqrt64(s->r2 - dy2);
		xa = imax(s->x0, (int)(s->cx - half));
		xb = imin(s->x1 - 1, (int)(s->cx + half));
		p = row + 3 * xa;
		for (x = xa; x <= xb; x++, p += 3) {
			int64_t d2 = (int64_t)(x - s->hx) * (x - s->hx) + hdy2;
			int64_t k = (d2 * s->shade_k) >> 16;
			int f = 256 - (int)(k > 200 ? 200 : k);
			int spec = f > 248 ? (f - 248) * 24 : 0;

			p[0] = (unsigned char)imin(255, (s->c.r * f >> 8) + spec);
			p[1] = (unsigned char)imin(255, (s->c.g * f >> 8) + spec);
			p[2] = (unsigned char)imin(255, (s->c.b * f >> 8) + spec);
		}
		break;
	}
	}
}

/* Makes pixel row y (w RGB triplets) of the scene into row. */
static void render_row(const struct scene *sc, int y, unsigned char *row)
{
	int64_t base = (int64_t)sc->gy * y - sc->gmin;
	int64_t t16 = (base * 65536) / sc->grange;
	int64_t dt16 = ((int64_t)sc->gx * 65536) / sc->grange;
	unsigned char *p = row;
	int x, i;

	for (x = 0; x < sc->w; x++, p += 3) {
		int t = (int)((t16 + dt16 * x) / 256);

		t = t < 0 ? 0 : t > 256 ? 256 : t;
		p[0] = (unsigned char)((sc->bg0.r * (256 - t) + sc->bg1.r * t) >> 8);
		p[1] = (unsigned char)((sc->bg0.g * (256 - t) + sc->bg1.g * t) >> 8);
		p[2] = (unsigned char)((sc->bg0.b * (256 - t) + sc->bg1.b * t) >> 8);
	}
	for (i = 0; i < sc->nshapes; i++) {
		const struct shape *s = &sc->shapes[i];

		if (y >= s->y0 && y < s->y1)
			draw_shape(s, y, row);
	}
	if (y >= sc->mark && y < 2 * sc->mark) {
		static const struct rgb black = { 0, 0, 0 }, white = { 255, 255, 255 };
		int edge = y == sc->mark || y == 2 * sc->mark - 1;

		for (i = 0; i < sc->nmarks; i++) {
			int x0 = sc->mark + 2 * i * sc->mark;

			blend_span(row, x0, x0 + sc->mark - 1, black, 256);
			if (!edge)
				blend_span(row, x0 + 1, x0 + sc->mark - 2, white, 256);
		}
	}
	if (y >= sc->strip_y) {
		for (i = 0; i < sc->ngiven; i++)
			blend_span(row, sc->w * i / sc->ngiven, sc->w * (i + 1) / sc->ngiven - 1,
				   sc->given[i], 256);
	}
}

/* ---- PNG into memory ---------------------------------------------------- */

struct membuf {
	unsigned char *data;
	size_t len, cap;
	int nomem;
};

struct png_ctx {
	char msg[160];
};

/* libpng's write callback: appends n bytes to the memory buffer. */
static void png_write_cb(png_structp png, png_bytep p, size_t n)
{
	struct membuf *mb = png_get_io_ptr(png);

	if (n > mb->cap - mb->len) {
		size_t cap = mb->cap ? mb->cap : 16384;
		unsigned char *d;

		while (cap - mb->len < n) {
			if (cap > ((size_t)-1) / 2) {
				mb->nomem = 1;
				png_error(png, "image too large for memory");
			}
			cap *= 2;
		}
		d = realloc(mb->data, cap);
		if (!d) {
			mb->nomem = 1;
			png_error(png, "out of memory");
		}
		mb->data = d;
		mb->cap = cap;
	}
	memcpy(mb->data + mb->len, p, n);
	mb->len += n;
}

/* Nothing to flush: the bytes are in memory. */
static void png_flush_cb(png_structp png)
{
	(void)png;
}

/* libpng's error callback: keeps the message and jumps back to encode_png(). */
static void png_error_cb(png_structp png, png_const_charp msg)
{
	struct png_ctx *ctx = png_get_error_ptr(png);

	snprintf(ctx->msg, sizeof(ctx->msg), "%s", msg);
	png_longjmp(png, 1);
}

/* libpng's warnings carry nothing kiln acts on. */
static void png_warning_cb(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* Is every byte of s printable ASCII (or a line feed)? */
static int is_ascii(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch >= 0x80 || (ch < 0x20 && ch != '\n'))
			return 0;
	}
	return 1;
}

/*
 * Writes header, text chunks and the rows of the scene through png.  Runs
 * under encode_png()'s setjmp: libpng errors jump out of it.  Returns 0, or
 * 1 when *cancel was set between two rows.
 */
static int write_image(png_structp png, png_infop info, const struct scene *sc, int level,
		       const char *prompt, int64_t seed, const atomic_int *cancel,
		       unsigned char *row)
{
	png_text text[3];
	char seedbuf[24];
	int y;

	png_set_IHDR(png, info, (png_uint_32)sc->w, (png_uint_32)sc->h, 8, PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, level);
	/* flat colours: no row filter compresses smaller and ~2x faster */
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);

	snprintf(seedbuf, sizeof(seedbuf), "%lld", (long long)seed);
	memset(text, 0, sizeof(text));
	text[0].compression = PNG_TEXT_COMPRESSION_NONE;
	text[0].key = "Software";
	text[0].text = "kiln";
	text[1].compression = is_ascii(prompt) ? PNG_TEXT_COMPRESSION_NONE
					       : PNG_ITXT_COMPRESSION_NONE;
	text[1].key = "prompt";
	text[1].text = (char *)prompt;
	text[1].lang = "";
	text[1].lang_key = "";
	text[2].compression = PNG_TEXT_COMPRESSION_NONE;
	text[2].key = "seed";
	text[2].text = seedbuf;
	png_set_text(png, info, text, 3);

	png_write_info(png, info);
	for (y = 0; y < sc->h; y++) {
		if (cancelled(cancel))
			return 1;
		render_row(sc, y, row);
		png_write_row(png, row);
	}
	png_write_end(png, info);
	return 0;
}

/*
 * Encodes the scene as a PNG into *mb.  row is a scratch buffer of
 * 3 * width bytes.  Returns ENGINE_OK, ENGINE_CANCELLED, ENGINE_RETRY (out
 * of memory) or ENGINE_FAIL (libpng refused), with a message in err.
 */
static enum engine_status encode_png(const struct scene *sc, int level, const char *prompt,
				     int64_t seed, const atomic_int *cancel,
				     struct membuf *mb, unsigned char *row,
				     char *err, size_t errlen)
{
	struct png_ctx ctx;
	png_structp png;
	png_infop info;
	int stopped;

	memset(&ctx, 0, sizeof(ctx));
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_cb, png_warning_cb);
	if (!png) {
		seterr(err, errlen, "builtin: cannot start a PNG writer (out of memory)");
		return ENGINE_RETRY;
	}
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		seterr(err, errlen, "builtin: cannot start a PNG writer (out of memory)");
		return ENGINE_RETRY;
	}
	png_set_write_fn(png, mb, png_write_cb, png_flush_cb);
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		seterr(err, errlen, "builtin: PNG encoding failed: %s", ctx.msg);
		return mb->nomem ? ENGINE_RETRY : ENGINE_FAIL;
	}
	stopped = write_image(png, info, sc, level, prompt, seed, cancel, row);
	png_destroy_write_struct(&png, &info);
	if (stopped) {
		seterr(err, errlen, "builtin: cancelled");
		return ENGINE_CANCELLED;
	}
	return ENGINE_OK;
}

/* ---- the engine --------------------------------------------------------- */

/*
 * Appends "<id>\n" to the call log with one write(2) on an O_APPEND
 * descriptor.  Returns 0, or -1 with a message in err.
 */
static int log_call(const char *path, const char *id, char *err, size_t errlen)
{
	size_t n = strlen(id);
	char *line;
	ssize_t w;
	int fd, e;

	line = malloc(n + 2);
	if (!line) {
		seterr(err, errlen, "builtin: out of memory writing the call log");
		return -1;
	}
	memcpy(line, id, n);
	line[n] = '\n';
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		e = errno;
		free(line);
		seterr(err, errlen, "builtin: cannot open the call log %s: %s", path, strerror(e));
		return -1;
	}
	w = write(fd, line, n + 1);
	e = errno;
	free(line);
	close(fd);
	if (w != (ssize_t)(n + 1)) {
		seterr(err, errlen, "builtin: cannot append to the call log %s: %s", path,
		       w < 0 ? strerror(e) : "short write");
		return -1;
	}
	return 0;
}

/*
 * Sleeps ms milliseconds in slices of at most 10 ms, checking *cancel
 * before each.  Returns 0 when the time is up, 1 when cancelled.
 */
static int delay(unsigned ms, const atomic_int *cancel)
{
	struct timespec end, now, slice;
	int64_t left;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		if (cancelled(cancel))
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = (int64_t)(end.tv_sec - now.tv_sec) * 1000000000LL + (end.tv_nsec - now.tv_nsec);
		if (left <= 0)
			return 0;
		slice.tv_sec = 0;
		slice.tv_nsec = left < DELAY_SLICE_NS ? (long)left : DELAY_SLICE_NS;
		nanosleep(&slice, NULL);
	}
}

/* The seed for an image without one: a hash of its id, 0..2147483647. */
static int64_t seed_for(const char *image_id)
{
	uint64_t s = fnv1a_str(FNV_OFFSET, image_id);

	return (int64_t)(splitmix64(&s) & 0x7FFFFFFFULL);
}

/*
 * engine_ops.generate for the built-in engine; see the DESIGN comment.
 * Logs the call, sleeps the configured delay, honours the test hooks, then
 * renders and encodes the image into out.
 */
static enum engine_status builtin_generate(void *state, const struct engine_request *req,
					   const atomic_int *cancel, struct engine_image *out,
					   char *err, size_t errlen)
{
	const struct builtin *b = state;
	const struct sheet_fields *f = req->fields;
	const char *prompt = f->prompt ? f->prompt : "";
	struct membuf mb;
	struct scene *sc;
	unsigned char *row;
	unsigned w, h;
	uint64_t row_h, img_h;
	int64_t seed;
	enum engine_status st;

	assert(b && req && req->image_id && f && out);
	if (b->call_log[0] && log_call(b->call_log, req->image_id, err, errlen))
		return ENGINE_FATAL;
	if (cancelled(cancel) || (b->delay_ms && delay(b->delay_ms, cancel))) {
		seterr(err, errlen, "builtin: cancelled");
		return ENGINE_CANCELLED;
	}
	if (strstr(prompt, MARK_FATAL)) {
		seterr(err, errlen, "builtin: the prompt contains the test marker " MARK_FATAL
		       ", so the engine reports itself unusable");
		return ENGINE_FATAL;
	}
	if (strstr(prompt, MARK_FAIL)) {
		seterr(err, errlen, "builtin: the prompt contains the test marker " MARK_FAIL
		       ", so this image fails on purpose");
		return ENGINE_FAIL;
	}
	if (strstr(prompt, MARK_RETRY)) {
		seterr(err, errlen, "builtin: the prompt contains the test marker " MARK_RETRY
		       ", so this attempt fails as a transient fault");
		return ENGINE_RETRY;
	}

	seed = req->seed >= 0 ? req->seed : seed_for(req->image_id);
	engine_size_for_ratio(f->aspect_ratio, b->size, &w, &h);

	row_h = fnv1a_str(FNV_OFFSET, prompt);
	row_h = fnv1a_str(row_h, f->negative_prompt);
	row_h = fnv1a_str(row_h, f->style);
	row_h = fnv1a_str(row_h, f->model);
	row_h = fnv1a_str(row_h, f->rendering);
	row_h = fnv1a_str(row_h, f->magic_prompt);
	row_h = fnv1a_str(row_h, f->aspect_ratio);
	row_h = fnv1a_str(row_h, f->color_palette);
	img_h = fnv1a_u64(fnv1a_u64(row_h, (uint64_t)seed), (uint64_t)req->index);

	sc = malloc(sizeof(*sc));
	row = malloc((size_t)w * 3);
	if (!sc || !row) {
		free(sc);
		free(row);
		seterr(err, errlen, "builtin: out of memory for a %ux%u image", w, h);
		return ENGINE_RETRY;
	}
	build_scene(sc, f, w, h, row_h, img_h, req->index);

	memset(&mb, 0, sizeof(mb));
	st = encode_png(sc, b->compression, prompt, seed, cancel, &mb, row, err, errlen);
	free(sc);
	free(row);
	if (st != ENGINE_OK) {
		free(mb.data);
		return st;
	}
	if (mb.cap - mb.len > 4096) {
		unsigned char *d = realloc(mb.data, mb.len);

		if (d)
			mb.data = d;
	}
	out->data = mb.data;
	out->len = mb.len;
	snprintf(out->mime, sizeof(out->mime), "image/png");
	snprintf(out->ext, sizeof(out->ext), "png");
	out->width = w;
	out->height = h;
	out->seed = seed;
	out->ignored[0] = '\0';
	return ENGINE_OK;
}

/* engine_ops.destroy: frees the settings copy. */
static void builtin_destroy(void *state)
{
	free(state);
}

static const struct engine_ops builtin_ops = {
	"builtin",
	builtin_generate,
	builtin_destroy,
};

/*
 * Creates the built-in engine from cfg's builtin_* settings.  Returns 0, or
 * -1 with a message in err: a size outside 8..16384, a compression level
 * outside -1..9, a call log that cannot be opened for appending, no memory.
 */
int engine_builtin_create(struct engine *e, const struct config *cfg, char *err, size_t errlen)
{
	struct builtin *b;
	int fd;

	assert(e && cfg);
	if (cfg->builtin_size < BUILTIN_MIN_SIZE || cfg->builtin_size > BUILTIN_MAX_SIZE) {
		seterr(err, errlen, "builtin.size %u is out of range; use %d to %d pixels",
		       cfg->builtin_size, BUILTIN_MIN_SIZE, BUILTIN_MAX_SIZE);
		return -1;
	}
	if (cfg->builtin_compression < -1 || cfg->builtin_compression > 9) {
		seterr(err, errlen, "builtin.compression %d is out of range; use 0 to 9",
		       cfg->builtin_compression);
		return -1;
	}
	if (memchr(cfg->builtin_call_log, '\0', sizeof(cfg->builtin_call_log)) == NULL) {
		seterr(err, errlen, "builtin.call_log is not terminated");
		return -1;
	}
	if (cfg->builtin_call_log[0]) {
		fd = open(cfg->builtin_call_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			seterr(err, errlen, "builtin.call_log: cannot open %s for appending: %s",
			       cfg->builtin_call_log, strerror(errno));
			return -1;
		}
		close(fd);
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		seterr(err, errlen, "builtin: out of memory");
		return -1;
	}
	b->delay_ms = cfg->builtin_delay_ms;
	b->size = cfg->builtin_size;
	b->compression = cfg->builtin_compression;
	memcpy(b->call_log, cfg->builtin_call_log, sizeof(b->call_log));
	e->ops = &builtin_ops;
	e->state = b;
	return 0;
}
