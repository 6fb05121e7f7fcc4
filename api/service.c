/*
 * service.c — the routes around the batches: /healthz, the templates
 * (.csv served from constant text, .xlsx generated per request by
 * sheet_template_xlsx()), /v1/account, /metrics (the counters of
 * daemon/metrics.c with the store's gauges, read at each scrape) and
 * /openapi.json (api/openapi.json, embedded in the binary at build time by
 * scripts/embed-openapi.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/util.h"

enum MHD_Result api_service_health(struct api_request *req)
{
	cJSON *o = cJSON_CreateObject();
	struct store *st = api_store(req);

	if (!st) {
		cJSON_Delete(o);
		return api_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				 "the store cannot be opened", NULL);
	}
	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "engine", req->k->engine.ops->name);
	cJSON_AddNumberToObject(o, "workers", req->k->cfg.workers);
	cJSON_AddNumberToObject(o, "uptime_seconds",
				(double)((util_now_ms() - req->k->started_at) / 1000));
	return api_reply_json(req, MHD_HTTP_OK, o);
}

/*
 * The .xlsx templates: generated per request by sheet_template_xlsx()
 * (a few milliseconds; nothing cached, nothing shared between threads).
 */
static enum MHD_Result template_xlsx(struct api_request *req, const char *name)
{
	struct MHD_Response *resp;
	unsigned char *xlsx;
	size_t len;
	char cd[128], err[256];

	if (sheet_template_xlsx(name, &xlsx, &len, err, sizeof(err)) < 0) {
		log_error("template %s: %s", name, err);
		return api_internal(req);
	}
	resp = MHD_create_response_from_buffer(len, xlsx, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(xlsx);
		return MHD_NO;
	}
	snprintf(cd, sizeof(cd), "attachment; filename=\"kiln-%s\"", name);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
	return api_queue(req, MHD_HTTP_OK, resp);
}

enum MHD_Result api_service_template(struct api_request *req)
{
	const char *name = req->params[0];
	const char *csv = NULL;
	struct MHD_Response *resp;
	char cd[128];

	if (strcmp(name, "simple.xlsx") == 0 || strcmp(name, "full.xlsx") == 0)
		return template_xlsx(req, name);
	if (strcmp(name, "simple.csv") == 0 || strcmp(name, "full.csv") == 0) {
		char base[16];

		snprintf(base, sizeof(base), "%.*s", (int)(strlen(name) - 4), name);
		csv = sheet_template_csv(base);
	}
	if (!csv)
		return api_error(req, MHD_HTTP_NOT_FOUND, "not_found",
				 "templates are simple.csv, full.csv, simple.xlsx and full.xlsx",
				 NULL);
	resp = MHD_create_response_from_buffer(strlen(csv), (void *)csv, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	snprintf(cd, sizeof(cd), "attachment; filename=\"kiln-%s\"", name);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/csv; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, cd);
	return api_queue(req, MHD_HTTP_OK, resp);
}

enum MHD_Result api_service_account(struct api_request *req)
{
	return api_reply_json(req, MHD_HTTP_OK, api_account_json(&req->account, &req->k->cfg));
}

enum MHD_Result api_service_metrics(struct api_request *req)
{
	struct store_metrics sm;
	struct MHD_Response *resp;
	struct store *st = api_store(req);
	size_t len = 0;
	char *text;
	int have = st && store_metrics_read(st, &sm) == STORE_OK;

	text = metrics_render(req->k->metrics, have ? &sm : NULL, req->k->engine.ops->name, &len);
	if (!text)
		return api_internal(req);
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	return api_queue(req, have ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, resp);
}

enum MHD_Result api_service_openapi(struct api_request *req)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(api_openapi_json_len, (void *)api_openapi_json,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
	return api_queue(req, MHD_HTTP_OK, resp);
}
