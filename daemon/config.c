/*
 * config.c — see config.h.
 *
 * DESIGN
 * A static table maps each key to its kind (string, unsigned, int64, size,
 * enum) and its place in struct config (offsetof), with bounds; the file
 * reader and the command-line flags both go through config_set(), so a value
 * is checked the same way wherever it comes from.  Sizes accept the
 * suffixes K, M and G (powers of 1024).
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config.h"
#include "daemon/log.h"

enum config_kind { CK_STRING, CK_UINT, CK_INT64, CK_SIZE, CK_AUTH, CK_LISTEN, CK_BOOL };

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t offset;
	size_t size;             /* CK_STRING: buffer size */
	long long min, max;      /* numeric bounds */
};

#define STR(field) CK_STRING, offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define NUM(kind, field) kind, offsetof(struct config, field), 0

static const struct config_key config_keys[] = {
	{ "listen", CK_LISTEN, offsetof(struct config, listen), sizeof(((struct config *)0)->listen), 0, 0 },
	{ "data_dir", STR(data_dir), 0, 0 },
	{ "workers", NUM(CK_UINT, workers), 1, 1024 },
	{ "engine", STR(engine), 0, 0 },
	{ "auth", NUM(CK_AUTH, auth), 0, 0 },
	{ "max_upload_bytes", NUM(CK_SIZE, max_upload_bytes), 1024, 1LL << 32 },
	{ "max_rows", NUM(CK_UINT, max_rows), 2, 100000 },
	{ "http_threads", NUM(CK_UINT, http_threads), 1, 64 },
	{ "max_attempts", NUM(CK_UINT, max_attempts), 1, 100 },
	{ "admin_credits", NUM(CK_INT64, admin_credits), 0, 1000000000000LL },
	{ "credits_per_image", NUM(CK_INT64, credits_per_image), 0, 1000000 },
	{ "log_level", STR(log_level), 0, 0 },
	{ "builtin.delay_ms", NUM(CK_UINT, builtin_delay_ms), 0, 3600000 },
	{ "builtin.size", NUM(CK_UINT, builtin_size), 8, 4096 },
	{ "builtin.compression", NUM(CK_UINT, builtin_compression), 0, 9 },
	{ "builtin.call_log", STR(builtin_call_log), 0, 0 },
	/* operations */
	{ "shutdown_timeout", NUM(CK_UINT, shutdown_timeout), 0, 3600 },
	{ "max_active_batches", NUM(CK_UINT, max_active_batches), 0, 1000000 },
	{ "max_queued_images", NUM(CK_UINT, max_queued_images), 0, 100000000 },
	/* events, webhooks, metrics, connections */
	{ "http_max_connections", NUM(CK_UINT, http_max_connections), 16, 1000000 },
	{ "events.heartbeat_seconds", NUM(CK_UINT, events_heartbeat_seconds), 1, 3600 },
	{ "events.retention_days", NUM(CK_UINT, events_retention_days), 1, 36500 },
	{ "webhook_secret", STR(webhook_secret), 0, 0 },
	{ "webhooks.allow_private", NUM(CK_BOOL, webhooks_allow_private), 0, 1 },
	{ "webhooks.retry_seconds", NUM(CK_UINT, webhooks_retry_seconds), 0, 30 * 86400 },
	{ "webhooks.timeout_seconds", NUM(CK_UINT, webhooks_timeout_seconds), 1, 300 },
	{ "metrics.require_admin", NUM(CK_BOOL, metrics_require_admin), 0, 1 },
	/* hostile clients */
	{ "http_timeout_seconds", NUM(CK_UINT, http_timeout_seconds), 1, 86400 },
	{ "http_max_connections_per_ip", NUM(CK_UINT, http_max_connections_per_ip), 0, 1000000 },
	/* the network engines: the same keys for each */
#define ENGINE_KEYS(e) \
	{ #e ".base_url", STR(e.base_url), 0, 0 }, \
	{ #e ".api_key", STR(e.api_key), 0, 0 }, \
	{ #e ".api_key_file", STR(e.api_key_file), 0, 0 }, \
	{ #e ".model", STR(e.model), 0, 0 }, \
	{ #e ".max_in_flight", NUM(CK_UINT, e.max_in_flight), 0, 1024 }, \
	{ #e ".calls_per_minute", NUM(CK_UINT, e.calls_per_minute), 0, 1000000 }, \
	{ #e ".connect_timeout_ms", NUM(CK_UINT, e.connect_timeout_ms), 10, 600000 }, \
	{ #e ".timeout_ms", NUM(CK_UINT, e.timeout_ms), 10, 3600000 }, \
	{ #e ".retries", NUM(CK_UINT, e.retries), 0, 20 }, \
	{ #e ".backoff_ms", NUM(CK_UINT, e.backoff_ms), 1, 600000 }, \
	{ #e ".max_backoff_ms", NUM(CK_UINT, e.max_backoff_ms), 1, 3600000 }, \
	{ #e ".pool_retry_ms", NUM(CK_UINT, e.pool_retry_ms), 1, 3600000 }, \
	{ #e ".max_response", NUM(CK_SIZE, e.max_response), 1024, 1LL << 30 }, \
	{ #e ".base_size", NUM(CK_UINT, e.base_size), 64, 4096 }, \
	{ #e ".steps_turbo", NUM(CK_UINT, e.steps_turbo), 1, 500 }, \
	{ #e ".steps_default", NUM(CK_UINT, e.steps_default), 1, 500 }, \
	{ #e ".steps_quality", NUM(CK_UINT, e.steps_quality), 1, 500 }
	ENGINE_KEYS(ideogram),
	ENGINE_KEYS(openai),
	ENGINE_KEYS(a1111),
#undef ENGINE_KEYS
	/* a full disk: batches pause below this much free space */
	{ "min_free_space", NUM(CK_SIZE, min_free_space), 0, 1LL << 40 },
	/* the API before rendering */
	{ "worker_nice", NUM(CK_UINT, worker_nice), 0, 19 },
};

static const char *const config_models[CONFIG_MODELS] = { "2.0", "1.0", "0.2", "3.0", "2a" };
static const char *const config_renderings[CONFIG_RENDERINGS] = { "default", "turbo", "quality" };

/* The index of s in names[n], or n (the "any" slot) when s is NULL; -1 if unknown. */
static int cost_index(const char *const *names, int n, const char *s, size_t len)
{
	if (!s)
		return n;
	for (int i = 0; i < n; i++) {
		if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0)
			return i;
	}
	return -1;
}

/* Reads "<model>" or "<model>.<rendering>" into *m and *r; 0, or -1 when it is neither. */
static int cost_model_key(const char *name, int *m, int *r)
{
	for (int i = 0; i < CONFIG_MODELS; i++) {
		size_t ml = strlen(config_models[i]);
		const char *rest = name + ml;

		if (strncmp(name, config_models[i], ml) != 0)
			continue;
		*m = i;
		*r = CONFIG_RENDERINGS;
		if (*rest == '\0')
			return 0;
		if (*rest != '.')
			continue;
		*r = cost_index(config_renderings, CONFIG_RENDERINGS, rest + 1, strlen(rest + 1));
		if (*r >= 0)
			return 0;
	}
	return -1;
}

/*
 * Sets cost.<model>, cost.<model>.<rendering> or cost.<rendering>; 0, or -1
 * with a message in err.
 */
static int cost_set(struct config *cfg, const char *key, const char *value, char *err,
		    size_t errlen)
{
	const char *name = key + 5;
	int m = CONFIG_MODELS, r;
	char *end;
	long long n;

	r = cost_index(config_renderings, CONFIG_RENDERINGS, name, strlen(name));
	if (r < 0 && cost_model_key(name, &m, &r) < 0) {
		snprintf(err, errlen, "unknown key \"%s\": cost keys are cost.<model>,"
			 " cost.<rendering> and cost.<model>.<rendering> (models 2.0, 1.0, 0.2,"
			 " 3.0, 2a; renderings default, turbo, quality)", key);
		return -1;
	}
	errno = 0;
	n = strtoll(value, &end, 10);
	if (!isdigit((unsigned char)value[0]) || *end || errno || n > 1000000) {
		snprintf(err, errlen, "%s: \"%s\" is not a whole number of credits from 0 to 1000000",
			 key, value);
		return -1;
	}
	cfg->cost[m][r] = n;
	return 0;
}

int64_t config_image_cost(const struct config *cfg, const char *model, const char *rendering)
{
	int m = cost_index(config_models, CONFIG_MODELS, model, strlen(model));
	int r = cost_index(config_renderings, CONFIG_RENDERINGS, rendering, strlen(rendering));

	if (m >= 0 && r >= 0 && cfg->cost[m][r] >= 0)
		return cfg->cost[m][r];
	if (m >= 0 && cfg->cost[m][CONFIG_RENDERINGS] >= 0)
		return cfg->cost[m][CONFIG_RENDERINGS];
	if (r >= 0 && cfg->cost[CONFIG_MODELS][r] >= 0)
		return cfg->cost[CONFIG_MODELS][r];
	return cfg->credits_per_image;
}

/* The defaults of one network engine's settings. */
static void engine_defaults(struct config_engine *e, const char *base_url, unsigned timeout_ms)
{
	snprintf(e->base_url, sizeof(e->base_url), "%s", base_url);
	e->max_in_flight = 0;
	e->connect_timeout_ms = 10000;
	e->timeout_ms = timeout_ms;
	e->retries = 4;
	e->backoff_ms = 1000;
	e->max_backoff_ms = 30000;
	e->pool_retry_ms = 30000;
	e->max_response = 64ULL * 1024 * 1024;
	e->base_size = 1024;
	e->steps_turbo = 12;
	e->steps_default = 25;
	e->steps_quality = 40;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	strcpy(cfg->listen, "127.0.0.1:5456");
	strcpy(cfg->data_dir, "./kiln-data");
	cfg->workers = 4;
	strcpy(cfg->engine, "builtin");
	cfg->auth = CONFIG_AUTH_TOKEN;
	cfg->max_upload_bytes = 10 * 1024 * 1024;
	cfg->max_rows = 1000;
	cfg->http_threads = 4;
	cfg->max_attempts = 3;
	cfg->admin_credits = 100000;
	cfg->credits_per_image = 2;
	strcpy(cfg->log_level, "info");
	cfg->builtin_delay_ms = 0;
	cfg->builtin_size = 512;
	cfg->builtin_compression = 6;
	cfg->shutdown_timeout = 10;
	for (int m = 0; m <= CONFIG_MODELS; m++)
		for (int r = 0; r <= CONFIG_RENDERINGS; r++)
			cfg->cost[m][r] = -1;
	cfg->max_active_batches = 10;
	cfg->max_queued_images = 20000;
	/* events, webhooks, metrics, connections */
	cfg->http_max_connections = 4096;
	cfg->events_heartbeat_seconds = 15;
	cfg->events_retention_days = 7;
	cfg->webhooks_retry_seconds = 86400;
	cfg->webhooks_timeout_seconds = 10;
	/* hostile clients */
	cfg->http_timeout_seconds = 60;
	cfg->http_max_connections_per_ip = 0;
	engine_defaults(&cfg->ideogram, "https://api.ideogram.ai", 180000);
	engine_defaults(&cfg->openai, "https://api.openai.com", 180000);
	snprintf(cfg->openai.model, sizeof(cfg->openai.model), "gpt-image-1");
	engine_defaults(&cfg->a1111, "http://127.0.0.1:7860", 600000);
	cfg->min_free_space = 16 * 1024 * 1024;
	cfg->worker_nice = 10;
}

/* Parses a whole decimal number with an optional K/M/G suffix when size is set. */
static int parse_number(const char *v, int size, long long *out)
{
	char *end;
	long long n;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0)
		return -1;
	if (size && *end) {
		long long mul = 1;

		switch (toupper((unsigned char)*end)) {
		case 'K': mul = 1024LL; break;
		case 'M': mul = 1024LL * 1024; break;
		case 'G': mul = 1024LL * 1024 * 1024; break;
		default: return -1;
		}
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (n > (1LL << 40))
			return -1;
		n *= mul;
	}
	if (*end)
		return -1;
	*out = n;
	return 0;
}

/* Checks "host:port" (IPv4 name or [IPv6]) with a port in 0..65535. */
static int valid_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	long long port;

	if (!colon || colon == v)
		return 0;
	if (parse_number(colon + 1, 0, &port) < 0 || port > 65535)
		return 0;
	return 1;
}

int config_set(struct config *cfg, const char *key, const char *value,
	       char *err, size_t errlen)
{
	const struct config_key *k = NULL;
	char *base = (char *)cfg;
	long long n;

	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		if (strcmp(config_keys[i].name, key) == 0) {
			k = &config_keys[i];
			break;
		}
	}
	if (!k && strncmp(key, "cost.", 5) == 0) {
		if (strncmp(value, "env:", 4) == 0 && getenv(value + 4))
			value = getenv(value + 4);
		return cost_set(cfg, key, value, err, errlen);
	}
	if (!k) {
		snprintf(err, errlen, "unknown key \"%s\"", key);
		return -1;
	}
	if (strncmp(value, "env:", 4) == 0) {
		const char *env = getenv(value + 4);

		if (!env) {
			snprintf(err, errlen, "%s: environment variable %s is not set", key, value + 4);
			return -1;
		}
		value = env;
	}
	switch (k->kind) {
	case CK_LISTEN:
		if (!valid_listen(value)) {
			snprintf(err, errlen, "%s: \"%s\" is not host:port (e.g. 127.0.0.1:5456)",
				 key, value);
			return -1;
		}
		/* fall through */
	case CK_STRING:
		if (strlen(value) >= k->size) {
			snprintf(err, errlen, "%s: value is longer than %zu characters", key, k->size - 1);
			return -1;
		}
		if (strcmp(key, "log_level") == 0 && log_level_parse(value) < 0) {
			snprintf(err, errlen, "log_level: \"%s\" is not one of debug, info, warn, error",
				 value);
			return -1;
		}
		strcpy(base + k->offset, value);
		return 0;
	case CK_AUTH:
		if (strcmp(value, "token") == 0) {
			cfg->auth = CONFIG_AUTH_TOKEN;
		} else if (strcmp(value, "none") == 0) {
			cfg->auth = CONFIG_AUTH_NONE;
		} else {
			snprintf(err, errlen, "auth: \"%s\" is not one of token, none", value);
			return -1;
		}
		return 0;
	case CK_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 ||
		    strcmp(value, "1") == 0) {
			*(unsigned *)(base + k->offset) = 1;
		} else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
			   strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
			*(unsigned *)(base + k->offset) = 0;
		} else {
			snprintf(err, errlen, "%s: \"%s\" is not true or false", key, value);
			return -1;
		}
		return 0;
	case CK_UINT:
	case CK_INT64:
	case CK_SIZE:
		if (parse_number(value, k->kind == CK_SIZE, &n) < 0 || n < k->min || n > k->max) {
			snprintf(err, errlen, "%s: \"%s\" is not a whole number from %lld to %lld%s",
				 key, value, k->min, k->max,
				 k->kind == CK_SIZE ? " (K, M, G suffixes allowed)" : "");
			return -1;
		}
		if (k->kind == CK_UINT)
			*(unsigned *)(base + k->offset) = (unsigned)n;
		else if (k->kind == CK_INT64)
			*(int64_t *)(base + k->offset) = (int64_t)n;
		else
			*(uint64_t *)(base + k->offset) = (uint64_t)n;
		return 0;
	}
	return -1;
}

/* Strips leading and trailing white space in place; returns the new start. */
static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char line[2048], section[64] = "", key[160], msg[512];
	unsigned lineno = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *k, *v;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line is longer than %zu characters",
				 path, lineno, sizeof(line) - 2);
			fclose(f);
			return -1;
		}
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (!close || close[1] != '\0' || (size_t)(close - s - 1) >= sizeof(section)) {
				snprintf(err, errlen, "%s:%u: a section is written [name]", path, lineno);
				fclose(f);
				return -1;
			}
			*close = '\0';
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected key = value", path, lineno);
			fclose(f);
			return -1;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (strlen(v) >= 2 && v[0] == '"' && v[strlen(v) - 1] == '"') {
			v[strlen(v) - 1] = '\0';
			v++;
		}
		if (section[0])
			snprintf(key, sizeof(key), "%s.%s", section, k);
		else
			snprintf(key, sizeof(key), "%s", k);
		if (config_set(cfg, key, v, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* The number of bytes a key's value takes in struct config. */
static size_t key_bytes(const struct config_key *k)
{
	switch (k->kind) {
	case CK_UINT: return sizeof(unsigned);
	case CK_BOOL: return sizeof(unsigned);
	case CK_INT64: return sizeof(int64_t);
	case CK_SIZE: return sizeof(uint64_t);
	case CK_AUTH: return sizeof(enum config_auth);
	default: return k->size;
	}
}

void config_diff(const struct config *a, const struct config *b,
		 void (*cb)(void *cls, const char *key), void *cls)
{
	for (size_t i = 0; i < sizeof(config_keys) / sizeof(config_keys[0]); i++) {
		const struct config_key *k = &config_keys[i];
		const char *va = (const char *)a + k->offset, *vb = (const char *)b + k->offset;
		int differ;

		if (k->kind == CK_STRING || k->kind == CK_LISTEN)
			differ = strncmp(va, vb, k->size) != 0;
		else
			differ = memcmp(va, vb, key_bytes(k)) != 0;
		if (differ)
			cb(cls, k->name);
	}
}
