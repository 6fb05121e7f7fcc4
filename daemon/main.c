/*
 * main.c — kilnd's entry point: configuration, start-up, the signal wait,
 * shutdown.
 *
 * DESIGN
 * Start-up is a straight line, each step failing with a message that says
 * what to do: defaults → config file (--config) → flags → open and migrate
 * the store under data_dir → make sure the admin account exists (its token
 * written to <data_dir>/admin.token the first time) → create the engine →
 * recover what a crash left running → start the workers → listen → tell
 * systemd READY=1 (sd_notify; a no-op without NOTIFY_SOCKET).
 *
 * Signals are blocked in every thread and read by the main thread from a
 * signalfd, so no work happens inside a handler.  SIGHUP re-reads the
 * config file (the flags still override it) and applies what can change
 * while running — log_level, max_upload_bytes, max_rows, max_attempts,
 * credits_per_image, shutdown_timeout, max_active_batches, max_queued_images,
 * the [cost] table — logging every other changed key as needing a restart
 * (listen, data_dir, workers, http_threads, auth, the engine and its keys);
 * a file that does not parse changes nothing.  The
 * reloadable values are single words that HTTP and worker threads read
 * without a lock: a reader sees the old or the new value, never a mix.
 * SIGINT or SIGTERM: STOPPING=1, stop listening (requests in flight are
 * answered), stop claiming images, let the engine calls in flight finish
 * for up to shutdown_timeout seconds (a second SIGINT/SIGTERM cuts the wait
 * short), cancel the rest (their images go back to pending and are made
 * after a restart), checkpoint the WAL into kiln.db, exit 0.
 *
 * `kilnd inspect FILE`, `kilnd backup FILE`, `kilnd restore FILE` and
 * `kilnd account ...` are handed to inspect.c, backup.c and account_cmd.c
 * before any of this: they do their one thing (the last two on the store)
 * and exit, starting no daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include <curl/curl.h>

#include "api/api.h"
#include "daemon/backup.h"
#include "daemon/account_cmd.h"
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
		"       kilnd backup [--config FILE | --data-dir DIR] BACKUP.zip\n"
		"       kilnd restore [--config FILE | --data-dir DIR] BACKUP.zip\n"
		"       kilnd account add|list|credit|token ... (kilnd account --help)\n"
		"\n"
		"Runs the kiln batch image generation daemon.  `kilnd inspect FILE` prints\n"
		"what kiln reads from a spreadsheet, as JSON lines, without starting it\n"
		"(`kilnd inspect --help` for more).  `kilnd backup` writes a consistent copy\n"
		"of the store and its images while kilnd runs; `kilnd restore` brings one\n"
		"back into an empty data dir.\n"
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
		"<data-dir>/admin.token on first start.  SIGHUP reloads the config file;\n"
		"SIGTERM or SIGINT stops kilnd cleanly.\n");
}

static const struct option main_opts[] = {
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
static const char main_short_opts[] = "c:l:d:w:e:s:hV";

/* Applies one flag through config_set(); 0, or -1 with "FLAG: problem" in err. */
static int flag(struct config *cfg, const char *name, const char *key, const char *value,
		char *err, size_t errlen)
{
	char msg[512];

	if (config_set(cfg, key, value, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "%s: %s", name, msg);
		return -1;
	}
	return 0;
}

/*
 * Applies the flags other than --config over cfg (at start-up, and again
 * on SIGHUP over the re-read file).  Returns 0; 'h' or 'V' when asked for
 * help or the version; '?' for an unknown option; -1 with a message in err
 * for a bad value.
 */
static int apply_flags(int argc, char **argv, struct config *cfg, char *err, size_t errlen)
{
	int c, rc = 0;

	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, main_short_opts, main_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'l': rc = flag(cfg, "--listen", "listen", optarg, err, errlen); break;
		case 'd': rc = flag(cfg, "--data-dir", "data_dir", optarg, err, errlen); break;
		case 'w': rc = flag(cfg, "--workers", "workers", optarg, err, errlen); break;
		case 'e': rc = flag(cfg, "--engine", "engine", optarg, err, errlen); break;
		case 's': {
			char key[128];
			const char *eq = strchr(optarg, '=');

			if (!eq || (size_t)(eq - optarg) >= sizeof(key)) {
				snprintf(err, errlen, "--set takes KEY=VALUE");
				return -1;
			}
			memcpy(key, optarg, (size_t)(eq - optarg));
			key[eq - optarg] = '\0';
			rc = flag(cfg, "--set", key, eq + 1, err, errlen);
			break;
		}
		case 'h':
		case 'V':
			return c;
		default:
			return '?';
		}
	}
	return rc;
}

/* Parses the command line over the config file it names (*config_path, or NULL). */
static void parse_args(int argc, char **argv, struct config *cfg, const char **config_path)
{
	char err[1024];
	int c;

	/* first pass: the config file, so that flags override it whatever their order */
	*config_path = NULL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, main_short_opts, main_opts, NULL)) != -1) {
		if (c != 'c')
			continue;
		*config_path = optarg;
		if (config_load(cfg, optarg, err, sizeof(err)) < 0) {
			fprintf(stderr, "kilnd: %s\n", err);
			exit(2);
		}
	}
	opterr = 1;
	switch (apply_flags(argc, argv, cfg, err, sizeof(err))) {
	case 0:
		break;
	case 'h':
		usage(stdout);
		exit(0);
	case 'V':
		printf("kilnd %s\n", KILN_VERSION);
		exit(0);
	case -1:
		fprintf(stderr, "kilnd: %s\n", err);
		exit(2);
	default:
		usage(stderr);
		exit(2);
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

	if (kiln_token_new(token, hash) < 0) {
		log_error("cannot make a random token: %s", strerror(errno));
		return -1;
	}
	if (store_admin_ensure(st, hash, k->cfg.admin_credits, &admin, &created) != STORE_OK) {
		log_error("cannot create the admin account");
		return -1;
	}
	memcpy(k->admin_id, admin.id, sizeof(k->admin_id));
	snprintf(path, sizeof(path), "%s/admin.token", k->cfg.data_dir);
	if (created) {
		if (kiln_write_admin_token(k->cfg.data_dir, token) < 0) {
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

/* What a SIGHUP changed: the keys applied and the keys that need a restart. */
struct reload {
	struct kiln *k;
	const struct config *next;
	char applied[512], restart[1024];
};

/* Appends key to a ", "-separated list in buf. */
static void list_add(char *buf, size_t len, const char *key)
{
	size_t n = strlen(buf);

	snprintf(buf + n, len - n, "%s%s", n ? ", " : "", key);
}

/* config_diff()'s callback: applies one changed key, or notes that it cannot be. */
static void reload_key(void *cls, const char *key)
{
	struct reload *r = cls;
	struct config *cfg = &r->k->cfg;
	const struct config *next = r->next;

	if (strcmp(key, "log_level") == 0) {
		memcpy(cfg->log_level, next->log_level, sizeof(cfg->log_level));
		log_set_level((enum log_level)log_level_parse(next->log_level));
	} else if (strcmp(key, "max_upload_bytes") == 0) {
		cfg->max_upload_bytes = next->max_upload_bytes;
	} else if (strcmp(key, "max_rows") == 0) {
		cfg->max_rows = next->max_rows;
		r->k->limits.max_rows = next->max_rows;
	} else if (strcmp(key, "max_attempts") == 0) {
		cfg->max_attempts = next->max_attempts;
	} else if (strcmp(key, "credits_per_image") == 0) {
		cfg->credits_per_image = next->credits_per_image;
	} else if (strcmp(key, "shutdown_timeout") == 0) {
		cfg->shutdown_timeout = next->shutdown_timeout;
	} else if (strcmp(key, "max_active_batches") == 0) {
		cfg->max_active_batches = next->max_active_batches;
	} else if (strcmp(key, "max_queued_images") == 0) {
		cfg->max_queued_images = next->max_queued_images;
	} else if (strcmp(key, "admin_credits") == 0) {
		log_info("SIGHUP: admin_credits is only used when the data dir is made; ignored");
		return;
	} else {
		list_add(r->restart, sizeof(r->restart), key);
		return;
	}
	list_add(r->applied, sizeof(r->applied), key);
}

/*
 * SIGHUP: re-reads the config file and the flags over it, applies what can
 * change while running and logs what could not.  A bad file changes nothing.
 */
static void reload(struct kiln *k, int argc, char **argv, const char *config_path)
{
	struct config *next = malloc(sizeof(*next));
	struct reload r;
	char err[1024];

	if (!next) {
		log_error("SIGHUP: out of memory; nothing reloaded");
		return;
	}
	config_defaults(next);
	if (config_path && config_load(next, config_path, err, sizeof(err)) < 0) {
		log_error("SIGHUP: %s; nothing reloaded, the running settings are kept", err);
		free(next);
		return;
	}
	opterr = 0;
	if (apply_flags(argc, argv, next, err, sizeof(err)) != 0) {
		log_error("SIGHUP: %s; nothing reloaded", err);
		free(next);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.k = k;
	r.next = next;
	config_diff(&k->cfg, next, reload_key, &r);
	if (memcmp(k->cfg.cost, next->cost, sizeof(next->cost)) != 0) {
		memcpy(k->cfg.cost, next->cost, sizeof(next->cost));
		list_add(r.applied, sizeof(r.applied), "cost");
	}
	log_info("SIGHUP: reloaded %s: applied: %s; needs a restart: %s",
		 config_path ? config_path : "(no --config file; the flags only)",
		 r.applied[0] ? r.applied : "nothing changed", r.restart[0] ? r.restart : "none");
	if (r.restart[0])
		log_warn("SIGHUP: %s changed but can only change with a restart (engine settings"
			 " included); the running values are kept", r.restart);
	free(next);
}

/* Reads one signal from the signalfd; its number, or 0 when none could be read. */
static int read_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	return (int)si.ssi_signo;
}

/*
 * The shutdown's middle: no new claims, the engine calls in flight get up
 * to shutdown_timeout seconds (a second SIGINT/SIGTERM ends the wait), then
 * the workers stop and what still runs is cancelled.
 */
static void drain(struct kiln *k, int sfd)
{
	int64_t deadline = util_mono_ms() + (int64_t)k->cfg.shutdown_timeout * 1000;
	unsigned busy;

	sched_drain(k->sched);
	busy = sched_busy(k->sched);
	if (busy)
		log_info("waiting up to %u s for %u engine call(s) in flight",
			 k->cfg.shutdown_timeout, busy);
	while (busy && util_mono_ms() < deadline) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };

		if (poll(&p, 1, 50) > 0) {
			int sig = read_signal(sfd);

			if (sig == SIGINT || sig == SIGTERM) {
				log_info("second %s: not waiting any longer",
					 sig == SIGINT ? "SIGINT" : "SIGTERM");
				break;
			}
		}
		busy = sched_busy(k->sched);
	}
	busy = sched_busy(k->sched);
	if (busy)
		log_info("cancelling %u engine call(s) still in flight; their images go back to"
			 " pending and are made after a restart", busy);
	sched_stop(k->sched);
	k->sched = NULL;
}

/* Copies the WAL into kiln.db so that the data dir is one file at rest. */
static void checkpoint(struct kiln *k)
{
	struct store *st = store_pool_get(k->pool);
	int frames = 0;

	if (!st)
		return;
	if (store_checkpoint(st, &frames) == STORE_OK)
		log_info("store checkpointed (%d WAL frames)", frames);
	store_pool_put(k->pool, st);
}

/* The store's notifier: a commit wrote events, maybe webhook deliveries. */
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
	const char *config_path;
	sigset_t sigs;
	char err[1024];
	int sig = 0, sfd, rc = 1;

	if (argc > 1 && strcmp(argv[1], "inspect") == 0)
		return inspect_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "backup") == 0)
		return backup_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return restore_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "account") == 0)
		return account_cmd_main(argc - 1, argv + 1);
	memset(&k, 0, sizeof(k));
	config_defaults(&k.cfg);
	parse_args(argc, argv, &k.cfg, &config_path);
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
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "kilnd: signalfd: %s\n", strerror(errno));
		return 2;
	}

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
	if (ensure_admin(&k, st) < 0 || store_meta_set(st, "kilnd_version", KILN_VERSION) != STORE_OK) {
		store_close(st);
		return 2;
	}
	store_close(st);
	k.pool = store_pool_new(k.db_path, k.cfg.http_threads + k.cfg.workers + 2);
	if (!k.pool) {
		fprintf(stderr, "kilnd: out of memory\n");
		return 2;
	}
	/* counters, the event hub, the webhook thread, then the notifier */
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
	sd_notifyf(0, "READY=1\nSTATUS=listening on port %u", api_port(k.api));

	while (sig != SIGINT && sig != SIGTERM) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		sig = read_signal(sfd);
		if (sig == SIGHUP) {
			sd_notify(0, "RELOADING=1");
			reload(&k, argc, argv, config_path);
			sd_notify(0, "READY=1");
		}
	}
	sd_notify(0, "STOPPING=1");
	log_info("received %s; shutting down: no new requests, no new images",
		 sig == SIGINT ? "SIGINT" : "SIGTERM");
	rc = 0;
	api_stop(k.api);
	drain(&k, sfd);
	checkpoint(&k);
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
	close(sfd);
	if (rc == 0)
		log_info("stopped");
	return rc;
}
