/*
 * archive.c — GET /v1/batches/{id}/archive: a zip of every image finished so
 * far, in any state of the batch, plus manifest.csv.
 *
 * DESIGN
 * The handler reads the batch's images from the store once (a few hundred
 * bytes each), writes manifest.csv into memory, and hands both to a
 * zipstream (zipstream.h) behind libmicrohttpd's content-reader callback:
 * the archive is produced 32 KiB at a time as the client reads it, file
 * bytes straight from disk, never whole in memory.  Entry names sort in row
 * order: row-0002-1.png is row 2's first image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/zipstream.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/util.h"

struct archive_item {
	char name[48];
	char path[1500];
	int64_t bytes;
	uint32_t crc32;
	int64_t mtime_ms;
};

struct archive {
	struct kiln *k;
	struct archive_item *items;
	size_t n, cap, next;
	char *manifest;
	size_t mlen, mcap;
	int manifest_sent;
	int failed;
	struct zipstream *z;
};

/* Appends text to the manifest. */
static void man_put(struct archive *a, const char *s, size_t len)
{
	if (a->failed)
		return;
	if (a->mlen + len + 1 > a->mcap) {
		size_t cap = a->mcap ? a->mcap * 2 : 8192;
		char *nm;

		while (cap < a->mlen + len + 1)
			cap *= 2;
		nm = realloc(a->manifest, cap);
		if (!nm) {
			a->failed = 1;
			return;
		}
		a->manifest = nm;
		a->mcap = cap;
	}
	memcpy(a->manifest + a->mlen, s, len);
	a->mlen += len;
}

/* Appends one CSV field (quoted when it needs to be, RFC 4180), then sep. */
static void man_field(struct archive *a, const char *v, char sep)
{
	if (!v)
		v = "";
	if (strpbrk(v, ",\"\r\n")) {
		man_put(a, "\"", 1);
		for (const char *p = v; *p; p++) {
			if (*p == '"')
				man_put(a, "\"", 1);
			man_put(a, p, 1);
		}
		man_put(a, "\"", 1);
	} else {
		man_put(a, v, strlen(v));
	}
	man_put(a, &sep, 1);
}

static void man_num(struct archive *a, long long v, char sep)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	man_field(a, buf, sep);
}

static int collect(void *cls, const struct store_image *img)
{
	struct archive *a = cls;
	const struct sheet_fields *f = &img->f;
	char name[48] = "";
	int done = strcmp(img->state, "done") == 0;

	if (done) {
		struct archive_item *it;

		if (a->n == a->cap) {
			size_t cap = a->cap ? a->cap * 2 : 64;
			struct archive_item *ni = realloc(a->items, cap * sizeof(*ni));

			if (!ni) {
				a->failed = 1;
				return -1;
			}
			a->items = ni;
			a->cap = cap;
		}
		it = &a->items[a->n];
		snprintf(name, sizeof(name), "row-%04u-%u.%s", img->row, img->idx,
			 img->ext[0] ? img->ext : "png");
		memcpy(it->name, name, sizeof(it->name));
		if (kiln_image_path(a->k, img->batch_id, img->id, img->ext, it->path,
				    sizeof(it->path)) < 0)
			return -1;
		it->bytes = img->bytes;
		it->crc32 = img->crc32;
		it->mtime_ms = img->created_at;
		a->n++;
	}
	man_num(a, img->row, ',');
	man_num(a, img->idx, ',');
	man_field(a, name, ',');
	man_field(a, f->prompt, ',');
	man_field(a, f->visibility, ',');
	man_field(a, f->aspect_ratio, ',');
	man_field(a, f->magic_prompt, ',');
	man_field(a, f->model, ',');
	if (f->seed >= 0)
		man_num(a, f->seed, ',');
	else
		man_field(a, "", ',');
	man_field(a, f->rendering, ',');
	man_field(a, f->negative_prompt, ',');
	man_field(a, f->style, ',');
	man_field(a, f->color_palette, ',');
	man_num(a, f->num_images, ',');
	if (done && img->seed >= 0)
		man_num(a, img->seed, ',');
	else
		man_field(a, "", ',');
	if (done) {
		man_num(a, img->width, ',');
		man_num(a, img->height, ',');
	} else {
		man_field(a, "", ',');
		man_field(a, "", ',');
	}
	man_field(a, img->engine, ',');
	man_field(a, img->state, ',');
	man_field(a, img->ignored, ',');
	man_field(a, img->error, '\r');
	man_put(a, "\n", 1);
	return a->failed ? -1 : 0;
}

static int next_entry(void *cls, struct zipstream_entry *e)
{
	struct archive *a = cls;

	memset(e, 0, sizeof(*e));
	if (!a->manifest_sent) {
		a->manifest_sent = 1;
		snprintf(e->name, sizeof(e->name), "manifest.csv");
		e->data = (const unsigned char *)a->manifest;
		e->size = a->mlen;
		e->mtime = time(NULL);
		return 1;
	}
	if (a->next >= a->n)
		return 0;
	snprintf(e->name, sizeof(e->name), "%s", a->items[a->next].name);
	e->path = a->items[a->next].path;
	e->size = (uint64_t)a->items[a->next].bytes;
	e->crc32 = a->items[a->next].crc32;
	e->has_crc = 1;
	e->mtime = (time_t)(a->items[a->next].mtime_ms / 1000);
	a->next++;
	return 1;
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct archive *a = cls;
	ssize_t n;

	(void)pos;
	n = zipstream_read(a->z, buf, max);
	if (n > 0)
		return n;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	log_error("archive: %s", zipstream_error(a->z));
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void archive_free(void *cls)
{
	struct archive *a = cls;

	zipstream_free(a->z);
	free(a->items);
	free(a->manifest);
	free(a);
}

/*
 * Content-Disposition for the batch's name with its spreadsheet extension
 * replaced by .zip: an ASCII filename= and the exact UTF-8 one in filename*=.
 */
static void disposition(const char *name, char *out, size_t len)
{
	char base[256], ascii[256], enc[800];
	static const char hex[] = "0123456789ABCDEF";
	char *dot;
	size_t ai = 0, ei = 0;

	snprintf(base, sizeof(base), "%s", name && *name ? name : "batch");
	dot = strrchr(base, '.');
	if (dot && (strcasecmp(dot, ".csv") == 0 || strcasecmp(dot, ".xlsx") == 0 ||
		    strcasecmp(dot, ".xls") == 0 || strcasecmp(dot, ".ods") == 0 ||
		    strcasecmp(dot, ".xlsm") == 0 || strcasecmp(dot, ".txt") == 0 ||
		    strcasecmp(dot, ".tsv") == 0))
		*dot = '\0';
	for (const unsigned char *p = (const unsigned char *)base; *p; p++) {
		int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';

		if (ai + 1 < sizeof(ascii))
			ascii[ai++] = *p < 0x80 && *p >= 0x20 && *p != '"' && *p != '\\' ? (char)*p : '_';
		if (ei + 4 < sizeof(enc)) {
			if (plain) {
				enc[ei++] = (char)*p;
			} else {
				enc[ei++] = '%';
				enc[ei++] = hex[*p >> 4];
				enc[ei++] = hex[*p & 15];
			}
		}
	}
	ascii[ai] = '\0';
	enc[ei] = '\0';
	snprintf(out, len, "attachment; filename=\"%s.zip\"; filename*=UTF-8''%s.zip",
		 ai ? ascii : "batch", ei ? enc : "batch");
}

static const char manifest_header[] =
	"row,index,file,prompt,visibility,aspect_ratio,magic_prompt,model,seed_number,"
	"rendering,negative_prompt,style,color_palette,num_images,seed,width,height,engine,"
	"status,ignored,error\r\n";

enum MHD_Result api_archive_get(struct api_request *req)
{
	const char *id = req->params[0];
	struct store_batch b;
	struct MHD_Response *resp;
	struct archive *a;
	char cd[1200];
	int rc;

	if (!util_is_hex(id, 24))
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such batch", NULL);
	if (!api_store(req))
		return api_internal(req);
	rc = store_batch_get(req->st, req->account.id, id, &b);
	if (rc == STORE_NOT_FOUND)
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such batch", NULL);
	if (rc != STORE_OK)
		return api_internal(req);
	a = calloc(1, sizeof(*a));
	if (!a) {
		store_batch_free(&b);
		return api_internal(req);
	}
	a->k = req->k;
	man_put(a, manifest_header, sizeof(manifest_header) - 1);
	if (store_images_of_batch(req->st, b.seq, collect, a) != STORE_OK || a->failed) {
		store_batch_free(&b);
		archive_free(a);
		return api_internal(req);
	}
	a->z = zipstream_new(next_entry, a);
	if (!a->z) {
		store_batch_free(&b);
		archive_free(a);
		return api_internal(req);
	}
	disposition(b.name, cd, sizeof(cd));
	store_batch_free(&b);
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, a, archive_free);
	if (!resp) {
		archive_free(a);
		return api_internal(req);
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/zip");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return api_queue(req, MHD_HTTP_OK, resp);
}
