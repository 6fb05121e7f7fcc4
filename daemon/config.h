/*
 * config.h — kilnd's configuration: the file, the flags, the environment.
 *
 * DESIGN
 * One flat struct with every setting and its default (config_defaults()).
 * config_load() reads a `key = value` file (comments with '#', sections
 * `[builtin]` prefixing their keys as `builtin.key`) on top of the defaults;
 * command-line flags are applied after it by main.c with config_set(), which
 * checks values the same way.  A value written `env:NAME` is read from the
 * environment variable NAME, so that secrets need not sit in the file.  An
 * unknown key or a bad value is an error naming the file and the line.
 */
#ifndef KILN_CONFIG_H
#define KILN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum config_auth { CONFIG_AUTH_TOKEN, CONFIG_AUTH_NONE };

/* The models and renderings of spreadsheet.md, for the cost table. */
#define CONFIG_MODELS 5          /* 2.0 1.0 0.2 3.0 2a */
#define CONFIG_RENDERINGS 3      /* default turbo quality */
/*
 * The settings of one network engine, section [ideogram], [openai] or
 * [a1111] of the file (keys "ideogram.base_url", ...).
 */
struct config_engine {
	char base_url[2048];       /* one or more base URLs (a pool), spaces or commas between */
	char api_key[512];         /* the key itself or env:NAME; never logged */
	char api_key_file[1024];   /* or a file holding it */
	char model[64];            /* openai: the model name */
	unsigned max_in_flight;    /* calls at once (0: as many as workers) */
	unsigned calls_per_minute; /* 0: no limit */
	unsigned connect_timeout_ms; /* 10000 */
	unsigned timeout_ms;       /* whole call (ideogram/openai 180000, a1111 600000) */
	unsigned retries;          /* retries of one call before the scheduler's back-off (4) */
	unsigned backoff_ms;       /* first retry back-off, doubled each time (1000) */
	unsigned max_backoff_ms;   /* back-off cap (30000) */
	unsigned pool_retry_ms;    /* a failing server is out of rotation this long (30000) */
	uint64_t max_response;     /* largest answer accepted (64 MiB) */
	unsigned base_size;        /* a1111: long side in pixels (1024) */
	unsigned steps_turbo;      /* a1111: steps by rendering (12, 25, 40) */
	unsigned steps_default;
	unsigned steps_quality;
};

struct config {
	char listen[128];          /* "127.0.0.1:5456" */
	char data_dir[1024];       /* "./kiln-data" */
	unsigned workers;          /* worker threads generating images (4) */
	char engine[32];           /* "builtin" */
	enum config_auth auth;     /* token | none */
	uint64_t max_upload_bytes; /* 10 MiB */
	unsigned max_rows;         /* 1000, header included */
	unsigned http_threads;     /* libmicrohttpd thread pool (4) */
	unsigned max_attempts;     /* engine attempts per image before it fails (3) */
	int64_t admin_credits;     /* grant given to the admin account at creation (100000) */
	int64_t credits_per_image; /* cost of one image (2) */
	char log_level[8];         /* "debug" | "info" | "warn" | "error" */
	/* [builtin] engine */
	unsigned builtin_delay_ms; /* per-image delay, to watch progress (0) */
	unsigned builtin_size;     /* long side of the image in pixels (512) */
	int builtin_compression;   /* zlib level 0..9 for the PNG (6) */
	char builtin_call_log[1024]; /* append "<image id>\n" per call, for tests ("") */
	/* operations */
	unsigned shutdown_timeout; /* s: engine calls in flight may finish on SIGTERM (10) */
	/* accounts: cost of an image by model and rendering, limits per account */
	int64_t cost[CONFIG_MODELS + 1][CONFIG_RENDERINGS + 1]; /* -1: not set; see config_image_cost() */
	unsigned max_active_batches; /* batches queued or running at once per account (10; 0: none) */
	unsigned max_queued_images;  /* images pending or running at once per account (20000; 0: none) */
	/* events, webhooks, metrics, connections */
	unsigned http_max_connections;     /* open HTTP connections at most, streams included (4096) */
	unsigned events_heartbeat_seconds; /* comment line on an idle event stream (15) */
	unsigned events_retention_days;    /* events kept for Last-Event-ID (7) */
	char webhook_secret[256];          /* HMAC key; "" → <data_dir>/webhook.secret */
	unsigned webhooks_allow_private;   /* bool: allow loopback/private webhook addresses (false) */
	unsigned webhooks_retry_seconds;   /* keep retrying a delivery this long (86400) */
	unsigned webhooks_timeout_seconds; /* per attempt (10) */
	unsigned metrics_require_admin;    /* bool: /metrics needs the admin's token (false) */
	/* hostile clients */
	unsigned http_timeout_seconds;        /* a connection idle this long is closed (60) */
	unsigned http_max_connections_per_ip; /* open connections per client address (0: no limit) */
	/* the network engines (daemon/engines/net.h) */
	struct config_engine ideogram;
	struct config_engine openai;
	struct config_engine a1111;
	/* a full disk */
	uint64_t min_free_space;   /* bytes kept free on the data dir's filesystem (16 MiB; 0: none) */
	/* the API before rendering */
	unsigned worker_nice;      /* added to the workers' nice value, so HTTP threads come first (10) */
};

/*
 * The credits one image costs for a row's model and rendering: the key
 * cost.<model>.<rendering>, else cost.<model>, else cost.<rendering>, else
 * credits_per_image.
 */
int64_t config_image_cost(const struct config *cfg, const char *model, const char *rendering);

/* Fills *cfg with every default. */
void config_defaults(struct config *cfg);

/*
 * Reads the file at path over *cfg.  Returns 0, or -1 with a message
 * "path:line: what is wrong" in err.
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * Sets one key (as in the file) from text.  Returns 0, or -1 with a message
 * in err (without file and line; the caller adds where it came from).
 */
int config_set(struct config *cfg, const char *key, const char *value,
	       char *err, size_t errlen);

/*
 * Calls cb(cls, key) for every key whose value differs between a and b (for
 * SIGHUP: what a reload changed).  Keys come in the order of the key table.
 */
void config_diff(const struct config *a, const struct config *b,
		 void (*cb)(void *cls, const char *key), void *cls);

#endif
