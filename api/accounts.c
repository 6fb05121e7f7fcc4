/*
 * accounts.c — /v1/accounts: the admin's routes to make accounts, list them,
 * grant credits and replace a token.
 *
 * DESIGN
 * Every route here is the admin's: any other account gets 403 `forbidden`
 * (these paths name no one's resource, so there is nothing to hide with a
 * 404).  A token is made here (kiln_token_new(): 32 random bytes), shown in
 * the one answer that creates or replaces it, and only its SHA-256 is
 * stored; replacing it takes effect with the commit, so the old token's next
 * request is a 401.  Replacing the admin's own token also rewrites
 * <data_dir>/admin.token, which the CLI reads.  Credits move through the
 * ledger (a grant line, negative to take credits back); an account's
 * balances in the answers are the ledger's.  An account may have limits of
 * its own (POST /v1/accounts/{id}/limits); null puts one back to the
 * config's, and the answers show the limits in force.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/util.h"

#define ACCOUNT_CREDITS_MAX 1000000000000LL

void api_account_limits(const struct store_account *a, const struct config *cfg,
			unsigned *max_active_batches, unsigned *max_queued_images,
			uint64_t *max_upload_bytes)
{
	*max_active_batches = a->max_active_batches >= 0 ? (unsigned)a->max_active_batches
							 : cfg->max_active_batches;
	*max_queued_images = a->max_queued_images >= 0 ? (unsigned)a->max_queued_images
						       : cfg->max_queued_images;
	*max_upload_bytes = a->max_upload_bytes >= 0 ? (uint64_t)a->max_upload_bytes
						     : cfg->max_upload_bytes;
}

/* The account object: the API's view of struct store_account. */
cJSON *api_account_json(const struct store_account *a, const struct config *cfg)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *lim;
	unsigned batches, images;
	uint64_t upload;

	cJSON_AddStringToObject(o, "id", a->id);
	cJSON_AddStringToObject(o, "name", a->name);
	cJSON_AddBoolToObject(o, "admin", a->is_admin);
	cJSON_AddNumberToObject(o, "credits_available", (double)a->available);
	cJSON_AddNumberToObject(o, "credits_reserved", (double)a->reserved);
	cJSON_AddNumberToObject(o, "credits_charged", (double)a->charged);
	cJSON_AddNumberToObject(o, "credits_granted", (double)(a->available + a->reserved + a->charged));
	if (a->created_at)
		cJSON_AddItemToObject(o, "created_at", api_time(a->created_at));
	api_account_limits(a, cfg, &batches, &images, &upload);
	lim = cJSON_AddObjectToObject(o, "limits");
	cJSON_AddNumberToObject(lim, "max_active_batches", batches);
	cJSON_AddNumberToObject(lim, "max_queued_images", images);
	cJSON_AddNumberToObject(lim, "max_upload_bytes", (double)upload);
	cJSON_AddBoolToObject(lim, "own", a->max_active_batches >= 0 || a->max_queued_images >= 0 ||
			      a->max_upload_bytes >= 0);
	return o;
}

/* 0 when the caller is the admin, else -1 with the 403 queued. */
static int admin_only(struct api_request *req, enum MHD_Result *ret)
{
	if (req->account.is_admin)
		return 0;
	*ret = api_error(req, MHD_HTTP_FORBIDDEN, "forbidden",
			 "only the admin account can manage accounts", NULL);
	return -1;
}

/* The JSON object of the body; NULL with a 400 queued. */
static cJSON *body_object(struct api_request *req, const char *example, enum MHD_Result *ret)
{
	cJSON *root;
	char msg[160];

	root = api_json_object(req->body, req->body_len);
	if (!root) {
		snprintf(msg, sizeof(msg), "the body must be a JSON object, e.g. %s", example);
		*ret = api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request", msg, NULL);
		return NULL;
	}
	return root;
}

/* A whole number within ±max from item; 0, or -1 when it is not one. */
static int whole_number(const cJSON *item, long long min, long long max, int64_t *out)
{
	double v;

	if (!cJSON_IsNumber(item))
		return -1;
	v = item->valuedouble;
	if (!isfinite(v) || v != floor(v) || v < (double)min || v > (double)max)
		return -1;
	*out = (int64_t)v;
	return 0;
}

static enum MHD_Result not_found(struct api_request *req)
{
	return api_error(req, MHD_HTTP_NOT_FOUND, "not_found", "no such account", NULL);
}

enum MHD_Result api_accounts_create(struct api_request *req)
{
	struct store_account a;
	char token[80], hash[65];
	const char *name;
	enum MHD_Result ret;
	cJSON *root, *o;
	int64_t credits = 0;
	int rc;

	if (admin_only(req, &ret) < 0)
		return ret;
	root = body_object(req, "{\"name\": \"alice\", \"credits\": 1000}", &ret);
	if (!root)
		return ret;
	name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "name"));
	if (!name || !api_account_name_ok(name)) {
		cJSON_Delete(root);
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "name must be a string of 1 to 100 bytes of UTF-8 text without"
				 " control characters",
				 NULL);
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "credits") &&
	    whole_number(cJSON_GetObjectItemCaseSensitive(root, "credits"), 0, ACCOUNT_CREDITS_MAX,
			 &credits) < 0) {
		cJSON_Delete(root);
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "credits must be a whole number from 0 to 10^12", NULL);
	}
	if (kiln_token_new(token, hash) < 0 || !api_store(req)) {
		cJSON_Delete(root);
		return api_internal(req);
	}
	rc = store_account_create(req->st, name, hash, credits, util_now_ms(), &a);
	cJSON_Delete(root);
	if (rc == STORE_EXISTS)
		return api_error(req, MHD_HTTP_CONFLICT, "conflict",
				 "an account with this name exists; choose another name", NULL);
	if (rc != STORE_OK)
		return api_internal(req);
	log_info("account %s (%s) created with %lld credits", a.id, a.name, (long long)credits);
	o = api_account_json(&a, &req->k->cfg);
	cJSON_AddStringToObject(o, "token", token);
	return api_reply_json(req, MHD_HTTP_CREATED, o);
}

struct list_ctx {
	cJSON *arr;
	const struct config *cfg;
};

static int list_one(void *cls, const struct store_account *a)
{
	struct list_ctx *c = cls;

	cJSON_AddItemToArray(c->arr, api_account_json(a, c->cfg));
	return 0;
}

enum MHD_Result api_accounts_list(struct api_request *req)
{
	struct list_ctx c;
	enum MHD_Result ret;
	cJSON *root;

	if (admin_only(req, &ret) < 0)
		return ret;
	if (!api_store(req))
		return api_internal(req);
	root = cJSON_CreateObject();
	c.arr = cJSON_AddArrayToObject(root, "accounts");
	c.cfg = &req->k->cfg;
	if (store_account_list(req->st, list_one, &c) != STORE_OK) {
		cJSON_Delete(root);
		return api_internal(req);
	}
	return api_reply_json(req, MHD_HTTP_OK, root);
}

enum MHD_Result api_accounts_get(struct api_request *req)
{
	struct store_account a;
	enum MHD_Result ret;
	int rc;

	if (admin_only(req, &ret) < 0)
		return ret;
	if (!util_is_hex(req->params[0], 24))
		return not_found(req);
	if (!api_store(req))
		return api_internal(req);
	rc = store_account_get(req->st, req->params[0], &a);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc != STORE_OK)
		return api_internal(req);
	return api_reply_json(req, MHD_HTTP_OK, api_account_json(&a, &req->k->cfg));
}

enum MHD_Result api_accounts_credit(struct api_request *req)
{
	struct store_account a;
	enum MHD_Result ret;
	cJSON *root;
	int64_t delta = 0;
	char msg[200];
	int rc;

	if (admin_only(req, &ret) < 0)
		return ret;
	if (!util_is_hex(req->params[0], 24))
		return not_found(req);
	root = body_object(req, "{\"delta\": 500}", &ret);
	if (!root)
		return ret;
	rc = whole_number(cJSON_GetObjectItemCaseSensitive(root, "delta"), -ACCOUNT_CREDITS_MAX,
			  ACCOUNT_CREDITS_MAX, &delta);
	cJSON_Delete(root);
	if (rc < 0 || delta == 0)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "delta must be a whole number of credits, not 0: positive to grant,"
				 " negative to take back", NULL);
	if (!api_store(req))
		return api_internal(req);
	rc = store_account_credit(req->st, req->params[0], delta, util_now_ms(), &a);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc == STORE_NO_CREDITS) {
		snprintf(msg, sizeof(msg), "the account has %lld credits available; at most that"
			 " many can be taken back", (long long)a.available);
		return api_error(req, MHD_HTTP_CONFLICT, "invalid_state", msg, NULL);
	}
	if (rc != STORE_OK)
		return api_internal(req);
	log_info("account %s: %+lld credits", a.id, (long long)delta);
	return api_reply_json(req, MHD_HTTP_OK, api_account_json(&a, &req->k->cfg));
}

enum MHD_Result api_accounts_token(struct api_request *req)
{
	struct store_account a;
	char token[80], hash[65];
	enum MHD_Result ret;
	cJSON *o;
	int rc;

	if (admin_only(req, &ret) < 0)
		return ret;
	if (!util_is_hex(req->params[0], 24))
		return not_found(req);
	if (kiln_token_new(token, hash) < 0 || !api_store(req))
		return api_internal(req);
	rc = store_account_set_token(req->st, req->params[0], hash, util_now_ms(), &a);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc != STORE_OK)
		return api_internal(req);
	if (a.is_admin && kiln_write_admin_token(req->k->cfg.data_dir, token) < 0)
		log_error("the admin's token was replaced but %s/admin.token could not be"
			  " rewritten: %s", req->k->cfg.data_dir, strerror(errno));
	log_info("account %s: token replaced", a.id);
	o = api_account_json(&a, &req->k->cfg);
	cJSON_AddStringToObject(o, "token", token);
	return api_reply_json(req, MHD_HTTP_OK, o);
}

/*
 * Reads one limit of a limits body: absent → -2 (unchanged), null → -1 (the
 * config's), else a whole number in [min, max].  0, or -1 when it is none of these.
 */
static int limit_arg(const cJSON *root, const char *key, long long min, long long max,
		     int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	*out = -2;
	if (!v)
		return 0;
	if (cJSON_IsNull(v)) {
		*out = -1;
		return 0;
	}
	return whole_number(v, min, max, out);
}

enum MHD_Result api_accounts_limits(struct api_request *req)
{
	struct store_account a;
	enum MHD_Result ret;
	int64_t batches, images, upload;
	cJSON *root;
	int bad, rc;

	if (admin_only(req, &ret) < 0)
		return ret;
	if (!util_is_hex(req->params[0], 24))
		return not_found(req);
	root = body_object(req, "{\"max_active_batches\": 2, \"max_queued_images\": null}", &ret);
	if (!root)
		return ret;
	bad = limit_arg(root, "max_active_batches", 0, 1000000, &batches) < 0 ||
	      limit_arg(root, "max_queued_images", 0, 100000000, &images) < 0 ||
	      limit_arg(root, "max_upload_bytes", 1024, 1LL << 32, &upload) < 0;
	cJSON_Delete(root);
	if (bad)
		return api_error(req, MHD_HTTP_BAD_REQUEST, "invalid_request",
				 "max_active_batches (0 to 10^6), max_queued_images (0 to 10^8) and"
				 " max_upload_bytes (1024 to 2^32) are whole numbers (0: no limit), or null"
				 " for the config's value", NULL);
	if (!api_store(req))
		return api_internal(req);
	rc = store_account_set_limits(req->st, req->params[0], batches, images, upload, &a);
	if (rc == STORE_NOT_FOUND)
		return not_found(req);
	if (rc != STORE_OK)
		return api_internal(req);
	log_info("account %s: limits changed", a.id);
	return api_reply_json(req, MHD_HTTP_OK, api_account_json(&a, &req->k->cfg));
}
