/*
 * bench_workbook.c — read and validation time of one workbook (.xlsx, .xls,
 * any format sheet_read() takes), for bench/run.sh to set beside the Python
 * readers of bench/workbook_reference.py measured in the same run.
 *
 *   bench_workbook FILE
 *
 * The file is loaded into memory once (an upload arrives as bytes), then
 * sheet_read() and sheet_validate() run on it again and again for about two
 * seconds of this process's CPU time, and the figure is the median run
 * (CPU time, not wall-clock time, and the median, so that other work on the
 * machine slows the benchmark down without skewing the figure much; the
 * Python references are timed the same way).  A file of more than
 * max_rows rows is expected to fail validation with the one "too many rows"
 * error: every row is parsed, the first max_rows are kept, the rest only
 * counted.  Any other error fails the benchmark.  Prints one line,
 * tab-separated:
 *
 *   kiln <fmt>  <rows/s>  <ms per file>  <peak RSS MB>  (<runs> runs, <rows> rows, <kept> kept,
 *       read <ms> + validate <ms>, <MB> RSS before the first read)
 *
 * ms per file is the median run, freeing included (read and validate are
 * the medians of the two steps alone); rows/s is the file's rows over it;
 * rows are the data rows of the file (the header not counted), all parsed;
 * peak RSS is getrusage()'s ru_maxrss of this process, which reads one file
 * only, so run.sh starts one per file.
 *
 * For an .xlsx two floors follow, timed the same way: what any reader built
 * on libzip and expat must at least spend on the file's shared strings and
 * first worksheet (the parts holding the cells): inflating them alone, then
 * inflating them and parsing them with expat calling empty handlers.
 *
 *   floor: inflate  <rows/s>  <ms per file>  -  (<runs> runs)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include <expat.h>
#include <zip.h>

#include "sheet/sheet.h"

#define CHUNK 65536              /* bytes inflated and parsed at a time, as xlsx.c does */
#define SECONDS 2.0              /* CPU time each measurement runs for */
#define MAX_RUNS 100000          /* runs timed at most */

/* The parts of the fixtures that hold the cells (both writers name them so). */
static const char *const cell_parts[] = { "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml" };

/* CPU time of this process, in seconds. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The times of the runs of one measurement, for their median. */
struct runs {
	double t[MAX_RUNS];
	size_t n;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of r's times, in ms (sorts them). */
static double median_ms(struct runs *r)
{
	qsort(r->t, r->n, sizeof(r->t[0]), cmp_double);
	return (r->n % 2 ? r->t[r->n / 2] : (r->t[r->n / 2 - 1] + r->t[r->n / 2]) / 2) * 1e3;
}

static struct runs total_runs, read_runs, validate_runs;

/* Peak resident set size of this process so far, in MB. */
static double peak_rss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024.0;
}

/* Reads a whole file into memory; NULL (with a message) when it cannot. */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		perror(path);
		if (f)
			fclose(f);
		return NULL;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/*
 * One read and validation of buf, its times added to the runs.  Returns 0
 * and sets *rows (data rows in the file) and *kept (rows validated), or
 * returns -1 after saying what failed.
 */
static int read_once(const unsigned char *buf, size_t len, const struct sheet_limits *lim,
		     size_t *rows, size_t *kept)
{
	double t0 = now(), t1, t2;
	struct sheet_grid g;
	struct sheet_batch b;
	char err[512];
	int nerr, ret = 0;

	if (sheet_read(buf, len, lim, &g, err, sizeof(err)) != SHEET_OK) {
		fprintf(stderr, "read: %s\n", err);
		sheet_grid_free(&g);
		return -1;
	}
	t1 = now();
	nerr = sheet_validate(&g, lim, &b);
	t2 = now();
	/* a long file fails validation with its length, once; nothing else may fail */
	if (nerr < 0 || (nerr > 0 && (g.nrows <= lim->max_rows || nerr > 1))) {
		fprintf(stderr, "validation: %d errors%s%s\n", nerr, b.errors.n ? ", the first: " : "",
			b.errors.n ? b.errors.v[0].message : "");
		ret = -1;
	}
	*rows = g.nrows ? g.nrows - 1 : 0;
	*kept = b.nrows;
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	read_runs.t[read_runs.n++] = t1 - t0;
	validate_runs.t[validate_runs.n++] = t2 - t1;
	total_runs.t[total_runs.n++] = now() - t0;
	return ret;
}

static void no_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
	(void)ud;
	(void)name;
	(void)atts;
}

static void no_end(void *ud, const XML_Char *name)
{
	(void)ud;
	(void)name;
}

static void no_text(void *ud, const XML_Char *s, int len)
{
	(void)ud;
	(void)s;
	(void)len;
}

/*
 * Inflates part name of za, and parses it with expat and empty handlers
 * when parse is set.  Returns 0, or -1 after saying what failed.
 */
static int floor_part(zip_t *za, const char *name, int parse, char *chunk)
{
	zip_file_t *zf = zip_fopen(za, name, 0);
	XML_Parser p = NULL;
	zip_int64_t n;
	int ret = 0;

	if (!zf) {
		fprintf(stderr, "floor: no part %s\n", name);
		return -1;
	}
	if (parse) {
		p = XML_ParserCreate(NULL);
		if (!p) {
			zip_fclose(zf);
			return -1;
		}
		XML_SetElementHandler(p, no_start, no_end);
		XML_SetCharacterDataHandler(p, no_text);
	}
	do {
		n = zip_fread(zf, chunk, CHUNK);
		if (n < 0 || (p && XML_Parse(p, chunk, (int)n, n == 0) != XML_STATUS_OK)) {
			fprintf(stderr, "floor: %s: cannot inflate or parse\n", name);
			ret = -1;
			break;
		}
	} while (n > 0);
	if (p)
		XML_ParserFree(p);
	zip_fclose(zf);
	return ret;
}

/* Times a floor (parse 0: inflate only) for about a second; prints its line. */
static int floor_run(const unsigned char *buf, size_t len, int parse, size_t rows)
{
	total_runs.n = 0;
	char *chunk = malloc(CHUNK);
	size_t i;
	double t0 = now(), t;
	double ms;

	if (!chunk)
		return -1;
	do {
		zip_error_t ze;
		zip_source_t *src;
		zip_t *za;
		double t1 = now();

		zip_error_init(&ze);
		src = zip_source_buffer_create(buf, len, 0, &ze);
		za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
		if (!za) {
			fprintf(stderr, "floor: %s\n", zip_error_strerror(&ze));
			if (src)
				zip_source_free(src);
			free(chunk);
			return -1;
		}
		for (i = 0; i < sizeof(cell_parts) / sizeof(cell_parts[0]); i++)
			if (zip_name_locate(za, cell_parts[i], 0) >= 0 &&
			    floor_part(za, cell_parts[i], parse, chunk) != 0) {
				zip_discard(za);
				free(chunk);
				return -1;
			}
		zip_discard(za);
		t = now();
		total_runs.t[total_runs.n++] = t - t1;
		t -= t0;
	} while (t < SECONDS / 2 && total_runs.n < MAX_RUNS);
	ms = median_ms(&total_runs);
	printf("floor: %s\t%.0f\t%.2f\t-\t(%zu runs)\n", parse ? "inflate + expat" : "inflate",
	       rows / ms * 1e3, ms, total_runs.n);
	free(chunk);
	return 0;
}

int main(int argc, char **argv)
{
	struct sheet_limits lim;
	size_t len, rows = 0, kept = 0;
	unsigned char *buf;
	double t0, base, ms;
	const char *fmt;

	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE\n", argv[0]);
		return 2;
	}
	buf = slurp(argv[1], &len);
	if (!buf)
		return 1;
	fmt = sheet_format_name(sheet_sniff(buf, len, NULL));
	sheet_limits_default(&lim);
	base = peak_rss_mb();
	t0 = now();
	do {
		if (read_once(buf, len, &lim, &rows, &kept) != 0)
			return 1;
	} while (now() - t0 < SECONDS && total_runs.n < MAX_RUNS);
	ms = median_ms(&total_runs);
	printf("kiln %s\t%.0f\t%.2f\t%.1f\t(%zu runs, %zu rows, %zu kept, read %.2f + validate %.2f ms, "
	       "%.1f MB RSS before the first read)\n", fmt, rows / ms * 1e3, ms, peak_rss_mb(),
	       total_runs.n, rows, kept, median_ms(&read_runs), median_ms(&validate_runs), base);
	if (!strcmp(fmt, "xlsx") && (floor_run(buf, len, 0, rows) || floor_run(buf, len, 1, rows)))
		return 1;
	free(buf);
	return 0;
}
