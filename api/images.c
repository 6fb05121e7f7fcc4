/*
 * images.c — /v1/images: the Creations.  The list (mine or public), one
 * image's metadata, and its file.
 *
 * DESIGN
 * An image is shown to its owner, to the admin, and — when its row's
 * visibility is public — to every signed-in account; to anyone else it does
 * not exist (404), and the same rule covers its file and its thumbnail.
 * Files are immutable once done, so the file answer carries a strong ETag
 * (the image's id and CRC) and a year of caching, and is sent from the file
 * descriptor without copying it into memory.
 *
 * Thumbnails (long side at most 256 px, always PNG) are made on the first
 * request from the image's file (thumb.h) and cached next to it as
 * <image>.thumb.png: written to a temporary name of its own (two requests
 * racing each write their own), fsynced and renamed durably, so a reader
 * only ever finds a whole thumbnail.  A thumbnail that cannot be cached is
 * still served.  They go with their batch's directory when it is deleted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/thumb.h"
#include "daemon/util.h"

#define THUMB_SIDE 256
#define THUMB_SOURCE_MAX (256u * 1024 * 1024)

static cJSON *image_json(const struct store_image *img)
{
	cJSON *o = cJSON_CreateObject();
	char url[96];

	cJSON_AddStringToObject(o, "id", img->id);
	cJSON_AddStringToObject(o, "batch_id", img->batch_id);
	api_add_int(o, "row", img->row);
	api_add_int(o, "index", img->idx);
	cJSON_AddStringToObject(o, "state", img->state);
	cJSON_AddItemToObject(o, "fields", api_fields_json(&img->f));
	cJSON_AddStringToObject(o, "visibility", img->f.visibility);
	if (img->seed >= 0)
		api_add_int(o, "seed", img->seed);
	else
		cJSON_AddNullToObject(o, "seed");
	api_add_int(o, "width", img->width);
	api_add_int(o, "height", img->height);
	cJSON_AddStringToObject(o, "engine", img->engine);
	if (img->mime[0])
		cJSON_AddStringToObject(o, "mime", img->mime);
	if (img->ignored)
		cJSON_AddStringToObject(o, "ignored", img->ignored);
	if (img->error)
		cJSON_AddStringToObject(o, "error", img->error);
	cJSON_AddItemToObject(o, "created_at", api_time(img->created_at));
	if (strcmp(img->state, "done") == 0) {
		snprintf(url, sizeof(url), "/v1/images/%s/file", img->id);
		cJSON_AddStringToObject(o, "url", url);
		snprintf(url, sizeof(url), "/v1/images/%s/thumbnail", img->id);
		cJSON_AddStringToObject(o, "thumbnail_url", url);
	}
	return o;
}

struct one_ctx {
	const struct kiln *k;
	const struct store_account *caller;
	int visible;
	int done;
	cJSON *json;
	char path[1500];
	char thumb[1500];
	char dir[1200];
	char id[33];
	char mime[32];
	char etag[64];
	char thumb_etag[64];
};

/* store_image_get()'s callback: keeps what the answer needs if the caller may see it. */
static int one_image(void *cls, const struct store_image *img)
{
	struct one_ctx *c = cls;

	c->visible = c->caller->is_admin || strcmp(img->account_id, c->caller->id) == 0 ||
		     strcmp(img->f.visibility, "public") == 0;
	if (!c->visible)
		return 0;
	c->json = image_json(img);
	c->done = strcmp(img->state, "done") == 0;
	snprintf(c->mime, sizeof(c->mime), "%s", img->mime[0] ? img->mime : "image/png");
	snprintf(c->etag, sizeof(c->etag), "\"%s-%08x\"", img->id, (unsigned)img->crc32);
	snprintf(c->thumb_etag, sizeof(c->thumb_etag), "\"%s-%08x-t256\"", img->id,
		 (unsigned)img->crc32);
	snprintf(c->id, sizeof(c->id), "%s", img->id);
	if (c->done && (kiln_image_path(c->k, img->batch_id, img->id, img->ext, c->path,
					sizeof(c->path)) < 0 ||
			kiln_thumb_path(c->k, img->batch_id, img->id, c->thumb, sizeof(c->thumb)) < 0 ||
			kiln_batch_dir(c->k, img->batch_id, c->dir, sizeof(c->dir)) < 0))
		c->done = 0;
	return 0;
}

/* Looks the path's image up for the caller; STORE_NOT_FOUND when it may not see it. */
static int find(struct api_request *req, struct one_ctx *c)
{
	const char *id = req->params[0];
	int rc;

	memset(c, 0, sizeof(*c));
	c->k = req->k;
	c->caller = &req->account;
	if (!util_is_hex(id, 24))
		return STORE_NOT_FOUND;
	if (!api_store(req))
		return STORE_ERROR;
	rc = store_image_get(req->st, NULL, id, one_image, c);
	if (rc == STORE_OK && !c->visible)
		rc = STORE_NOT_FOUND;
	if (rc != STORE_OK) {
		cJSON_Delete(c->json);
		c->json = NULL;
	}
	return rc;
}

enum MHD_Result api_images_get(struct api_request *req)
{
	struct one_ctx c;
	int rc = find(req, &c);

	if (rc == STORE_NOT_FOUND)
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such image", NULL);
	if (rc != STORE_OK)
		return api_internal(req);
	return api_reply_json(req, MHD_HTTP_OK, c.json);
}

/* 304 when the client has this ETag already; 0 (nothing queued) otherwise. */
static int not_modified(struct api_request *req, const char *etag, enum MHD_Result *ret)
{
	const char *inm = api_header(req, MHD_HTTP_HEADER_IF_NONE_MATCH);
	struct MHD_Response *resp;

	if (!inm || !strstr(inm, etag))
		return 0;
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		*ret = MHD_NO;
		return 1;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	*ret = api_queue(req, MHD_HTTP_NOT_MODIFIED, resp);
	return 1;
}

/* Adds the headers of an immutable image answer and queues it. */
static enum MHD_Result reply_image(struct api_request *req, struct MHD_Response *resp,
				   const char *mime, const char *etag)
{
	if (!resp)
		return api_internal(req);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, mime);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"private, max-age=31536000, immutable");
	return api_queue(req, MHD_HTTP_OK, resp);
}

/*
 * Finds the path's image for the caller and makes sure it is made: 0, or -1
 * with the answer (404, 500) queued in *ret.
 */
static int find_done(struct api_request *req, struct one_ctx *c, enum MHD_Result *ret)
{
	int rc = find(req, c);

	cJSON_Delete(c->json);
	c->json = NULL;
	if (rc == STORE_NOT_FOUND)
		*ret = api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such image", NULL);
	else if (rc != STORE_OK)
		*ret = api_internal(req);
	else if (!c->done)
		*ret = api_error(req, MHD_HTTP_NOT_FOUND, "not_found",
				 "this image is not made yet; its row's state says when it is", NULL);
	else
		return 0;
	return -1;
}

enum MHD_Result api_images_file(struct api_request *req)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct one_ctx c;
	struct stat sb;
	int fd;

	if (find_done(req, &c, &ret) < 0 || not_modified(req, c.etag, &ret))
		return ret;
	fd = open(c.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		if (fd >= 0)
			close(fd);
		return api_internal(req);
	}
	resp = MHD_create_response_from_fd64((uint64_t)sb.st_size, fd);
	if (!resp)
		close(fd);
	return reply_image(req, resp, c.mime, c.etag);
}

/* Caches a thumbnail under its own temporary name, durably; failures are only logged. */
static void thumb_store(const struct one_ctx *c, const unsigned char *png, size_t len)
{
	char tmp[1600], rnd[17];

	if (util_random_hex(rnd, 8) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.thumb.%s.tmp", c->dir, c->id, rnd) >= (int)sizeof(tmp))
		return;
	if (util_write_synced(tmp, png, len, 0640) < 0) {
		log_warn("thumbnail of %s not cached: %s", c->id, strerror(errno));
		return;
	}
	if (util_rename_durable(tmp, c->thumb, c->dir) < 0) {
		log_warn("thumbnail of %s not cached: %s", c->id, strerror(errno));
		unlink(tmp);
	}
}

enum MHD_Result api_images_thumbnail(struct api_request *req)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	struct one_ctx c;
	unsigned char *png;
	size_t png_len, len;
	unsigned w, h;
	char *data, err[256];
	struct stat sb;
	int rc, fd;

	if (find_done(req, &c, &ret) < 0 || not_modified(req, c.thumb_etag, &ret))
		return ret;
	fd = open(c.thumb, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
			resp = MHD_create_response_from_fd64((uint64_t)sb.st_size, fd);
			if (resp)
				return reply_image(req, resp, "image/png", c.thumb_etag);
		}
		close(fd);
	}
	if (util_read_file(c.path, THUMB_SOURCE_MAX, &data, &len) < 0) {
		log_error("thumbnail of %s: cannot read %s: %s", c.id, c.path, strerror(errno));
		return api_internal(req);
	}
	rc = thumb_make((const unsigned char *)data, len, THUMB_SIDE, &png, &png_len, &w, &h,
			err, sizeof(err));
	free(data);
	if (rc < 0) {
		log_error("thumbnail of %s: %s", c.id, err);
		return api_internal(req);
	}
	thumb_store(&c, png, png_len);
	resp = MHD_create_response_from_buffer(png_len, png, MHD_RESPMEM_MUST_FREE);
	if (!resp)
		free(png);
	return reply_image(req, resp, "image/png", c.thumb_etag);
}

struct list_ctx {
	cJSON *arr;
	int64_t last_seq;
};

static int list_one(void *cls, const struct store_image *img)
{
	struct list_ctx *c = cls;

	cJSON_AddItemToArray(c->arr, image_json(img));
	c->last_seq = img->seq;
	return 0;
}

enum MHD_Result api_images_list(struct api_request *req)
{
	const char *scope = api_arg(req, "scope");
	const char *cur = api_arg(req, "cursor");
	struct list_ctx c;
	cJSON *root;
	unsigned limit;
	long long cursor = 0;
	char next[32], *end;
	int more = 0, pub;

	if (scope && strcmp(scope, "mine") != 0 && strcmp(scope, "public") != 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "scope must be mine or public", NULL);
	pub = scope && strcmp(scope, "public") == 0;
	if (api_limit(req, &limit) < 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "limit must be a whole number from 1 to 500", NULL);
	if (cur) {
		cursor = strtoll(cur, &end, 10);
		if (*cur == '\0' || *end || cursor < 0)
			return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
					 "cursor must be a next_cursor value from an earlier answer", NULL);
	}
	if (!api_store(req))
		return api_internal(req);
	root = cJSON_CreateObject();
	c.arr = cJSON_AddArrayToObject(root, "images");
	c.last_seq = 0;
	if (store_images_list(req->st, pub ? NULL : req->account.id, cursor, limit, list_one, &c,
			      &more) != STORE_OK) {
		cJSON_Delete(root);
		return api_internal(req);
	}
	if (more) {
		snprintf(next, sizeof(next), "%lld", (long long)c.last_seq);
		cJSON_AddStringToObject(root, "next_cursor", next);
	} else {
		cJSON_AddNullToObject(root, "next_cursor");
	}
	return api_reply_json(req, MHD_HTTP_OK, root);
}
