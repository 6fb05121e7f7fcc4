/*
 * jsonw.h — JSON text written straight into one growing buffer, for the
 * answers kilnd builds on every request (the batch object).
 *
 * DESIGN
 * cJSON builds a tree first: an allocation per value and per key, a print
 * that walks it, then a free of every node — for GET /v1/batches/{id}
 * that was about a third of the instructions of a request.  A writer
 * appends each member as it comes: one buffer (grown by doubling), no tree.
 * Its text is byte for byte what cJSON_PrintUnformatted() gives for the
 * same members (same escapes, same number formats; tests/unit/test_jsonw.c
 * compares them), so a route can move from cJSON to it without a client
 * seeing a difference, and a cJSON tree can take a writer's text as a raw
 * item (cJSON_CreateRaw()).
 *
 * Separators are the writer's business: before a key or a value it writes a
 * comma unless the last byte is '{', '[' or ':' (or the text is empty).
 * Every function takes the member's key, or NULL for an array element or
 * the top-level value.  An allocation failure is remembered and makes
 * jsonw_finish() return NULL; the other calls need no checks.
 */
#ifndef KILN_JSONW_H
#define KILN_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct jsonw {
	char *buf;
	size_t len, cap;
	int failed;              /* an allocation failed */
};

/* Starts an empty text with room for about hint bytes. */
void jsonw_init(struct jsonw *w, size_t hint);

/* Opens an object ({) or array ([); jsonw_end() closes it with c, '}' or ']'. */
void jsonw_object(struct jsonw *w, const char *key);
void jsonw_array(struct jsonw *w, const char *key);
void jsonw_end(struct jsonw *w, char c);

/* A string (escaped as cJSON does: \" \\ \b \f \n \r \t, \u00XX below 0x20); NULL: null. */
void jsonw_str(struct jsonw *w, const char *key, const char *v);
void jsonw_int(struct jsonw *w, const char *key, int64_t v);
/* A number as cJSON prints a double: whole values in int range as digits, else %1.15g or %1.17g. */
void jsonw_num(struct jsonw *w, const char *key, double v);
void jsonw_null(struct jsonw *w, const char *key);
/* Text that is JSON already, copied as it is. */
void jsonw_raw(struct jsonw *w, const char *key, const char *json);

/*
 * The text, NUL-terminated, for the caller to free(), and its length in *len
 * (may be NULL); NULL when an allocation failed (the buffer is freed).
 */
char *jsonw_finish(struct jsonw *w, size_t *len);

#endif
