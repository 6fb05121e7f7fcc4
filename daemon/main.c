/*
 * main.c — kilnd's entry point: configuration, start-up, the signal wait,
 * shutdown.
 *
 * DESIGN
 * Start-up is a straight line, each step failing with a message that says
 * what to do: defaults → config file (--config) → flags → open and migrate
 * the store under data_dir → make sure the admin account exists (its token
 * written to <data_dir>/admin.token the first time) → create the engine →
 * recover what a crash left running → start the workers → listen.  The main
 * thread then waits for SIGINT or SIGTERM (blocked in every other thread)
 * and shuts down in the reverse order: stop listening, cancel the engine
 * calls in flight (their images go back to pending, to be made after a
 * restart), close the store.  `kilnd inspect FILE` is handed to inspect.c
 * before any of this: it reads a spreadsheet and exits, starting nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "api/api.h"
#include "daemon/config.h"
#include "daemon/engine.h"
#include "daemon/inspect.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/sched.h"
#include "daemon/util.h"
#include "daemon/webhook.h"
#include "store/store.h"

#define KILN_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kilnd [options]\n"
		"       kilnd inspect [--max-rows N] FILE\n"
		"\n"
		"Runs the kiln batch image generation daemon.  `kilnd inspect FILE` prints\n"
		"what kiln reads from a spreadsheet, as JSON lines, without starting it\n"
		"(`kilnd inspect --help` for more).\n"
		"\n"
		"  -c, --config FILE     read settings from FILE (see config/kilnd.conf)\n"
		"  -l, --listen ADDR     address and port to listen on (127.0.0.1:5456)\n"
		"  -d, --data-dir DIR    where the store and the images live (./kiln-data)\n"
		"  -w, --workers N       images generated at once (4)\n"
		"  -e, --engine NAME     image engine (builtin)\n"
		"  -s, --set KEY=VALUE   any other setting of the config file\n"
		"  -h, --help            this text\n"
		"  -V, --version         the version\n"
		"\n"
		"Flags override the config file. The admin's token is written to\n"
		"<data-dir>/admin.token on first start.\n");
}

/* Applies one flag through config_set(); exits with a message on a bad value. */
static void flag(struct config *cfg, const char *name, const char *key, const char *value)
{
	char err[512];

	if (config_set(cfg, key, value, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd: %s: %s\n", name, err);
		exit(2);
	}
}

/* Parses the command line over the config file it names. */
static void parse_args(int argc, char **argv, struct config *cfg)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "engine", required_argument, NULL, 'e' },
		{ "set", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *short_opts = "c:l:d:w:e:s:hV";
	char err[512];
	int c;

	/* first pass: the config file, so that flags override it whatever their order */
	opterr = 0;
	while ((c = getopt_long(argc, argv, short_opts, opts, NULL)) != -1) {
		if (c != 'c')
			continue;
		if (config_load(cfg, optarg, err, sizeof(err)) < 0) {
			fprintf(stderr, "kilnd: %s\n", err);
			exit(2);
		}
	}
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, short_opts, opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'l': flag(cfg, "--listen", "listen", optarg); break;
		case 'd': flag(cfg, "--data-dir", "data_dir", optarg); break;
		case 'w': flag(cfg, "--workers", "workers", optarg); break;
		case 'e': flag(cfg, "--engine", "engine", optarg); break;
		case 's': {
			char key[128];
			const char *eq = strchr(optarg, '=');

			if (!eq || (size_t)(eq - optarg) >= sizeof(key)) {
				fprintf(stderr, "kilnd: --set takes KEY=VALUE\n");
				exit(2);
			}
			memcpy(key, optarg, (size_t)(eq - optarg));
			key[eq - optarg] = '\0';
			flag(cfg, "--set", key, eq + 1);
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("kilnd %s\n", KILN_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kilnd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

/* 1 when the listen address is a loopback one. */
static int listen_is_loopback(const char *listen)
{
	return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "localhost:", 10) == 0 ||
	       strncmp(listen, "[::1]:", 6) == 0;
}

/*
 * Makes sure the admin account exists; on its creation writes its token to
 * <data_dir>/admin.token (0600).  Returns 0 or -1.
 */
static int ensure_admin(struct kiln *k, struct store *st)
{
	struct store_account admin;
	char token[80], hash[65], path[1100];
	int created = 0;

	memcpy(token, "kiln_", 5);
	if (util_random_hex(token + 5, 32) < 0) {
		log_error("cannot make a random token: %s", strerror(errno));
		return -1;
	}
	util_sha256_hex(token, strlen(token), hash);
	if (store_admin_ensure(st, hash, k->cfg.admin_credits, &admin, &created) != STORE_OK) {
		log_error("cannot create the admin account");
		return -1;
	}
	memcpy(k->admin_id, admin.id, sizeof(k->admin_id));
	snprintf(path, sizeof(path), "%s/admin.token", k->cfg.data_dir);
	if (created) {
		char line[96];
		int n = snprintf(line, sizeof(line), "%s\n", token);

		if (util_write_durable(k->cfg.data_dir, "admin.token", line, (size_t)n, 0600) < 0) {
			log_error("cannot write %s: %s", path, strerror(errno));
			return -1;
		}
		log_info("created the admin account with %lld credits; its token is in %s",
			 (long long)k->cfg.admin_credits, path);
	} else {
		log_info("the admin's token is in %s (written when the data dir was made)", path);
	}
	return 0;
}

/* The store's notifier (issue 7): a commit wrote events, maybe webhook deliveries. */
static void on_events(void *cls, unsigned what)
{
	struct kiln *k = cls;

	api_events_notify(k->events);
	if (what & STORE_NOTIFY_WEBHOOK)
		webhooks_wake(k->webhooks);
}

int main(int argc, char **argv)
{
	struct kiln k;
	struct store *st;
	sigset_t sigs;
	char err[1024];
	int sig = 0, rc = 1;

	if (argc > 1 && strcmp(argv[1], "inspect") == 0)
		return inspect_main(argc - 1, argv + 1);
	memset(&k, 0, sizeof(k));
	config_defaults(&k.cfg);
	parse_args(argc, argv, &k.cfg);
	log_set_level((enum log_level)log_level_parse(k.cfg.log_level));
	if (k.cfg.auth == CONFIG_AUTH_NONE && !listen_is_loopback(k.cfg.listen)) {
		fprintf(stderr, "kilnd: auth = none is only allowed on a loopback address"
			" (127.0.0.1 or [::1]), not %s: set auth = token or listen on loopback\n",
			k.cfg.listen);
		return 2;
	}
	sheet_limits_default(&k.limits);
	k.limits.max_rows = k.cfg.max_rows;
	k.started_at = util_now_ms();

	/* every thread started from here on inherits this mask; main waits for them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (snprintf(k.db_path, sizeof(k.db_path), "%s/kiln.db", k.cfg.data_dir) >=
	    (int)sizeof(k.db_path) ||
	    snprintf(k.images_dir, sizeof(k.images_dir), "%s/images", k.cfg.data_dir) >=
	    (int)sizeof(k.images_dir)) {
		fprintf(stderr, "kilnd: data_dir is too long\n");
		return 2;
	}
	if (util_mkdir_p(k.cfg.data_dir, 0700) < 0 || util_mkdir_p(k.images_dir, 0750) < 0) {
		fprintf(stderr, "kilnd: cannot create the data dir %s: %s\n", k.cfg.data_dir,
			strerror(errno));
		return 2;
	}
	if (store_open(k.db_path, &st, err, sizeof(err)) < 0 ||
	    store_migrate(st, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd: %s\n", err);
		store_close(st);
		return 2;
	}
	if (ensure_admin(&k, st) < 0) {
		store_close(st);
		return 2;
	}
	store_close(st);
	k.pool = store_pool_new(k.db_path, k.cfg.http_threads + k.cfg.workers + 2);
	if (!k.pool) {
		fprintf(stderr, "kilnd: out of memory\n");
		return 2;
	}
	/* issue 7: counters, the event hub, the webhook thread, then the notifier */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	k.metrics = metrics_new();
	k.events = k.metrics ? api_events_new(&k) : NULL;
	if (!k.events) {
		fprintf(stderr, "kilnd: cannot start the event hub\n");
		goto out_pool;
	}
	k.webhooks = webhooks_start(&k, err, sizeof(err));
	if (!k.webhooks) {
		fprintf(stderr, "kilnd: %s\n", err);
		goto out_pool;
	}
	store_pool_set_notify(k.pool, on_events, &k);
	if (engine_create(&k.engine, &k.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd: engine %s: %s\n", k.cfg.engine, err);
		goto out_pool;
	}
	if (sched_recover(&k, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd: %s\n", err);
		goto out_engine;
	}
	k.sched = sched_start(&k, err, sizeof(err));
	if (!k.sched) {
		fprintf(stderr, "kilnd: %s\n", err);
		goto out_engine;
	}
	k.api = api_start(&k, err, sizeof(err));
	if (!k.api) {
		fprintf(stderr, "kilnd: %s\n", err);
		goto out_sched;
	}
	log_info("kilnd %s listening on http://%.*s:%u (engine %s, %u workers, data dir %s)",
		 KILN_VERSION, (int)(strrchr(k.cfg.listen, ':') - k.cfg.listen), k.cfg.listen,
		 api_port(k.api), k.engine.ops->name, k.cfg.workers, k.cfg.data_dir);

	while (sigwait(&sigs, &sig) == 0 && sig != SIGINT && sig != SIGTERM)
		;
	log_info("received %s; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;
	api_stop(k.api);
out_sched:
	sched_stop(k.sched);
out_engine:
	engine_destroy(&k.engine);
out_pool:
	webhooks_stop(k.webhooks);
	api_events_free(k.events);
	metrics_free(k.metrics);
	curl_global_cleanup();
	store_pool_free(k.pool);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
