/*
 * batches.c — /v1/batches: upload, replace, start, stop, resume, list, one
 * batch, its rows, delete.
 *
 * DESIGN
 * An upload is read and validated completely before anything is stored:
 * sheet_read() → sheet_validate() → store_batch_create(), so a file with
 * problems stores nothing and gets every problem back at once (422, with
 * row, column, cell, value, message and hint each).  State changes are one
 * store call each; the scheduler is told afterwards (sched_wake() after a
 * start or resume, sched_cancel_batch() after a stop).  Every lookup is by
 * the caller's account, so another account's batch is simply not found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/jsonw.h"
#include "daemon/kiln.h"
#include "daemon/sched.h"
#include "daemon/util.h"
#include "daemon/webhook.h"

static const char *const batch_states[] = {
	"draft", "queued", "running", "stopping", "stopped", "completed", "failed"
};

/* A time as api_time() gives it: RFC 3339 UTC, or null when never (0). */
static void write_time(struct jsonw *w, const char *key, int64_t ms)
{
	char buf[32];

	if (ms <= 0) {
		jsonw_null(w, key);
		return;
	}
	util_time_rfc3339(ms, buf, sizeof(buf));
	jsonw_str(w, key, buf);
}

/*
 * The batch object of api.md as text (for the caller to free), written
 * with jsonw (no cJSON tree: this is what every GET /v1/batches/{id}
 * builds); credits_available < 0 leaves that member out.  NULL when out of
 * memory.
 */
static char *batch_text(const struct store_batch *b, int64_t credits_available, int64_t now,
			size_t *len)
{
	struct jsonw w;
	unsigned settled = b->images_done + b->images_failed;
	double progress = b->images_total ? (double)settled / b->images_total : 0.0;

	jsonw_init(&w, 1024);
	jsonw_object(&w, NULL);
	jsonw_str(&w, "id", b->id);
	jsonw_str(&w, "name", b->name ? b->name : "");
	jsonw_str(&w, "state", b->state);
	write_time(&w, "created_at", b->created_at);
	write_time(&w, "started_at", b->started_at);
	write_time(&w, "finished_at", b->finished_at);
	jsonw_int(&w, "rows", b->rows);
	jsonw_int(&w, "images_total", b->images_total);
	jsonw_int(&w, "images_done", b->images_done);
	jsonw_int(&w, "images_failed", b->images_failed);
	jsonw_int(&w, "images_running", b->images_running);
	jsonw_num(&w, "progress", (double)(int64_t)(progress * 10000 + 0.5) / 10000);
	if (strcmp(b->state, "completed") == 0) {
		jsonw_int(&w, "eta_seconds", 0);
	} else if ((strcmp(b->state, "running") == 0 || strcmp(b->state, "queued") == 0) &&
		   b->run_started_at > 0 && settled > b->run_done_base && now > b->run_started_at) {
		double per = (double)(now - b->run_started_at) / (settled - b->run_done_base);

		jsonw_int(&w, "eta_seconds", (int64_t)(per * (b->images_total - settled) / 1000.0 + 0.5));
	} else {
		jsonw_null(&w, "eta_seconds");
	}
	jsonw_int(&w, "credits_required", b->credits_required);
	jsonw_int(&w, "credits_charged", b->credits_charged);
	jsonw_int(&w, "credits_reserved", b->credits_reserved);
	jsonw_str(&w, "engine", b->engine);
	jsonw_str(&w, "format", b->format);
	if (b->preview_row) {
		jsonw_object(&w, "preview");
		jsonw_int(&w, "row", b->preview_row);
		api_fields_write(&w, "fields", &b->preview);
		jsonw_end(&w, '}');
	} else {
		jsonw_null(&w, "preview");
	}
	if (!b->warnings || strcmp(b->warnings, "[]") == 0) {
		jsonw_raw(&w, "warnings", "[]");
	} else {
		/* stored by kilnd as cJSON printed them; parsed again so bad text never gets out */
		cJSON *warnings = cJSON_Parse(b->warnings);
		char *text = warnings ? cJSON_PrintUnformatted(warnings) : NULL;

		jsonw_raw(&w, "warnings", text ? text : "[]");
		free(text);
		cJSON_Delete(warnings);
	}
	if (b->error)
		jsonw_str(&w, "error", b->error);
	if (b->webhook_url)
		jsonw_str(&w, "webhook_url", b->webhook_url);
	if (credits_available >= 0)
		jsonw_int(&w, "credits_available", credits_available);
	jsonw_end(&w, '}');
	return jsonw_finish(&w, len);
}

/* The caller's credits now (re-read after a change), or -1. */
static int64_t available_now(struct api_request *req)
{
	struct store_account a;

	if (store_account_get(api_store(req), req->account.id, &a) != STORE_OK)
		return -1;
	return a.available;
}

/* Answers with one batch and the caller's credits. */
static enum MHD_Result reply_batch(struct api_request *req, unsigned status,
				   const struct store_batch *b)
{
	size_t len;
	char *text = batch_text(b, available_now(req), util_now_ms(), &len);

	return api_reply_json_text(req, status, text, len);
}

/* One problem or warning as a "details" entry. */
static cJSON *msg_json(const struct sheet_msg *m)
{
	cJSON *o = cJSON_CreateObject();

	if (m->row)
		api_add_int(o, "row", m->row);
	if (m->column)
		cJSON_AddStringToObject(o, "column", m->column);
	if (m->cell)
		cJSON_AddStringToObject(o, "cell", m->cell);
	if (m->value)
		cJSON_AddStringToObject(o, "value", m->value);
	cJSON_AddStringToObject(o, "message", m->message ? m->message : "");
	if (m->hint)
		cJSON_AddStringToObject(o, "hint", m->hint);
	return o;
}

static cJSON *msgs_json(const struct sheet_msgs *ms)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < ms->n; i++)
		cJSON_AddItemToArray(a, msg_json(&ms->v[i]));
	return a;
}

/*
 * The batch's name: the multipart file name, else ?name=, else "batch.csv";
 * reduced to its last path component, without control characters or bytes
 * that are not UTF-8, at most 200 bytes (cut on a UTF-8 boundary).
 */
static void upload_name(struct api_request *req, char *out, size_t len)
{
	const char *n = req->file_name ? req->file_name : api_arg(req, "name");
	const char *slash;
	size_t o = 0;

	if (!n || !*n)
		n = "batch.csv";
	slash = strrchr(n, '/');
	if (slash && slash[1])
		n = slash + 1;
	slash = strrchr(n, '\\');
	if (slash && slash[1])
		n = slash + 1;
	for (size_t left = strlen(n); *n && o + 1 < len && o < 200; n++, left--) {
		unsigned char c = (unsigned char)*n;
		size_t seq = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;

		if (c < 0x20 || c == 0x7f)
			continue;
		if (c >= 0x80 && (seq > left || sheet_utf8_valid((const unsigned char *)n, seq) != seq))
			continue;          /* not UTF-8: dropped, so the name is valid JSON text */
		for (size_t i = 0; i < seq && o + 1 < len && o < 200; i++)
			out[o++] = n[i];
		n += seq - 1;
		left -= seq - 1;
	}
	while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
		o--;
	if (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
		o--;
	out[o] = '\0';
	if (o == 0)
		snprintf(out, len, "batch.csv");
}

/* What to tell a client whose upload has no bytes. */
static const char *empty_upload(const struct api_request *req)
{
	if (!req->pp)
		return "the upload is empty: send the spreadsheet as the body, or as a multipart"
		       " part named \"file\"";
	if (!req->file_name && !req->body)
		return "the form has no file: send the spreadsheet in a part named \"file\"";
	return "the uploaded file is empty: save the spreadsheet and choose it again";
}

/* Upload and replace: read, validate, store. replace_id NULL for a new batch. */
static enum MHD_Result upload(struct api_request *req, const char *replace_id)
{
	struct kiln *k = req->k;
	struct sheet_grid grid;
	struct sheet_batch sb;
	struct store_upload up;
	struct store_batch b;
	enum sheet_status ss;
	char err[512], name[256], msg[800];
	const char *key = api_header(req, "Idempotency-Key");
	enum MHD_Result ret;
	int64_t *costs;
	char *warnings;
	int rc, nerr;

	if (replace_id && !util_is_hex(replace_id, 24))
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such batch", NULL);
	if (!req->body || req->body_len == 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", empty_upload(req), NULL);
	if (key && (strlen(key) == 0 || strlen(key) > 200))
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "Idempotency-Key must be 1 to 200 characters", NULL);
	upload_name(req, name, sizeof(name));
	ss = sheet_read((const unsigned char *)req->body, req->body_len, &k->limits, &grid,
			err, sizeof(err));
	if (ss != SHEET_OK) {
		sheet_grid_free(&grid);
		if (ss == SHEET_UNSUPPORTED)
			return api_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
					 err, NULL);
		if (ss == SHEET_NOMEM)
			return api_internal(req);
		snprintf(msg, sizeof(msg), "%s: %s", name, err);
		return api_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_spreadsheet", msg, NULL);
	}
	nerr = sheet_validate(&grid, &k->limits, &sb);
	sheet_grid_free(&grid);
	if (nerr < 0) {
		sheet_batch_free(&sb);
		return api_internal(req);
	}
	if (nerr > 0) {
		snprintf(msg, sizeof(msg), "%d problem%s in %s: fix %s and upload the file again",
			 nerr, nerr == 1 ? "" : "s", name, nerr == 1 ? "it" : "them");
		ret = api_error(req, MHD_HTTP_UNPROCESSABLE_CONTENT, "invalid_spreadsheet", msg,
				msgs_json(&sb.errors));
		sheet_batch_free(&sb);
		return ret;
	}
	{
		cJSON *w = msgs_json(&sb.warnings);

		warnings = cJSON_PrintUnformatted(w);
		cJSON_Delete(w);
	}
	memset(&up, 0, sizeof(up));
	up.account_id = req->account.id;
	up.name = name;
	up.format = sheet_format_name(sheet_sniff((const unsigned char *)req->body, req->body_len, NULL));
	up.engine = k->engine.ops->name;
	up.cost_per_image = k->cfg.credits_per_image;
	costs = calloc(sb.nrows ? sb.nrows : 1, sizeof(*costs));
	if (!costs) {
		free(warnings);
		sheet_batch_free(&sb);
		return api_internal(req);
	}
	for (size_t i = 0; i < sb.nrows; i++)
		costs[i] = config_image_cost(&k->cfg, sb.rows[i].f.model, sb.rows[i].f.rendering);
	up.row_costs = costs;
	up.sheet = &sb;
	up.warnings = warnings;
	up.idempotency_key = replace_id ? NULL : key;
	if (kiln_disk_short(k, req->body_len, msg, sizeof(msg))) {
		free(costs);
		free(warnings);
		sheet_batch_free(&sb);
		return api_disk_full(req, msg);
	}
	if (!api_store(req)) {
		free(costs);
		free(warnings);
		sheet_batch_free(&sb);
		return api_internal(req);
	}
	if (replace_id)
		rc = store_batch_replace(req->st, replace_id, &up, &b);
	else
		rc = store_batch_create(req->st, &up, &b);
	free(costs);
	free(warnings);
	sheet_batch_free(&sb);
	switch (rc) {
	case STORE_OK:
		ret = reply_batch(req, replace_id ? MHD_HTTP_OK : MHD_HTTP_CREATED, &b);
		break;
	case STORE_EXISTS:
		ret = reply_batch(req, MHD_HTTP_CREATED, &b);
		break;
	case STORE_NOT_FOUND:
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such batch", NULL);
	case STORE_CONFLICT:
		return api_error(req, MHD_HTTP_CONFLICT, "invalid_state",
				 "only a draft's spreadsheet can be replaced; upload a new batch instead",
				 NULL);
	default:
		return api_internal(req);
	}
	store_batch_free(&b);
	return ret;
}

enum MHD_Result api_batches_upload(struct api_request *req)
{
	return upload(req, NULL);
}

enum MHD_Result api_batches_replace(struct api_request *req)
{
	return upload(req, req->params[0]);
}

/* The batch id of the path, or NULL when it cannot be one of ours. */
static const char *path_id(struct api_request *req)
{
	return util_is_hex(req->params[0], 24) ? req->params[0] : NULL;
}

static enum MHD_Result not_found(struct api_request *req)
{
	return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such batch", NULL);
}

/* 409 for a change the batch's state does not allow. */
static enum MHD_Result wrong_state(struct api_request *req, const struct store_batch *b,
				   const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "a %s batch cannot be %s", b->state, what);
	return api_error(req, MHD_HTTP_CONFLICT, "invalid_state", msg, NULL);
}

/* 402 with what was needed and what there is. */
static enum MHD_Result no_credits(struct api_request *req, int64_t required, int64_t available)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	char msg[256];

	snprintf(msg, sizeof(msg), "this batch needs %lld credits and the account has %lld;"
		 " ask the admin for credits or remove rows", (long long)required, (long long)available);
	cJSON_AddStringToObject(err, "code", "insufficient_credits");
	cJSON_AddStringToObject(err, "message", msg);
	cJSON_AddNumberToObject(err, "required", (double)required);
	cJSON_AddNumberToObject(err, "available", (double)available);
	return api_reply_json(req, MHD_HTTP_PAYMENT_REQUIRED, root);
}

/* 429 for a start or resume past a per-account limit. */
static enum MHD_Result over_limit(struct api_request *req, const struct store_limits *lim)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *err = cJSON_AddObjectToObject(root, "error");
	int batches = lim->hit == STORE_LIMIT_BATCHES;
	unsigned max = batches ? lim->max_active_batches : lim->max_queued_images;
	char msg[300];

	if (batches)
		snprintf(msg, sizeof(msg), "this account may have at most %u batches queued or running"
			 " at once (max_active_batches); start this one when another finishes, or stop"
			 " one", max);
	else
		snprintf(msg, sizeof(msg), "this account may have at most %u images waiting at once"
			 " (max_queued_images) and this batch would make it %lld; start it when others"
			 " have finished", max, (long long)lim->current);
	cJSON_AddStringToObject(err, "code", "rate_limited");
	cJSON_AddStringToObject(err, "message", msg);
	cJSON_AddStringToObject(err, "limit", batches ? "max_active_batches" : "max_queued_images");
	cJSON_AddNumberToObject(err, "max", max);
	cJSON_AddNumberToObject(err, "would_be", (double)lim->current);
	return api_reply_json(req, MHD_HTTP_TOO_MANY_REQUESTS, root);
}

/* Reads {"webhook_url": "http(s)://…"} from a start body; -1 with the 400 queued. */
static int webhook_arg(struct api_request *req, char **url, enum MHD_Result *ret)
{
	cJSON *root, *w;

	*url = NULL;
	if (!req->body || req->body_len == 0)
		return 0;
	root = api_json_object(req->body, req->body_len);
	if (!root) {
		*ret = api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "the body must be a JSON object, e.g. {\"webhook_url\": \"https://…\"}",
				 NULL);
		return -1;
	}
	w = cJSON_GetObjectItemCaseSensitive(root, "webhook_url");
	if (w && !cJSON_IsNull(w)) {
		const char *v = cJSON_GetStringValue(w);
		char msg[512];

		if (!v || (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) ||
		    strlen(v) > 2000) {
			cJSON_Delete(root);
			*ret = api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
					 "webhook_url must be an http:// or https:// URL", NULL);
			return -1;
		}
		/* the address guard (webhook.h): also checked again at each delivery */
		if (webhooks_check_url(&req->k->cfg, v, msg, sizeof(msg)) < 0) {
			cJSON_Delete(root);
			*ret = api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", msg, NULL);
			return -1;
		}
		*url = strdup(v);
	}
	cJSON_Delete(root);
	return 0;
}

/* start and resume share their answers. */
static enum MHD_Result to_queued(struct api_request *req, int resume)
{
	const char *id = path_id(req);
	struct store_limits lim = { 0, 0, 0, 0 };
	struct store_batch b;
	uint64_t upload;
	int64_t required = 0, available = 0;
	enum MHD_Result ret = MHD_NO;
	char *webhook = NULL;
	int rc;

	if (!id)
		return not_found(req);
	api_account_limits(&req->account, &req->k->cfg, &lim.max_active_batches, &lim.max_queued_images,
			   &upload);
	if (!resume && webhook_arg(req, &webhook, &ret) < 0)
		return ret;
	{
		char why[1200];

		/* started on a full disk, it would only pause again at its first image */
		if (kiln_disk_short(req->k, 0, why, sizeof(why))) {
			free(webhook);
			return api_disk_full(req, why);
		}
	}
	if (!api_store(req)) {
		free(webhook);
		return api_internal(req);
	}
	if (resume)
		rc = store_batch_resume(req->st, req->account.id, id, util_now_ms(), &lim, &b,
					&required, &available);
	else
		rc = store_batch_start(req->st, req->account.id, id, webhook, util_now_ms(), &lim, &b,
				       &required, &available);
	free(webhook);
	switch (rc) {
	case STORE_OK:
		sched_wake(req->k->sched);
		ret = reply_batch(req, MHD_HTTP_OK, &b);
		break;
	case STORE_NOT_FOUND:
		return not_found(req);
	case STORE_CONFLICT:
		ret = wrong_state(req, &b, resume ? "resumed (only a stopped one can)"
					       : "started (only a draft can)");
		break;
	case STORE_NO_CREDITS:
		ret = no_credits(req, required, available);
		break;
	case STORE_LIMIT:
		ret = over_limit(req, &lim);
		break;
	default:
		return api_internal(req);
	}
	store_batch_free(&b);
	return ret;
}

enum MHD_Result api_batches_start(struct api_request *req)
{
	return to_queued(req, 0);
}

enum MHD_Result api_batches_resume(struct api_request *req)
{
	return to_queued(req, 1);
}

enum MHD_Result api_batches_stop(struct api_request *req)
{
	const char *id = path_id(req);
	struct store_batch b;
	enum MHD_Result ret;
	int rc;

	if (!id)
		return not_found(req);
	if (!api_store(req))
		return api_internal(req);
	rc = store_batch_stop(req->st, req->account.id, id, util_now_ms(), &b);
	switch (rc) {
	case STORE_OK:
		if (strcmp(b.state, "stopping") == 0)
			sched_cancel_batch(req->k->sched, b.seq);
		ret = reply_batch(req, MHD_HTTP_OK, &b);
		break;
	case STORE_NOT_FOUND:
		return not_found(req);
	case STORE_CONFLICT:
		ret = wrong_state(req, &b, "stopped (only a queued or running one can)");
		break;
	default:
		return api_internal(req);
	}
	store_batch_free(&b);
	return ret;
}

enum MHD_Result api_batches_get(struct api_request *req)
{
	const char *id = path_id(req);
	struct store_batch b;
	enum MHD_Result ret;
	char *text;
	size_t len;
	int rc;

	if (!id)
		return not_found(req);
	if (!api_store(req))
		return api_internal(req);
	rc = store_batch_get(req->st, req->account.id, id, &b);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc != STORE_OK)
		return api_internal(req);
	text = batch_text(&b, req->account.available, util_now_ms(), &len);
	store_batch_free(&b);
	ret = api_reply_json_text(req, MHD_HTTP_OK, text, len);
	return ret;
}

enum MHD_Result api_batches_delete(struct api_request *req)
{
	const char *id = path_id(req);
	int rc;

	if (!id)
		return not_found(req);
	if (!api_store(req))
		return api_internal(req);
	rc = store_batch_delete(req->st, req->account.id, id);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc == STORE_CONFLICT)
		return api_error(req, MHD_HTTP_CONFLICT, "invalid_state",
				 "a queued, running or stopping batch cannot be deleted; stop it first",
				 NULL);
	if (rc != STORE_OK)
		return api_internal(req);
	kiln_remove_batch_files(req->k, id);
	return api_reply_data(req, MHD_HTTP_NO_CONTENT, "application/json; charset=utf-8", "", 0);
}

/* Parses a numeric cursor; -1 when it is not one. */
static int parse_cursor(const char *v, int64_t *out)
{
	char *end;
	long long n;

	*out = 0;
	if (!v)
		return 0;
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end || n < 0)
		return -1;
	*out = n;
	return 0;
}

struct list_ctx {
	cJSON *arr;
	int64_t last_seq;
	int64_t available;
	int64_t now;
};

static int list_one(void *cls, const struct store_batch *b)
{
	struct list_ctx *c = cls;
	char *text = batch_text(b, -1, c->now, NULL);
	cJSON *item = text ? cJSON_CreateRaw(text) : NULL;

	free(text);
	if (!item)
		return -1;
	cJSON_AddItemToArray(c->arr, item);
	c->last_seq = b->seq;
	return 0;
}

enum MHD_Result api_batches_list(struct api_request *req)
{
	const char *state = api_arg(req, "state");
	struct list_ctx c;
	cJSON *root;
	unsigned limit;
	int64_t cursor;
	int more = 0, known = 0;
	char next[32];

	if (state) {
		for (size_t i = 0; i < sizeof(batch_states) / sizeof(batch_states[0]); i++)
			known |= strcmp(state, batch_states[i]) == 0;
		if (!known)
			return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
					 "state must be one of draft, queued, running, stopping, stopped,"
					 " completed, failed", NULL);
	}
	if (api_limit(req, &limit) < 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "limit must be a whole number from 1 to 500", NULL);
	if (parse_cursor(api_arg(req, "cursor"), &cursor) < 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "cursor must be a next_cursor value from an earlier answer", NULL);
	if (!api_store(req))
		return api_internal(req);
	root = cJSON_CreateObject();
	c.arr = cJSON_AddArrayToObject(root, "batches");
	c.last_seq = 0;
	c.now = util_now_ms();
	if (store_batch_list(req->st, req->account.id, state, cursor, limit, list_one, &c,
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
	api_add_int(root, "credits_available", req->account.available);
	return api_reply_json(req, MHD_HTTP_OK, root);
}

struct rows_ctx {
	cJSON *arr;
	cJSON *images;           /* of the row being written */
	unsigned last_row;
};

static int rows_row(void *cls, const struct store_row *r)
{
	struct rows_ctx *c = cls;
	cJSON *o = cJSON_CreateObject();

	api_add_int(o, "row", r->row);
	cJSON_AddStringToObject(o, "state", r->state);
	api_add_int(o, "attempts", r->attempts);
	if (r->error)
		cJSON_AddStringToObject(o, "error", r->error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddItemToObject(o, "fields", api_fields_json(&r->f));
	api_add_int(o, "credits_per_image", r->cost);
	c->images = cJSON_AddArrayToObject(o, "images");
	cJSON_AddItemToArray(c->arr, o);
	c->last_row = r->row;
	return 0;
}

static int rows_image(void *cls, const struct store_image *img)
{
	struct rows_ctx *c = cls;
	cJSON *o = cJSON_CreateObject();
	char url[96];

	cJSON_AddStringToObject(o, "id", img->id);
	api_add_int(o, "index", img->idx);
	cJSON_AddStringToObject(o, "state", img->state);
	if (strcmp(img->state, "done") == 0) {
		snprintf(url, sizeof(url), "/v1/images/%s/file", img->id);
		cJSON_AddStringToObject(o, "url", url);
		snprintf(url, sizeof(url), "/v1/images/%s/thumbnail", img->id);
		cJSON_AddStringToObject(o, "thumbnail_url", url);
		if (img->seed >= 0)
			api_add_int(o, "seed", img->seed);
		else    /* the engine does not say (openai) */
			cJSON_AddNullToObject(o, "seed");
		api_add_int(o, "width", img->width);
		api_add_int(o, "height", img->height);
	} else {
		cJSON_AddNullToObject(o, "url");
	}
	if (img->error)
		cJSON_AddStringToObject(o, "error", img->error);
	cJSON_AddItemToArray(c->images, o);
	return 0;
}

enum MHD_Result api_batches_rows(struct api_request *req)
{
	const char *id = path_id(req);
	struct store_batch b;
	struct rows_ctx c;
	cJSON *root;
	unsigned limit;
	int64_t cursor;
	int more = 0, rc;
	char next[32];

	if (!id)
		return not_found(req);
	if (api_limit(req, &limit) < 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "limit must be a whole number from 1 to 500", NULL);
	if (parse_cursor(api_arg(req, "cursor"), &cursor) < 0 || cursor > 0x7fffffff)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "cursor must be a next_cursor value from an earlier answer", NULL);
	if (!api_store(req))
		return api_internal(req);
	rc = store_batch_get(req->st, req->account.id, id, &b);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc != STORE_OK)
		return api_internal(req);
	root = cJSON_CreateObject();
	c.arr = cJSON_AddArrayToObject(root, "rows");
	c.images = NULL;
	c.last_row = 0;
	rc = store_rows_page(req->st, b.seq, (unsigned)cursor, limit, rows_row, rows_image, &c, &more);
	store_batch_free(&b);
	if (rc != STORE_OK) {
		cJSON_Delete(root);
		return api_internal(req);
	}
	if (more) {
		snprintf(next, sizeof(next), "%u", c.last_row);
		cJSON_AddStringToObject(root, "next_cursor", next);
	} else {
		cJSON_AddNullToObject(root, "next_cursor");
	}
	return api_reply_json(req, MHD_HTTP_OK, root);
}
