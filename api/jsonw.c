/*
 * jsonw.c — see jsonw.h: JSON text appended to one buffer, formatted as
 * cJSON_PrintUnformatted() formats it.
 *
 * DESIGN
 * grow() doubles the buffer and keeps one byte free for the final NUL, so
 * jsonw_finish() never reallocates.  Strings are copied in runs: the bytes
 * that need no escape go in with one memcpy up to the next one that does.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/jsonw.h"

void jsonw_init(struct jsonw *w, size_t hint)
{
	memset(w, 0, sizeof(*w));
	w->cap = hint < 64 ? 64 : hint;
	w->buf = malloc(w->cap);
	if (!w->buf) {
		w->cap = 0;
		w->failed = 1;
	}
}

/* Room for n more bytes (and the NUL); 0, or -1 with the writer failed. */
static int grow(struct jsonw *w, size_t n)
{
	size_t cap = w->cap ? w->cap : 64;
	char *p;

	if (w->failed)
		return -1;
	if (w->len + n < w->cap)
		return 0;
	while (w->len + n >= cap)
		cap *= 2;
	p = realloc(w->buf, cap);
	if (!p) {
		w->failed = 1;
		return -1;
	}
	w->buf = p;
	w->cap = cap;
	return 0;
}

static inline void put(struct jsonw *w, const char *s, size_t n)
{
	if (w->len + n >= w->cap && grow(w, n) < 0)
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

/* A string in quotes, escaped. */
static void string(struct jsonw *w, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;

	put(w, "\"", 1);
	while (*p) {
		const unsigned char *run = p;
		char esc[8];

		while (*p >= 32 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			put(w, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			put(w, esc, 6);
		}
		p++;
	}
	put(w, "\"", 1);
}

/* The comma before a member or element, then "key": when there is a key. */
static void member(struct jsonw *w, const char *key)
{
	if (w->len > 0) {
		char last = w->buf[w->len - 1];

		if (last != '{' && last != '[' && last != ':')
			put(w, ",", 1);
	}
	if (key) {
		string(w, key);
		put(w, ":", 1);
	}
}

void jsonw_object(struct jsonw *w, const char *key)
{
	member(w, key);
	put(w, "{", 1);
}

void jsonw_array(struct jsonw *w, const char *key)
{
	member(w, key);
	put(w, "[", 1);
}

void jsonw_end(struct jsonw *w, char c)
{
	put(w, &c, 1);
}

void jsonw_str(struct jsonw *w, const char *key, const char *v)
{
	if (!v) {
		jsonw_null(w, key);
		return;
	}
	member(w, key);
	string(w, v);
}

void jsonw_int(struct jsonw *w, const char *key, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	member(w, key);
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void jsonw_num(struct jsonw *w, const char *key, double v)
{
	char buf[32];
	int vi, n;
	double back = 0;

	member(w, key);
	if (isnan(v) || isinf(v)) {
		put(w, "null", 4);
		return;
	}
	/* cJSON's valueint: the double saturated to int */
	vi = v >= INT_MAX ? INT_MAX : v <= (double)INT_MIN ? INT_MIN : (int)v;
	if (v == (double)vi) {
		n = snprintf(buf, sizeof(buf), "%d", vi);
	} else {
		n = snprintf(buf, sizeof(buf), "%1.15g", v);
		if (sscanf(buf, "%lg", &back) != 1 ||
		    fabs(back - v) > (fabs(back) > fabs(v) ? fabs(back) : fabs(v)) * DBL_EPSILON)
			n = snprintf(buf, sizeof(buf), "%1.17g", v);
	}
	put(w, buf, (size_t)n);
}

void jsonw_null(struct jsonw *w, const char *key)
{
	member(w, key);
	put(w, "null", 4);
}

void jsonw_raw(struct jsonw *w, const char *key, const char *json)
{
	member(w, key);
	put(w, json, strlen(json));
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
	char *text = w->buf;

	if (w->failed || !text) {
		free(w->buf);
		memset(w, 0, sizeof(*w));
		return NULL;
	}
	text[w->len] = '\0';
	if (len)
		*len = w->len;
	memset(w, 0, sizeof(*w));
	return text;
}
