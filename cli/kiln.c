/*
 * kiln.c — the `kiln` command: kilnd's API from a terminal or a script.
 *
 * DESIGN
 * One table of commands (name, usage, help, the options it takes, how many
 * operands, its function).  main() reads every argument once into a struct
 * cli_opts (options may come before or after the command), checks them
 * against the command's entry (a wrong one is a usage error, exit 2), finds
 * the URL (--url, KILN_URL, else kilnd's default http://127.0.0.1:5456) and
 * the token (KILN_TOKEN, else the file KILN_TOKEN_FILE, else
 * ./kiln-data/admin.token when it exists), and runs the command.  Each
 * command makes its requests through cli/http.c and prints either a
 * readable view or, with --json, the API's own JSON; errors go to stderr
 * through http_fail() with the exit codes of http.h (kiln(1) lists them).
 * Files (templates, archives) are written to NAME.part and renamed when
 * complete, so a broken download never leaves a truncated file under the
 * real name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/http.h"
#include "cli/watch.h"

#define CLI_DEFAULT_URL "http://127.0.0.1:5456"
#define CLI_TOKEN_FILE "kiln-data/admin.token"
#define CLI_MAX_OPERANDS 4

enum cli_opt {
	OPT_XLSX = 1 << 0,
	OPT_OUT = 1 << 1,
	OPT_START = 1 << 2,
	OPT_WAIT = 1 << 3,
	OPT_PUBLIC = 1 << 4,
	OPT_STATE = 1 << 5,
	OPT_LIMIT = 1 << 6
};

struct cli_opts {
	int json, help, version;
	unsigned used;                       /* the OPT_ bits given */
	const char *url, *out, *state;
	long limit;
	const char *cmd;
	const char *operands[CLI_MAX_OPERANDS];
	int n_operands;
};

struct cli {
	struct http_client c;
	struct cli_opts o;
};

struct cli_command {
	const char *name;
	const char *usage;
	const char *help;
	unsigned opts;
	int min_operands, max_operands;
	int (*run)(struct cli *cli);
};

static const struct cli_command *find_command(const char *name);

/* ---- small helpers --------------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k, const char *dflt)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));

	return s ? s : dflt;
}

static long long jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

/* Prints obj as the API's JSON, one line. */
static void print_json(const cJSON *obj)
{
	char *t = cJSON_PrintUnformatted(obj);

	if (t)
		printf("%s\n", t);
	free(t);
}

/* "2026-11-24T21:40:00Z" → "2026-11-24 21:40:00"; "-" for null. */
static const char *when(const cJSON *o, const char *k, char *buf, size_t len)
{
	const char *s = jstr(o, k, NULL);

	if (!s)
		return "-";
	snprintf(buf, len, "%.19s", s);
	if (strlen(buf) > 10 && buf[10] == 'T')
		buf[10] = ' ';
	return buf;
}

/* Copies at most max characters (not bytes) of s, cutting on a UTF-8 boundary, "…" when cut. */
static void clip(const char *s, size_t max, char *out, size_t len)
{
	size_t o = 0, chars = 0;

	for (; *s && o + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch & 0xC0) != 0x80) {
			if (chars == max)
				break;
			chars++;
		}
		out[o++] = (ch == '\n' || ch == '\r' || ch == '\t') ? ' ' : (char)ch;
	}
	out[o] = '\0';
	if (*s && o >= 3 && o + 4 < len) {
		while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
			o--;
		if (o > 0)
			o--;
		memcpy(out + o, "\xE2\x80\xA6", 4);
	}
}

static void human_bytes(double b, char *out, size_t len)
{
	if (b >= 1024.0 * 1024 * 1024)
		snprintf(out, len, "%.1f GiB", b / (1024.0 * 1024 * 1024));
	else if (b >= 1024.0 * 1024)
		snprintf(out, len, "%.1f MiB", b / (1024.0 * 1024));
	else if (b >= 1024.0)
		snprintf(out, len, "%.1f KiB", b / 1024.0);
	else
		snprintf(out, len, "%.0f B", b);
}

/* A GET or a body-less POST/DELETE answering JSON; 0 with *out, else the exit code. */
static int call(struct cli *cli, const char *method, const char *path, const char *json, cJSON **out)
{
	struct http_resp r;
	int rc = http_request(&cli->c, &(struct http_req){ .method = method, .path = path,
							   .json = json, .timeout_s = 120 }, &r);

	*out = NULL;
	if (rc < 0 || r.status < 200 || r.status >= 300) {
		rc = http_fail(&cli->c, rc, &r);
		http_resp_free(&r);
		return rc;
	}
	*out = r.status == 204 ? cJSON_CreateObject() : http_json(&r);
	http_resp_free(&r);
	if (!*out) {
		fprintf(stderr, "kiln: kilnd's answer to %s %s is not JSON\n", method ? method : "GET",
			path);
		return HTTP_EXIT_API;
	}
	return 0;
}

/* A batch id operand: kilnd's ids are 24 hex digits; anything else is not found by kilnd. */
static const char *batch_id(struct cli *cli)
{
	return cli->o.operands[0];
}

/* call() on /v1/batches/{the ID operand}{suffix}. */
static int batch_call(struct cli *cli, const char *method, const char *suffix, cJSON **out)
{
	char path[256];

	snprintf(path, sizeof(path), "/v1/batches/%.64s%s", batch_id(cli), suffix);
	return call(cli, method, path, NULL, out);
}

/* ---- writing files ----------------------------------------------------------------------------- */

struct dl_progress {
	const char *name;
	int tty;
	int drawn;
	double t0, last;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The download's progress on stderr (a terminal only): bytes, percent, speed. */
static int dl_tick(void *ctx, long long now, long long total)
{
	struct dl_progress *p = ctx;
	double t = mono();
	char a[32], b[32], s[32];

	if (!p->tty || now == 0 || (p->drawn && t - p->last < 0.2))
		return 0;
	p->drawn = 1;
	p->last = t;
	human_bytes((double)now, a, sizeof(a));
	human_bytes(t > p->t0 ? now / (t - p->t0) : 0, s, sizeof(s));
	if (total > 0) {
		human_bytes((double)total, b, sizeof(b));
		fprintf(stderr, "\rdownloading %s  %s of %s  %3d%%  %s/s\033[K", p->name, a, b,
			(int)(100.0 * now / total), s);
	} else {
		fprintf(stderr, "\rdownloading %s  %s  %s/s\033[K", p->name, a, s);
	}
	return 0;
}

/* Whether a's extension is b's: the server names the file, but not its kind. */
static int same_ext(const char *a, const char *b)
{
	const char *ea = strrchr(a, '.'), *eb = strrchr(b, '.');

	return ea && eb && strcmp(ea, eb) == 0;
}

/*
 * GETs path into a file: out ("-" for standard output), else the server's
 * file name (a base name, with dflt's extension: kilnd cannot make the CLI
 * write a Makefile), else dflt.  Written to NAME.part and renamed when complete.
 * no_clobber: refuse to replace an existing file whose name was not given.
 */
static int save(struct cli *cli, const char *path, const char *out, const char *dflt, int no_clobber,
		int progress)
{
	struct dl_progress p = { .name = "", .tty = progress && isatty(STDERR_FILENO) };
	struct http_req req = { .path = path, .on_tick = dl_tick, .ctx = &p };
	struct http_resp r;
	char part[4096], final[4096];
	const char *name;
	struct stat sb;
	FILE *f;
	int rc;

	p.t0 = p.last = mono();
	if (out && strcmp(out, "-") == 0) {
		req.sink = stdout;
		p.tty = 0;
		rc = http_request(&cli->c, &req, &r);
		if (rc < 0 || r.status != 200) {
			rc = http_fail(&cli->c, rc, &r);
			http_resp_free(&r);
			return rc;
		}
		http_resp_free(&r);
		return fflush(stdout) == 0 ? 0 : HTTP_EXIT_API;
	}
	if (!out && no_clobber && stat(dflt, &sb) == 0) {
		fprintf(stderr, "kiln: %s exists; not replacing it (choose a name with -o FILE, or -o - for"
			" standard output)\n", dflt);
		return HTTP_EXIT_API;
	}
	snprintf(part, sizeof(part), "%s.kiln-%ld.part", out ? out : dflt, (long)getpid());
	f = fopen(part, "wb");
	if (!f) {
		fprintf(stderr, "kiln: cannot write %s: %s\n", part, strerror(errno));
		return HTTP_EXIT_API;
	}
	p.name = out ? out : dflt;
	req.sink = f;
	rc = http_request(&cli->c, &req, &r);
	if (p.drawn)
		fprintf(stderr, "\r\033[K");
	if (fclose(f) != 0 && rc == 0 && r.status == 200) {
		fprintf(stderr, "kiln: cannot write %s: %s\n", part, strerror(errno));
		unlink(part);
		http_resp_free(&r);
		return HTTP_EXIT_API;
	}
	if (rc < 0 || r.status != 200) {
		unlink(part);
		rc = http_fail(&cli->c, rc, &r);
		http_resp_free(&r);
		return rc;
	}
	name = out ? out : (r.filename && same_ext(r.filename, dflt) ? r.filename : dflt);
	snprintf(final, sizeof(final), "%s", name);
	if (!out && no_clobber && stat(final, &sb) == 0) {
		fprintf(stderr, "kiln: %s exists; not replacing it (choose a name with -o FILE, or -o - for"
			" standard output)\n", final);
		unlink(part);
		http_resp_free(&r);
		return HTTP_EXIT_API;
	}
	if (rename(part, final) != 0) {
		fprintf(stderr, "kiln: cannot write %s: %s\n", final, strerror(errno));
		unlink(part);
		http_resp_free(&r);
		return HTTP_EXIT_API;
	}
	if (stat(final, &sb) != 0)
		sb.st_size = 0;
	if (cli->o.json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "file", final);
		cJSON_AddNumberToObject(o, "bytes", (double)sb.st_size);
		print_json(o);
		cJSON_Delete(o);
	} else {
		char sz[32];

		human_bytes((double)sb.st_size, sz, sizeof(sz));
		printf("saved %s (%s)\n", final, sz);
	}
	http_resp_free(&r);
	return 0;
}

/* ---- printing batches ---------------------------------------------------------------------------- */

static void print_preview(const cJSON *b)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "preview");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, "fields"), *it;

	if (!cJSON_IsObject(f))
		return;
	printf("preview of row %lld:\n", jnum(p, "row"));
	cJSON_ArrayForEach(it, f) {
		char v[400];

		if (cJSON_IsString(it))
			clip(it->valuestring, 100, v, sizeof(v));
		else if (cJSON_IsNumber(it))
			snprintf(v, sizeof(v), "%lld", (long long)it->valuedouble);
		else
			snprintf(v, sizeof(v), "-");
		printf("  %-16s %s\n", it->string, *v ? v : "-");
	}
}

static void print_warnings(const cJSON *b)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(b, "warnings"), *d;

	if (cJSON_GetArraySize(w) == 0)
		return;
	printf("warnings:\n");
	cJSON_ArrayForEach(d, w)
		http_print_detail(stdout, "  ", d);
}

static void progress_text(const cJSON *b, char *out, size_t len)
{
	long long total = jnum(b, "images_total"), done = jnum(b, "images_done");
	long long failed = jnum(b, "images_failed");
	double pct = total ? 100.0 * (done + failed) / total : 0;
	char bar[24];
	int fill = total ? (int)(20.0 * (done + failed) / total) : 0;

	for (int i = 0; i < 20; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[20] = '\0';
	snprintf(out, len, "[%s] %lld/%lld %.1f%%  (%lld made, %lld failed, %lld running)", bar,
		 done + failed, total, pct, done, failed, jnum(b, "images_running"));
}

/* The one-line answer of start, stop and resume: "batch ID: queued". */
static void print_state_line(const cJSON *b)
{
	printf("batch %s: %s", jstr(b, "id", "?"), jstr(b, "state", "?"));
	if (jnum(b, "images_total"))
		printf(" (%lld of %lld images made)", jnum(b, "images_done"), jnum(b, "images_total"));
	printf("\n");
}

/* Prints a changed batch (the API's JSON, or its state line), frees it; 0. */
static int answer_state(struct cli *cli, cJSON *b)
{
	if (cli->o.json)
		print_json(b);
	else
		print_state_line(b);
	cJSON_Delete(b);
	return 0;
}

/* ---- the commands ---------------------------------------------------------------------------- */

static int cmd_template(struct cli *cli)
{
	const char *kind = cli->o.n_operands ? cli->o.operands[0] : "simple";
	const char *ext = (cli->o.used & OPT_XLSX) ? "xlsx" : "csv";
	char path[64], dflt[64];

	if (strcmp(kind, "simple") != 0 && strcmp(kind, "full") != 0) {
		fprintf(stderr, "kiln: the template is simple or full, not \"%s\"\n", kind);
		return HTTP_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/v1/templates/%s.%s", kind, ext);
	snprintf(dflt, sizeof(dflt), "kiln-%s.%s", kind, ext);
	return save(cli, path, cli->o.out, dflt, 1, 0);
}

/* The readable answer to an upload: what kiln read, what it costs. */
static void print_draft(const cJSON *b)
{
	long long need = jnum(b, "credits_required"), have = jnum(b, "credits_available");

	printf("batch %s  %s  (%s)\n", jstr(b, "id", "?"), jstr(b, "name", ""), jstr(b, "state", "?"));
	printf("%lld rows, %lld images, %lld credits required, %lld available\n", jnum(b, "rows"),
	       jnum(b, "images_total"), need, have);
	print_preview(b);
	print_warnings(b);
	if (need > have)
		printf("not enough credits to start it: ask the admin for %lld more\n", need - have);
}

static int cmd_submit(struct cli *cli)
{
	const char *file = cli->o.operands[0];
	int start = (cli->o.used & (OPT_START | OPT_WAIT)) != 0;
	struct http_resp r;
	char path[160];
	cJSON *b, *started;
	int rc;

	if (access(file, R_OK) != 0) {
		fprintf(stderr, "kiln: cannot read %s: %s\n", file, strerror(errno));
		return HTTP_EXIT_API;
	}
	rc = http_request(&cli->c, &(struct http_req){ .method = "POST", .path = "/v1/batches",
						       .upload = file, .timeout_s = 600 }, &r);
	if (rc < 0 || r.status != 201) {
		rc = http_fail(&cli->c, rc, &r);
		http_resp_free(&r);
		return rc;
	}
	b = http_json(&r);
	http_resp_free(&r);
	if (!b) {
		fprintf(stderr, "kiln: kilnd's answer to the upload is not JSON\n");
		return HTTP_EXIT_API;
	}
	if (!start) {
		if (cli->o.json)
			print_json(b);
		else {
			print_draft(b);
			printf("start it with: kiln start %s\n", jstr(b, "id", "?"));
		}
		cJSON_Delete(b);
		return 0;
	}
	if (!cli->o.json)
		print_draft(b);
	snprintf(path, sizeof(path), "/v1/batches/%s/start", jstr(b, "id", ""));
	rc = call(cli, "POST", path, NULL, &started);
	if (rc) {
		fprintf(stderr, "kiln: the draft %s was kept; start it with: kiln start %s\n",
			jstr(b, "id", ""), jstr(b, "id", ""));
		cJSON_Delete(b);
		return rc;
	}
	cJSON_Delete(b);
	b = started;
	if (!(cli->o.used & OPT_WAIT))
		return answer_state(cli, b);
	{
		struct watch_opts wo = { .tty = isatty(STDOUT_FILENO), .quiet = cli->o.json };
		char id[64];
		cJSON *final = NULL;

		snprintf(id, sizeof(id), "%s", jstr(b, "id", ""));
		cJSON_Delete(b);
		rc = watch_run(&cli->c, id, &wo, &final);
		if (final && cli->o.json)
			print_json(final);
		cJSON_Delete(final);
		return rc;
	}
}

/* start, stop, resume: POST /v1/batches/{id}/ACTION. */
static int change(struct cli *cli, const char *action)
{
	char suffix[32];
	cJSON *b;
	int rc;

	snprintf(suffix, sizeof(suffix), "/%s", action);
	rc = batch_call(cli, "POST", suffix, &b);
	return rc ? rc : answer_state(cli, b);
}

static int cmd_start(struct cli *cli)
{
	return change(cli, "start");
}

static int cmd_stop(struct cli *cli)
{
	return change(cli, "stop");
}

static int cmd_resume(struct cli *cli)
{
	return change(cli, "resume");
}

static int cmd_delete(struct cli *cli)
{
	cJSON *b;
	int rc = batch_call(cli, "DELETE", "", &b);

	if (rc)
		return rc;
	cJSON_Delete(b);
	if (cli->o.json) {
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "id", batch_id(cli));
		cJSON_AddBoolToObject(b, "deleted", 1);
		print_json(b);
		cJSON_Delete(b);
	} else {
		printf("deleted batch %s\n", batch_id(cli));
	}
	return 0;
}

/*
 * Gathers up to limit items of a paged list (key "batches" or "images") into
 * one answer {key: [...], "next_cursor": …}; 0 or the exit code.
 */
static int gather(struct cli *cli, const char *base, const char *key, cJSON **out)
{
	long limit = cli->o.limit > 0 ? cli->o.limit : 50;
	cJSON *all = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(all, key);
	char cursor[128] = "";
	int rc;

	*out = NULL;
	for (;;) {
		char path[512];
		long want = limit - cJSON_GetArraySize(items);
		cJSON *page, *arr, *it, *next;

		snprintf(path, sizeof(path), "%s%slimit=%ld%s%s", base, strchr(base, '?') ? "&" : "?",
			 want > 500 ? 500 : want, cursor[0] ? "&cursor=" : "", cursor);
		rc = call(cli, "GET", path, NULL, &page);
		if (rc) {
			cJSON_Delete(all);
			return rc;
		}
		arr = cJSON_GetObjectItemCaseSensitive(page, key);
		while ((it = cJSON_DetachItemFromArray(arr, 0)) != NULL)
			cJSON_AddItemToArray(items, it);
		next = cJSON_GetObjectItemCaseSensitive(page, "next_cursor");
		cursor[0] = '\0';
		if (cJSON_IsString(next))
			snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
		cJSON_Delete(page);
		if (!cursor[0] || cJSON_GetArraySize(items) >= limit)
			break;
	}
	if (cursor[0])
		cJSON_AddStringToObject(all, "next_cursor", cursor);
	else
		cJSON_AddNullToObject(all, "next_cursor");
	*out = all;
	return 0;
}

/*
 * list and images: gathers the pages, then prints the API's JSON, or a line
 * saying there is nothing, or a table (header, then one row per item).
 */
static int show_list(struct cli *cli, const char *base, const char *key, const char *empty,
		     void (*header)(void), void (*row)(const cJSON *))
{
	const cJSON *it;
	cJSON *all;
	int rc = gather(cli, base, key, &all);

	if (rc)
		return rc;
	if (cli->o.json)
		print_json(all);
	else if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(all, key)) == 0)
		printf("%s\n", empty);
	else {
		header();
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(all, key))
			row(it);
		if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(all, "next_cursor")))
			printf("(more: --limit N shows more)\n");
	}
	cJSON_Delete(all);
	return 0;
}

static void batch_header(void)
{
	printf("%-24s  %-9s  %11s  %6s  %-19s  %s\n", "ID", "STATE", "IMAGES", "DONE", "CREATED", "NAME");
}

static void batch_row(const cJSON *b)
{
	char t[32], imgs[32], name[400];
	long long total = jnum(b, "images_total");
	long long settled = jnum(b, "images_done") + jnum(b, "images_failed");

	snprintf(imgs, sizeof(imgs), "%lld/%lld", settled, total);
	clip(jstr(b, "name", ""), 60, name, sizeof(name));
	printf("%-24s  %-9s  %11s  %5.1f%%  %-19s  %s\n", jstr(b, "id", "?"), jstr(b, "state", "?"),
	       imgs, total ? 100.0 * settled / total : 0.0, when(b, "created_at", t, sizeof(t)), name);
}

static int cmd_list(struct cli *cli)
{
	char base[128];

	if (cli->o.state)
		snprintf(base, sizeof(base), "/v1/batches?state=%s", cli->o.state);
	else
		snprintf(base, sizeof(base), "/v1/batches");
	return show_list(cli, base, "batches", cli->o.state ? "no batches in that state" :
			 "no batches (upload one with: kiln submit FILE)", batch_header, batch_row);
}

static int cmd_status(struct cli *cli)
{
	char t[32], prog[160];
	const cJSON *e;
	cJSON *b;
	int rc = batch_call(cli, "GET", "", &b);

	if (rc)
		return rc;
	if (cli->o.json) {
		print_json(b);
		cJSON_Delete(b);
		return 0;
	}
	progress_text(b, prog, sizeof(prog));
	printf("batch     %s\n", jstr(b, "id", "?"));
	printf("name      %s\n", jstr(b, "name", ""));
	printf("state     %s\n", jstr(b, "state", "?"));
	printf("progress  %s\n", prog);
	printf("rows      %lld\n", jnum(b, "rows"));
	printf("credits   %lld required, %lld charged, %lld reserved\n", jnum(b, "credits_required"),
	       jnum(b, "credits_charged"), jnum(b, "credits_reserved"));
	printf("created   %s\n", when(b, "created_at", t, sizeof(t)));
	printf("started   %s\n", when(b, "started_at", t, sizeof(t)));
	printf("finished  %s\n", when(b, "finished_at", t, sizeof(t)));
	e = cJSON_GetObjectItemCaseSensitive(b, "eta_seconds");
	if (cJSON_IsNumber(e))
		printf("eta       %lld s\n", (long long)e->valuedouble);
	printf("engine    %s\n", jstr(b, "engine", "?"));
	if (jstr(b, "error", NULL))
		printf("error     %s\n", jstr(b, "error", ""));
	print_warnings(b);
	cJSON_Delete(b);
	return 0;
}

static int cmd_watch(struct cli *cli)
{
	struct watch_opts wo = { .json = cli->o.json, .tty = isatty(STDOUT_FILENO) };

	return watch_run(&cli->c, batch_id(cli), &wo, NULL);
}

static int cmd_download(struct cli *cli)
{
	char path[160], dflt[64];

	snprintf(path, sizeof(path), "/v1/batches/%s/archive", batch_id(cli));
	snprintf(dflt, sizeof(dflt), "%.30s.zip", batch_id(cli));
	return save(cli, path, cli->o.out, dflt, 0, 1);
}

static void image_header(void)
{
	printf("%-24s  %-24s  %5s  %2s  %-9s  %-7s  %s\n", "ID", "BATCH", "ROW", "#", "SIZE", "VISIBLE",
	       "PROMPT");
}

static void image_row(const cJSON *img)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(img, "fields");
	char size[32], prompt[400];

	snprintf(size, sizeof(size), "%lldx%lld", jnum(img, "width"), jnum(img, "height"));
	clip(jstr(f, "prompt", ""), 50, prompt, sizeof(prompt));
	printf("%-24s  %-24s  %5lld  %2lld  %-9s  %-7s  %s\n", jstr(img, "id", "?"),
	       jstr(img, "batch_id", "?"), jnum(img, "row"), jnum(img, "index"), size,
	       jstr(img, "visibility", "?"), prompt);
}

static int cmd_images(struct cli *cli)
{
	return show_list(cli, (cli->o.used & OPT_PUBLIC) ? "/v1/images?scope=public" : "/v1/images",
			 "images", "no images yet", image_header, image_row);
}

static int cmd_account(struct cli *cli)
{
	cJSON *a;
	int rc = call(cli, "GET", "/v1/account", NULL, &a);

	if (rc)
		return rc;
	if (cli->o.json) {
		print_json(a);
	} else {
		printf("account   %s%s\n", jstr(a, "name", "?"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "admin")) ? " (admin)" : "");
		printf("id        %s\n", jstr(a, "id", "?"));
		printf("credits   %lld available, %lld reserved, %lld charged\n",
		       jnum(a, "credits_available"), jnum(a, "credits_reserved"), jnum(a, "credits_charged"));
	}
	cJSON_Delete(a);
	return 0;
}

static int cmd_help(struct cli *cli);

static const struct cli_command commands[] = {
	{ "template", "kiln template [simple|full] [--xlsx] [-o FILE]",
	  "Downloads a spreadsheet template to fill: simple (the required columns) or full\n"
	  "(every column), as CSV or with --xlsx as an Excel workbook. Saved as\n"
	  "kiln-simple.csv (etc.) in the current folder, never over an existing file;\n"
	  "-o FILE names it (and may replace it), -o - writes it to standard output.",
	  OPT_XLSX | OPT_OUT, 0, 1, cmd_template },
	{ "submit", "kiln submit FILE [--start] [--wait]",
	  "Uploads a spreadsheet (.csv, .xls, .xlsx, .ods) as a new batch and shows what\n"
	  "kiln read: rows, images, credits, the first row and any warnings. A file with\n"
	  "problems is refused with every problem on its own line (row, column, cell,\n"
	  "value, what to do) and exit status 1. --start starts the batch at once;\n"
	  "--wait (implies --start) follows it like `kiln watch` until it ends, and exits\n"
	  "4 unless every image was made.",
	  OPT_START | OPT_WAIT, 1, 1, cmd_submit },
	{ "start", "kiln start ID", "Starts a draft batch (reserves its credits).", 0, 1, 1, cmd_start },
	{ "stop", "kiln stop ID", "Stops a batch within a second; finished images stay.", 0, 1, 1, cmd_stop },
	{ "resume", "kiln resume ID", "Resumes a stopped batch with the images not made yet.", 0, 1, 1,
	  cmd_resume },
	{ "delete", "kiln delete ID", "Deletes a batch that is not running, with its images.", 0, 1, 1,
	  cmd_delete },
	{ "list", "kiln list [--state STATE] [--limit N]",
	  "Your batches, newest first (50 unless --limit), with state and progress.",
	  OPT_STATE | OPT_LIMIT, 0, 0, cmd_list },
	{ "status", "kiln status ID", "One batch: state, progress, credits, times, warnings.", 0, 1, 1,
	  cmd_status },
	{ "watch", "kiln watch ID",
	  "Follows a batch until it is completed, failed or stopped. On a terminal: a\n"
	  "live progress bar with counts, rate and ETA; otherwise one line per change.\n"
	  "With --json, each new batch object on its own line. Exits 4 unless every\n"
	  "image was made. Ctrl-C ends the watch, not the batch.",
	  0, 1, 1, cmd_watch },
	{ "download", "kiln download ID [-o FILE]",
	  "Downloads the zip of the batch's finished images and manifest.csv (partial\n"
	  "while it runs), named as kilnd names it (stickers.zip) unless -o FILE; -o -\n"
	  "writes it to standard output. Progress on stderr when it is a terminal.",
	  OPT_OUT, 1, 1, cmd_download },
	{ "images", "kiln images [--public] [--limit N]",
	  "Your finished images, newest first; --public: every account's public ones.",
	  OPT_PUBLIC | OPT_LIMIT, 0, 0, cmd_images },
	{ "account", "kiln account", "Your account and its credits.", 0, 0, 0, cmd_account },
	{ "help", "kiln help [COMMAND]", "Help on kiln or on one command.", 0, 0, 1, cmd_help },
};

static void usage_all(FILE *f)
{
	fprintf(f, "usage: kiln [--url URL] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].usage + 5);
	fprintf(f, "\noptions for every command:\n"
		"  --url URL   kilnd's address (else $KILN_URL, else %s)\n"
		"  --json      print the API's JSON instead of the readable view\n"
		"  --help      help on the command\n"
		"\nThe token is $KILN_TOKEN, else the file $KILN_TOKEN_FILE, else\n"
		"./%s when it exists.\n"
		"Exit status: 0 ok, 1 kilnd answered with an error (or a local file failed),\n"
		"2 wrong usage, 3 kilnd not reachable, 4 the batch did not make every image\n"
		"(submit --wait, watch). See kiln(1).\n", CLI_DEFAULT_URL, CLI_TOKEN_FILE);
}

static void usage_one(FILE *f, const struct cli_command *c)
{
	fprintf(f, "usage: %s\n\n%s\n\nOptions of every command: --url URL, --json, --help (kiln --help).\n",
		c->usage, c->help);
}

static int cmd_help(struct cli *cli)
{
	const struct cli_command *c;

	if (cli->o.n_operands == 0) {
		usage_all(stdout);
		return 0;
	}
	c = find_command(cli->o.operands[0]);
	if (!c) {
		fprintf(stderr, "kiln: no command \"%s\"\n", cli->o.operands[0]);
		usage_all(stderr);
		return HTTP_EXIT_USAGE;
	}
	usage_one(stdout, c);
	return 0;
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* ---- the command line ---------------------------------------------------------------------------- */

/* The value of an option: "--url=X" or "--url X"; NULL (with a message) when missing. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) == 0 && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc) {
		fprintf(stderr, "kiln: %s needs a value\n", name);
		return NULL;
	}
	return argv[++*i];
}

static int is_opt(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

/* Reads argv into o; 0, or -1 after a usage message. */
static int parse_args(int argc, char **argv, struct cli_opts *o)
{
	int only_operands = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (only_operands || a[0] != '-' || strcmp(a, "-") == 0) {
			if (!o->cmd) {
				o->cmd = a;
			} else if (o->n_operands < CLI_MAX_OPERANDS) {
				o->operands[o->n_operands++] = a;
			} else {
				fprintf(stderr, "kiln: too many arguments\n");
				return -1;
			}
		} else if (strcmp(a, "--") == 0) {
			only_operands = 1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = 1;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			o->help = 1;
		} else if (strcmp(a, "--version") == 0) {
			o->version = 1;
		} else if (strcmp(a, "--xlsx") == 0) {
			o->used |= OPT_XLSX;
		} else if (strcmp(a, "--start") == 0) {
			o->used |= OPT_START;
		} else if (strcmp(a, "--wait") == 0) {
			o->used |= OPT_WAIT;
		} else if (strcmp(a, "--public") == 0) {
			o->used |= OPT_PUBLIC;
		} else if (strcmp(a, "-o") == 0 || is_opt(a, "--output")) {
			o->out = opt_value(argc, argv, &i, strcmp(a, "-o") == 0 ? "-o" : "--output");
			if (!o->out || !*o->out)
				return -1;
			o->used |= OPT_OUT;
		} else if (is_opt(a, "--url")) {
			o->url = opt_value(argc, argv, &i, "--url");
			if (!o->url)
				return -1;
		} else if (is_opt(a, "--state")) {
			o->state = opt_value(argc, argv, &i, "--state");
			if (!o->state)
				return -1;
			o->used |= OPT_STATE;
		} else if (is_opt(a, "--limit")) {
			const char *v = opt_value(argc, argv, &i, "--limit");
			char *end;

			if (!v)
				return -1;
			o->limit = strtol(v, &end, 10);
			if (!*v || *end || o->limit < 1 || o->limit > 100000) {
				fprintf(stderr, "kiln: --limit takes a whole number from 1 to 100000\n");
				return -1;
			}
			o->used |= OPT_LIMIT;
		} else {
			fprintf(stderr, "kiln: unknown option %s\n", a);
			return -1;
		}
	}
	return 0;
}

/* The names of the options in bits, for a usage error. */
static const char *opt_name(unsigned bit)
{
	switch (bit) {
	case OPT_XLSX: return "--xlsx";
	case OPT_OUT: return "-o";
	case OPT_START: return "--start";
	case OPT_WAIT: return "--wait";
	case OPT_PUBLIC: return "--public";
	case OPT_STATE: return "--state";
	default: return "--limit";
	}
}

/* The token: $KILN_TOKEN, else the file $KILN_TOKEN_FILE, else ./kiln-data/admin.token; malloc'd. */
static char *find_token(int *bad)
{
	const char *env = getenv("KILN_TOKEN"), *file = getenv("KILN_TOKEN_FILE");
	char buf[512];
	size_t n;
	FILE *f;

	*bad = 0;
	if (env && *env)
		return strdup(env);
	if (!file || !*file) {
		file = CLI_TOKEN_FILE;
		if (access(file, R_OK) != 0)
			return NULL;
	}
	f = fopen(file, "r");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		fprintf(stderr, "kiln: cannot read the token from %s: %s\n", file,
			f ? "the file is empty" : strerror(errno));
		if (f)
			fclose(f);
		*bad = 1;
		return NULL;
	}
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	return strdup(buf);
}

int main(int argc, char **argv)
{
	const struct cli_command *cmd;
	struct cli cli;
	const char *url;
	char *token;
	unsigned extra;
	int rc, bad;

	memset(&cli, 0, sizeof(cli));
	if (parse_args(argc, argv, &cli.o) < 0) {
		fprintf(stderr, "(kiln --help lists the commands and options)\n");
		return HTTP_EXIT_USAGE;
	}
	if (cli.o.version) {
		printf("kiln 1.0 (libcurl %s)\n", curl_version_info(CURLVERSION_NOW)->version);
		return 0;
	}
	if (!cli.o.cmd) {
		usage_all(cli.o.help ? stdout : stderr);
		return cli.o.help ? 0 : HTTP_EXIT_USAGE;
	}
	cmd = find_command(cli.o.cmd);
	if (!cmd) {
		fprintf(stderr, "kiln: no command \"%s\"\n", cli.o.cmd);
		usage_all(stderr);
		return HTTP_EXIT_USAGE;
	}
	if (cli.o.help) {
		usage_one(stdout, cmd);
		return 0;
	}
	extra = cli.o.used & ~cmd->opts;
	if (extra) {
		fprintf(stderr, "kiln: %s does not take %s\n", cmd->name, opt_name(extra & -extra));
		usage_one(stderr, cmd);
		return HTTP_EXIT_USAGE;
	}
	if (cli.o.n_operands < cmd->min_operands || cli.o.n_operands > cmd->max_operands) {
		fprintf(stderr, "kiln: %s takes %s\n", cmd->name,
			cli.o.n_operands < cmd->min_operands ? "more arguments" : "fewer arguments");
		usage_one(stderr, cmd);
		return HTTP_EXIT_USAGE;
	}
	if (cmd->run == cmd_help)
		return cmd_help(&cli);
	url = cli.o.url ? cli.o.url : getenv("KILN_URL");
	if (!url || !*url)
		url = CLI_DEFAULT_URL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		fprintf(stderr, "kiln: the URL must begin with http:// or https:// (got \"%s\")\n", url);
		return HTTP_EXIT_USAGE;
	}
	token = find_token(&bad);
	if (bad)
		return HTTP_EXIT_USAGE;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    http_client_init(&cli.c, url, token) < 0) {
		fprintf(stderr, "kiln: cannot set up libcurl\n");
		free(token);
		return HTTP_EXIT_CONNECT;
	}
	free(token);
	rc = cmd->run(&cli);
	http_client_free(&cli.c);
	curl_global_cleanup();
	if (fflush(stdout) != 0 && rc == 0)
		rc = HTTP_EXIT_API;
	return rc;
}
