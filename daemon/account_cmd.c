/*
 * account_cmd.c — `kilnd account ...`; see account_cmd.h.
 *
 * DESIGN
 * Subcommand first, then options and arguments in any order (read by hand:
 * a negative DELTA such as -5 is an argument, not an option).  Output is a
 * few plain lines for people, or one JSON object per account with --json
 * for scripts (api_account_json(): the same object as GET /v1/accounts,
 * limits as in force under the config given, or the defaults).  A token is
 * printed once, when it is made; only its hash is stored.  Replacing the
 * admin's token rewrites <data_dir>/admin.token too.  `limits` reads its
 * values with config_set(), so they are checked as in kilnd.conf.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api.h"
#include "daemon/account_cmd.h"
#include "daemon/config.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/util.h"
#include "store/store.h"

static void account_usage(FILE *f)
{
	fprintf(f,
		"usage: kilnd account add NAME [--credits N]   make an account; prints its token (once)\n"
		"       kilnd account list                     every account and its credits\n"
		"       kilnd account credit ACCOUNT DELTA     grant DELTA credits (negative: take back)\n"
		"       kilnd account token ACCOUNT            replace the token; prints the new one\n"
		"       kilnd account limits ACCOUNT KEY=VALUE...  the account's own limits: KEY is\n"
		"           max_active_batches, max_queued_images or max_upload_bytes; VALUE as in\n"
		"           kilnd.conf, or default for the config's\n"
		"\n"
		"ACCOUNT is an account's id or name.  Works on the store of the data dir,\n"
		"also while kilnd runs on it.\n"
		"\n"
		"  -d, --data-dir DIR    the data dir (default ./kiln-data)\n"
		"  -c, --config FILE     take data_dir from this kilnd.conf\n"
		"  -n, --credits N       credits granted to a new account (0)\n"
		"  -j, --json            print JSON (one object per line)\n"
		"  -h, --help            this text\n"
		"\n"
		"Exit status: 0 done, 1 refused (no such account, name taken, not enough\n"
		"credits), 2 a usage or store error.\n");
}

/* Parses a whole number in [min, max]; 0 or -1. */
static int parse_int64(const char *v, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (*v == '\0' || *end || errno || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* What every subcommand needs. */
struct cmd {
	struct store *st;
	const struct config *cfg;
	const char *data_dir;
	int json;
};

static void print_account(const struct cmd *c, const struct store_account *a, const char *token)
{
	unsigned batches, images;
	uint64_t upload;

	if (c->json) {
		cJSON *o = api_account_json(a, c->cfg);
		char *text;

		if (token)
			cJSON_AddStringToObject(o, "token", token);
		text = cJSON_PrintUnformatted(o);
		if (text)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
		return;
	}
	printf("%-24s  %-20s %s available %" PRId64 ", reserved %" PRId64 ", charged %" PRId64
	       ", granted %" PRId64 "\n", a->id, a->name, a->is_admin ? "admin" : "     ",
	       a->available, a->reserved, a->charged, a->available + a->reserved + a->charged);
	api_account_limits(a, c->cfg, &batches, &images, &upload);
	printf("%-24s  limits: %u batches, %u images at once, uploads up to %" PRIu64 " bytes%s\n", "",
	       batches, images, upload, a->max_active_batches >= 0 || a->max_queued_images >= 0 ||
	       a->max_upload_bytes >= 0 ? " (its own)" : "");
	if (token)
		printf("token: %s\n(shown only now: kiln keeps only its hash)\n", token);
}

static int list_one(void *cls, const struct store_account *a)
{
	print_account(cls, a, NULL);
	return 0;
}

/* Finds ACCOUNT by id or name; 0, or the exit status with the message printed. */
static int find(struct store *st, const char *which, struct store_account *a)
{
	int rc = store_account_find(st, which, a);

	if (rc == STORE_OK)
		return 0;
	if (rc == STORE_NOT_FOUND) {
		fprintf(stderr, "kilnd account: no account with the id or name \"%s\""
			" (kilnd account list shows them)\n", which);
		return 1;
	}
	return 2;
}

/*
 * `limits ACCOUNT KEY=VALUE...`: each KEY one of max_active_batches,
 * max_queued_images, max_upload_bytes, checked and read as in the config
 * file; VALUE `default` goes back to the config's.  Returns the exit status.
 */
static int set_limits(const struct cmd *c, struct store_account *a, char **args, int nargs)
{
	int64_t v[3] = { -2, -2, -2 };
	static const char *const keys[3] = { "max_active_batches", "max_queued_images",
					     "max_upload_bytes" };
	struct config tmp;
	char err[512];

	for (int i = 0; i < nargs; i++) {
		const char *eq = strchr(args[i], '=');
		int k = -1;

		for (int j = 0; j < 3 && eq; j++) {
			if (strlen(keys[j]) == (size_t)(eq - args[i]) &&
			    strncmp(args[i], keys[j], strlen(keys[j])) == 0)
				k = j;
		}
		if (k < 0) {
			fprintf(stderr, "kilnd account limits: \"%s\" is not KEY=VALUE with KEY one of"
				" max_active_batches, max_queued_images, max_upload_bytes\n", args[i]);
			return 2;
		}
		if (strcmp(eq + 1, "default") == 0) {
			v[k] = -1;
			continue;
		}
		config_defaults(&tmp);
		if (config_set(&tmp, keys[k], eq + 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "kilnd account limits: %s (or \"default\")\n", err);
			return 2;
		}
		v[k] = k == 0 ? tmp.max_active_batches : k == 1 ? tmp.max_queued_images
								 : (int64_t)tmp.max_upload_bytes;
	}
	if (store_account_set_limits(c->st, a->id, v[0], v[1], v[2], a) != STORE_OK)
		return 2;
	print_account(c, a, NULL);
	return 0;
}

/* Runs one subcommand on an open store; returns the exit status. */
static int run(const struct cmd *c, const char *cmd, char **args, int nargs, int64_t credits)
{
	struct store *st = c->st;
	struct store_account a;
	char token[80], hash[65];
	int64_t delta;
	int rc;

	if (strcmp(cmd, "list") == 0 && nargs == 0)
		return store_account_list(st, list_one, (void *)c) == STORE_OK ? 0 : 2;
	if (strcmp(cmd, "limits") == 0 && nargs >= 1) {
		rc = find(st, args[0], &a);
		return rc != 0 ? rc : set_limits(c, &a, args + 1, nargs - 1);
	}
	if (strcmp(cmd, "add") == 0 && nargs == 1) {
		if (!api_account_name_ok(args[0])) {
			fprintf(stderr, "kilnd account add: a name is 1 to 100 bytes of UTF-8, without"
				" control characters\n");
			return 2;
		}
		if (kiln_token_new(token, hash) < 0)
			return 2;
		rc = store_account_create(st, args[0], hash, credits, util_now_ms(), &a);
		if (rc == STORE_EXISTS) {
			fprintf(stderr, "kilnd account add: an account named \"%s\" exists\n", args[0]);
			return 1;
		}
		if (rc != STORE_OK)
			return 2;
		print_account(c, &a, token);
		return 0;
	}
	if (strcmp(cmd, "credit") == 0 && nargs == 2) {
		if (parse_int64(args[1], -1000000000000LL, 1000000000000LL, &delta) < 0 || delta == 0) {
			fprintf(stderr, "kilnd account credit: DELTA is a whole number of credits, not 0"
				" (negative to take back)\n");
			return 2;
		}
		rc = find(st, args[0], &a);
		if (rc != 0)
			return rc;
		rc = store_account_credit(st, a.id, delta, util_now_ms(), &a);
		if (rc == STORE_NO_CREDITS) {
			fprintf(stderr, "kilnd account credit: %s has %" PRId64 " credits available;"
				" at most that many can be taken back\n", a.name, a.available);
			return 1;
		}
		if (rc != STORE_OK)
			return 2;
		print_account(c, &a, NULL);
		return 0;
	}
	if (strcmp(cmd, "token") == 0 && nargs == 1) {
		rc = find(st, args[0], &a);
		if (rc != 0)
			return rc;
		if (kiln_token_new(token, hash) < 0 ||
		    store_account_set_token(st, a.id, hash, util_now_ms(), &a) != STORE_OK)
			return 2;
		if (a.is_admin && kiln_write_admin_token(c->data_dir, token) < 0) {
			fprintf(stderr, "kilnd account token: cannot rewrite %s/admin.token: %s\n",
				c->data_dir, strerror(errno));
			return 2;
		}
		print_account(c, &a, token);
		return 0;
	}
	account_usage(stderr);
	return 2;
}

/*
 * 1 when argv[*i] is the option (as "--opt V", "-o V" or "--opt=V"), with
 * its value in *v and *i advanced past it; else 0.
 */
static int opt_value(int argc, char **argv, int *i, const char *lng, const char *shrt,
		     const char **v)
{
	size_t n = strlen(lng);

	if (strncmp(argv[*i], lng, n) == 0 && argv[*i][n] == '=') {
		*v = argv[*i] + n + 1;
		return 1;
	}
	if ((strcmp(argv[*i], lng) == 0 || strcmp(argv[*i], shrt) == 0) && *i + 1 < argc) {
		*i += 1;
		*v = argv[*i];
		return 1;
	}
	return 0;
}

int account_cmd_main(int argc, char **argv)
{
	struct config cfg;
	struct store *st = NULL;
	const char *data_dir = NULL, *cmd, *v;
	char err[1024], path[1200];
	char *args[8];
	struct stat sb;
	int64_t credits = 0, num;
	int json = 0, nargs = 0, rc;

	config_defaults(&cfg);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		account_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	/* by hand rather than getopt: "-5" is a DELTA, not an option */
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (opt_value(argc, argv, &i, "--data-dir", "-d", &v)) {
			data_dir = v;
		} else if (opt_value(argc, argv, &i, "--config", "-c", &v)) {
			if (config_load(&cfg, v, err, sizeof(err)) < 0) {
				fprintf(stderr, "kilnd account: %s\n", err);
				return 2;
			}
		} else if (opt_value(argc, argv, &i, "--credits", "-n", &v)) {
			if (parse_int64(v, 0, 1000000000000LL, &credits) < 0) {
				fprintf(stderr, "kilnd account: --credits takes a whole number from 0"
					" to 10^12\n");
				return 2;
			}
		} else if (strcmp(a, "--json") == 0 || strcmp(a, "-j") == 0) {
			json = 1;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			account_usage(stdout);
			return 0;
		} else if (a[0] == '-' && parse_int64(a, INT64_MIN, INT64_MAX, &num) < 0) {
			fprintf(stderr, "kilnd account: unknown option or missing value: %s\n", a);
			account_usage(stderr);
			return 2;
		} else if (nargs < 8) {
			args[nargs++] = argv[i];
		} else {
			account_usage(stderr);
			return 2;
		}
	}
	if (!data_dir)
		data_dir = cfg.data_dir;
	if (snprintf(path, sizeof(path), "%s/kiln.db", data_dir) >= (int)sizeof(path)) {
		fprintf(stderr, "kilnd account: the data dir's name is too long\n");
		return 2;
	}
	if (stat(path, &sb) < 0) {
		fprintf(stderr, "kilnd account: no store at %s: start kilnd once on this data dir,"
			" or give the right --data-dir\n", path);
		return 2;
	}
	if (store_open(path, &st, err, sizeof(err)) < 0 || store_migrate(st, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd account: %s\n", err);
		store_close(st);
		return 2;
	}
	{
		struct cmd c = { st, &cfg, data_dir, json };

		rc = run(&c, cmd, args, nargs, credits);
	}
	store_close(st);
	return rc;
}
