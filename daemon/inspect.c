/*
 * inspect.c — `kilnd inspect FILE`: prints what kiln read from a
 * spreadsheet, cell by cell, and what the validator made of it.
 *
 * DESIGN
 * A straight line, with no daemon, store or thread: read the file into
 * memory (at most INSPECT_MAX_BYTES; "-" is standard input) → sheet_read()
 * (the same sniffing and readers as an upload) → sheet_validate() with the
 * limits of sheet_limits_default(), max_rows taken from --config or
 * --max-rows → print.  Everything is read and validated before the first
 * byte is printed, so a file that cannot be read leaves stdout empty and
 * says why on stderr (exit 2).
 *
 * Each non-blank row of the grid (a row with a cell that sheet_cell_blank()
 * does not call blank, as the validator counts rows) becomes one line in the
 * corpus oracles' format: {"row", "cells", "formats"?}.  Within a printed
 * row only empty text cells are left out; white-space text is shown as
 * stored.  cJSON builds each line, but numbers are formatted here and put in
 * raw: the shortest %.{1..17}g that reads back to the same double, so 2 is
 * "2" (never "2.0") and 0.1 is "0.1", and any stored value round-trips.
 * The last line is {"report": …}: valid, format, sheet, rows and
 * images_total, and the errors and warnings in the API's "details" shape
 * (row, column, cell, value, message, hint; absent ones left out, as the
 * API leaves them out).  Exit status 0 for a valid batch, 1 for an invalid
 * one, 2 when the file cannot be read or the output cannot be written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon/config.h"
#include "daemon/inspect.h"
#include "sheet/sheet.h"

#define INSPECT_MAX_BYTES ((size_t)256 * 1024 * 1024)  /* files larger are refused */

static void inspect_usage(FILE *f)
{
	fprintf(f,
		"usage: kilnd inspect [options] FILE\n"
		"\n"
		"Prints what kiln reads from FILE (.csv, .xls, .xlsx or .ods; - for standard\n"
		"input) without starting the daemon: one JSON line per non-blank row of the\n"
		"worksheet read, then {\"report\": ...} with the errors and warnings an upload\n"
		"would get.  Exit status: 0 valid batch, 1 invalid batch, 2 unreadable file.\n"
		"\n"
		"  -c, --config FILE     take max_rows from this kilnd.conf\n"
		"  -r, --max-rows N      rows allowed, header included (1000)\n"
		"  -h, --help            this text\n");
}

/*
 * Reads the whole of fd into *out (malloc'd, *len bytes), refusing more than
 * INSPECT_MAX_BYTES.  Returns 0, or -1 with a message in err.
 */
static int read_fd(int fd, const char *name, unsigned char **out, size_t *len,
		   char *err, size_t errlen)
{
	struct stat st;
	unsigned char *buf = NULL;
	size_t cap = 0, got = 0;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is a directory, not a spreadsheet file", name);
		return -1;
	}
	if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > INSPECT_MAX_BYTES) {
		snprintf(err, errlen, "%s is %llu bytes; kilnd inspect reads files of at most "
			 "%zu MiB (a batch of 1000 rows is far smaller: is it the right file?)",
			 name, (unsigned long long)st.st_size, INSPECT_MAX_BYTES >> 20);
		return -1;
	}
	for (;;) {
		ssize_t r;

		if (got == cap) {
			/* a regular file's size +1 (the read that sees its end), else doubling */
			size_t ncap = cap ? cap * 2 : S_ISREG(st.st_mode) ?
				      (size_t)st.st_size + 1 : 65536;
			unsigned char *nb;

			if (ncap > INSPECT_MAX_BYTES + 1)
				ncap = INSPECT_MAX_BYTES + 1;
			if (ncap <= got) {
				free(buf);
				snprintf(err, errlen, "%s is larger than %zu MiB, the most kilnd "
					 "inspect reads", name, INSPECT_MAX_BYTES >> 20);
				return -1;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				snprintf(err, errlen, "%s: out of memory", name);
				return -1;
			}
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", name, strerror(errno));
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got > INSPECT_MAX_BYTES) {
		free(buf);
		snprintf(err, errlen, "%s is larger than %zu MiB, the most kilnd inspect reads",
			 name, INSPECT_MAX_BYTES >> 20);
		return -1;
	}
	*out = buf;
	*len = got;
	return 0;
}

/* Reads the file at path ("-": standard input).  Returns 0, or -1 with err. */
static int read_input(const char *path, unsigned char **out, size_t *len,
		      char *err, size_t errlen)
{
	int fd, rc;

	if (!strcmp(path, "-"))
		return read_fd(STDIN_FILENO, "standard input", out, len, err, errlen);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	rc = read_fd(fd, path, out, len, err, errlen);
	close(fd);
	return rc;
}

/*
 * Writes v as a JSON number into buf (at least 32 bytes): the shortest
 * %.Ng (N = 1..17) that reads back as exactly v, so integral values carry
 * no fraction.  JSON has no NaN or infinity: those become null.
 */
static void format_number(double v, char *buf, size_t len)
{
	int prec;

	if (!isfinite(v)) {
		snprintf(buf, len, "null");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* The column letters of a 1-based column ("A", "AA") into buf (16 bytes). */
static void col_letters(unsigned col, char *buf, size_t len)
{
	size_t n;

	sheet_cell_ref(1, col, buf, len);
	n = strlen(buf);
	if (n > 0)
		buf[n - 1] = '\0';      /* drop the row number "1" */
}

/* Adds item to obj under key; sets *fail when item is NULL or cannot be added. */
static void add(cJSON *obj, const char *key, cJSON *item, int *fail)
{
	if (!item || !cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		*fail = 1;
	}
}

/* One cell's value in the oracle format; NULL on ENOMEM. */
static cJSON *cell_json(const struct sheet_cell *c)
{
	char num[40];
	cJSON *o;

	switch (c->type) {
	case SHEET_CELL_TEXT:
		return cJSON_CreateString(c->text ? c->text : "");
	case SHEET_CELL_BOOL:
		return cJSON_CreateBool(c->number != 0);
	case SHEET_CELL_ERROR:
		o = cJSON_CreateObject();
		if (o && !cJSON_AddStringToObject(o, "error", c->text ? c->text : "#N/A")) {
			cJSON_Delete(o);
			return NULL;
		}
		return o;
	case SHEET_CELL_NUMBER:
	default:
		format_number(c->number, num, sizeof(num));
		return cJSON_CreateRaw(num);
	}
}

/* Is the cell shown in its row's line (everything but empty text)? */
static int cell_shown(const struct sheet_cell *c)
{
	return c->type != SHEET_CELL_TEXT || (c->text && c->text[0]);
}

/* Prints one JSON line and frees obj.  Returns 0, or -1 on ENOMEM. */
static int print_line(cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);

	cJSON_Delete(obj);
	if (!s)
		return -1;
	fputs(s, stdout);
	fputc('\n', stdout);
	free(s);
	return 0;
}

/*
 * Prints the line of the row made of cells[0..n) (all of one row), unless
 * the row is blank.  Returns 0, or -1 on ENOMEM.
 */
static int print_row(const struct sheet_cell *cells, size_t n)
{
	cJSON *line, *vals, *fmts = NULL;
	char key[16];
	size_t i;
	int fail = 0, blank = 1;

	for (i = 0; i < n; i++)
		if (!sheet_cell_blank(&cells[i]))
			blank = 0;
	if (blank)
		return 0;
	line = cJSON_CreateObject();
	vals = cJSON_CreateObject();
	if (!line || !vals) {
		cJSON_Delete(line);
		cJSON_Delete(vals);
		return -1;
	}
	add(line, "row", cJSON_CreateNumber(cells[0].row), &fail);
	add(line, "cells", vals, &fail);
	for (i = 0; i < n && !fail; i++) {
		if (!cell_shown(&cells[i]))
			continue;
		col_letters(cells[i].col, key, sizeof(key));
		add(vals, key, cell_json(&cells[i]), &fail);
		if (!cells[i].format || fail)
			continue;
		if (!fmts) {
			fmts = cJSON_CreateObject();
			if (!fmts) {
				fail = 1;
				break;
			}
		}
		add(fmts, key, cJSON_CreateString(cells[i].format), &fail);
	}
	if (fmts)
		add(line, "formats", fmts, &fail);
	if (fail) {
		cJSON_Delete(line);
		return -1;
	}
	return print_line(line);
}

/* Prints every non-blank row of the grid.  Returns 0, or -1 on ENOMEM. */
static int print_rows(const struct sheet_grid *g)
{
	size_t i = 0;

	while (i < g->ncells) {
		size_t j = i + 1;

		while (j < g->ncells && g->cells[j].row == g->cells[i].row)
			j++;
		if (print_row(g->cells + i, j - i) < 0)
			return -1;
		i = j;
	}
	return 0;
}

/* Adds the string s to obj under key when s is not NULL; *fail on ENOMEM. */
static void add_str(cJSON *obj, const char *key, const char *s, int *fail)
{
	if (s)
		add(obj, key, cJSON_CreateString(s), fail);
}

/* The messages as the API's "details" list; NULL on ENOMEM. */
static cJSON *msgs_json(const struct sheet_msgs *ms)
{
	cJSON *a = cJSON_CreateArray();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < ms->n; i++) {
		const struct sheet_msg *m = &ms->v[i];
		cJSON *o = cJSON_CreateObject();
		int fail = 0;

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
		if (m->row)
			add(o, "row", cJSON_CreateNumber(m->row), &fail);
		add_str(o, "column", m->column, &fail);
		add_str(o, "cell", m->cell, &fail);
		add_str(o, "value", m->value, &fail);
		add(o, "message", cJSON_CreateString(m->message ? m->message : ""), &fail);
		add_str(o, "hint", m->hint, &fail);
		if (fail) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

/* Prints the {"report": …} line.  Returns 0, or -1 on ENOMEM. */
static int print_report(const struct sheet_grid *g, const struct sheet_batch *b,
			enum sheet_format fmt)
{
	cJSON *line = cJSON_CreateObject();
	cJSON *r = cJSON_CreateObject();
	int fail = 0;

	if (!line || !r) {
		cJSON_Delete(line);
		cJSON_Delete(r);
		return -1;
	}
	add(line, "report", r, &fail);
	add(r, "valid", cJSON_CreateBool(b->errors.n == 0), &fail);
	add(r, "format", cJSON_CreateString(sheet_format_name(fmt)), &fail);
	add(r, "sheet", g->sheet_name ? cJSON_CreateString(g->sheet_name) : cJSON_CreateNull(),
	    &fail);
	add(r, "rows", cJSON_CreateNumber((double)b->nrows), &fail);
	add(r, "images_total", cJSON_CreateNumber(b->images_total), &fail);
	add(r, "errors", msgs_json(&b->errors), &fail);
	add(r, "warnings", msgs_json(&b->warnings), &fail);
	if (fail) {
		cJSON_Delete(line);
		return -1;
	}
	return print_line(line);
}

/* Parses a --max-rows value: a whole number from 2 to 1000000.  0 or -1. */
static int parse_rows(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < 2 || v > 1000000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int inspect_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "max-rows", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sheet_limits lim;
	struct sheet_grid grid;
	struct sheet_batch batch;
	struct config cfg;
	enum sheet_status ss;
	enum sheet_format fmt;
	unsigned char *buf;
	size_t len;
	char err[1024];
	int c, nerr, rc;

	sheet_limits_default(&lim);
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_defaults(&cfg);
			if (config_load(&cfg, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "kilnd inspect: %s\n", err);
				return 2;
			}
			lim.max_rows = cfg.max_rows;
			break;
		case 'r':
			if (parse_rows(optarg, &lim.max_rows) < 0) {
				fprintf(stderr, "kilnd inspect: --max-rows takes a whole number "
					"from 2 to 1000000, not \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h':
			inspect_usage(stdout);
			return 0;
		default:
			inspect_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "kilnd inspect: %s\n", optind >= argc ? "which file? name one" :
			"one file at a time");
		inspect_usage(stderr);
		return 2;
	}
	if (read_input(argv[optind], &buf, &len, err, sizeof(err)) < 0) {
		fprintf(stderr, "kilnd inspect: %s\n", err);
		return 2;
	}
	ss = sheet_read(buf, len, &lim, &grid, err, sizeof(err));
	fmt = sheet_sniff(buf, len, NULL);
	free(buf);
	if (ss != SHEET_OK) {
		sheet_grid_free(&grid);
		fprintf(stderr, "kilnd inspect: %s: %s\n", argv[optind],
			ss == SHEET_NOMEM ? "out of memory" : err);
		return 2;
	}
	nerr = sheet_validate(&grid, &lim, &batch);
	if (nerr < 0) {
		sheet_batch_free(&batch);
		sheet_grid_free(&grid);
		fprintf(stderr, "kilnd inspect: %s: out of memory\n", argv[optind]);
		return 2;
	}
	rc = nerr ? 1 : 0;
	if (print_rows(&grid) < 0 || print_report(&grid, &batch, fmt) < 0) {
		fprintf(stderr, "kilnd inspect: out of memory while printing\n");
		rc = 2;
	}
	sheet_batch_free(&batch);
	sheet_grid_free(&grid);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "kilnd inspect: cannot write the output: %s\n", strerror(errno));
		rc = 2;
	}
	return rc;
}
