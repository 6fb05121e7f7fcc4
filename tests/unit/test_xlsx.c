/*
 * test_xlsx.c — unit tests of the .xlsx/.xlsm reader (sheet/xlsx.c).
 *
 * DESIGN
 * Small workbooks are built inline: their XML parts written out here and
 * zipped with libzip, or, for the zip bombs, a zip assembled byte by byte
 * around a hand-made deflate stream (a few MiB that inflate to 600 MiB),
 * so the hostile cases cost little to build.  Each checks one thing the
 * reader promises: every cell type, the number formats that mark dates and
 * times, the sheet chosen and its warning, the limits, and a clear refusal
 * of hostile input within bounded time.
 *
 * The corpus tests read ../shared/corpus (the tests run from the repository
 * root): every .xlsx/.xlsm of sheetjs/MANIFEST.tsv that is expected to be
 * read is compared cell by cell with its oracle (JSON lines, read with
 * cJSON; the gzip-compressed one with zlib, a line at a time), text and
 * booleans exactly, numbers within a relative 1e-9, formats where the
 * oracle names one; the batch workbooks are then validated end to end.
 * When the corpus is missing those tests are skipped by name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* mkstemp(), strtok_r(), strdup() even under -std=c11 */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zip.h>
#include <zlib.h>

#include "sheet/sheet.h"
#include "tests/fuzz/xlsxdiff.h"
#include "tests/unit/oracle.h"

/* generous: the sanitizer build is several times slower; valgrind's (make check-valgrind) far
 * slower, so every time limit is multiplied by $KILN_TIMEOUT_FACTOR (at least 1) */
#define HOSTILE_SECONDS (30.0 * time_factor())

#define NS_MAIN "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define NS_REL "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
#define NS_PKG "http://schemas.openxmlformats.org/package/2006/relationships"
#define CT_SHEET "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
#define CT_MAIN "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"

/* ---- helpers ------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* $KILN_TIMEOUT_FACTOR (at least 1): how much slower than usual the tests may run. */
static double time_factor(void)
{
	const char *s = getenv("KILN_TIMEOUT_FACTOR");
	double f = s ? atof(s) : 1;

	return f > 1 ? f : 1;
}

/* Writes a zip of the given members (name, content pairs) and returns its bytes. */
static unsigned char *build_zip(const char *const *members, size_t n, size_t *len)
{
	char path[] = "/tmp/kiln-test-xlsx-XXXXXX";
	unsigned char *buf;
	zip_t *za;
	int fd, err;
	size_t i;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
	assert_non_null(za);
	for (i = 0; i < n; i++) {
		zip_source_t *src = zip_source_buffer(za, members[2 * i + 1],
						      strlen(members[2 * i + 1]), 0);

		assert_non_null(src);
		assert_true(zip_file_add(za, members[2 * i], src, ZIP_FL_OVERWRITE) >= 0);
	}
	assert_int_equal(zip_close(za), 0);
	buf = slurp(path, len);
	unlink(path);
	assert_non_null(buf);
	return buf;
}

/* sprintf() into a new string. */
__attribute__((format(printf, 1, 2)))
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	va_start(ap, f);
	vsnprintf(s, (size_t)n + 1, f, ap);
	va_end(ap);
	return s;
}

/* What a one-sheet test workbook holds; NULL members take a default. */
struct book {
	const char *sheet_data;  /* the inside of <sheetData> */
	const char *sst;         /* the inside of <sst>, or NULL for no shared strings */
	const char *styles;      /* the whole styles part, or NULL for none */
	const char *workbook_pr; /* attributes of <workbookPr> */
};

/* Zips a one-sheet workbook ("Batch") from b. */
static unsigned char *book_zip(const struct book *b, size_t *len)
{
	char *sheet, *wb, *sst = NULL, *parts[14];
	unsigned char *buf;
	size_t n = 0;

	sheet = fmt("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
		    "<worksheet xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><dimension ref=\"A1\"/>"
		    "<sheetData>%s</sheetData><pageMargins left=\"1\"/></worksheet>",
		    b->sheet_data ? b->sheet_data : "");
	wb = fmt("<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><workbookPr %s/>"
		 "<sheets><sheet name=\"Batch\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
		 b->workbook_pr ? b->workbook_pr : "");
	parts[n++] = "[Content_Types].xml";
	parts[n++] = "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
		     "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-"
		     "package.relationships+xml\"/><Default Extension=\"xml\" ContentType="
		     "\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\""
		     CT_MAIN "\"/><Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\""
		     CT_SHEET "\"/></Types>";
	parts[n++] = "_rels/.rels";
	parts[n++] = "<Relationships xmlns=\"" NS_PKG "\"><Relationship Id=\"rId1\" Type=\""
		     NS_REL "/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
	parts[n++] = "xl/workbook.xml";
	parts[n++] = wb;
	parts[n++] = "xl/_rels/workbook.xml.rels";
	parts[n++] = "<Relationships xmlns=\"" NS_PKG "\">"
		     "<Relationship Id=\"rId1\" Type=\"" NS_REL "/worksheet\" "
		     "Target=\"worksheets/sheet1.xml\"/>"
		     "<Relationship Id=\"rId2\" Type=\"" NS_REL "/sharedStrings\" "
		     "Target=\"sharedStrings.xml\"/>"
		     "<Relationship Id=\"rId3\" Type=\"" NS_REL "/styles\" Target=\"styles.xml\"/>"
		     "</Relationships>";
	parts[n++] = "xl/worksheets/sheet1.xml";
	parts[n++] = sheet;
	if (b->sst) {
		sst = fmt("<sst xmlns=\"" NS_MAIN "\">%s</sst>", b->sst);
		parts[n++] = "xl/sharedStrings.xml";
		parts[n++] = sst;
	}
	if (b->styles) {
		parts[n++] = "xl/styles.xml";
		parts[n++] = (char *)b->styles;
	}
	buf = build_zip((const char *const *)parts, n / 2, len);
	free(sheet);
	free(wb);
	free(sst);
	return buf;
}

/* Reads bytes with the xlsx reader and the given limits (NULL: defaults). */
static enum sheet_status read_buf(const unsigned char *buf, size_t len,
				  const struct sheet_limits *lim, struct sheet_grid *g,
				  char *err, size_t errlen)
{
	return sheet_read_xlsx(buf, len, lim, g, err, errlen);
}

/* Reads a test workbook; asserts success. */
static void read_book(const struct book *b, const struct sheet_limits *lim, struct sheet_grid *g)
{
	unsigned char *buf;
	size_t len;
	char err[1024];
	enum sheet_status st;

	buf = book_zip(b, &len);
	st = read_buf(buf, len, lim, g, err, sizeof(err));
	free(buf);
	if (st != SHEET_OK)
		fail_msg("sheet_read_xlsx: %d %s", st, err);
}

/* Reads a test workbook that must be refused with status st and a message holding says. */
static void refuse_book(const struct book *b, const struct sheet_limits *lim,
			enum sheet_status st, const char *says)
{
	struct sheet_grid g;
	unsigned char *buf;
	size_t len;
	char err[1024];
	enum sheet_status got;

	buf = book_zip(b, &len);
	got = read_buf(buf, len, lim, &g, err, sizeof(err));
	free(buf);
	if (got != st || !strstr(err, says))
		fail_msg("expected %d \"%s\", got %d \"%s\"", st, says, got, err);
	assert_int_equal(g.ncells, 0);
	assert_null(g.sheet_name);
	sheet_grid_free(&g);
}

static const struct sheet_cell *cell_at(const struct sheet_grid *g, unsigned row, unsigned col)
{
	size_t i;

	for (i = 0; i < g->ncells; i++)
		if (g->cells[i].row == row && g->cells[i].col == col)
			return &g->cells[i];
	return NULL;
}

static void want_text(const struct sheet_grid *g, unsigned row, unsigned col, const char *text)
{
	const struct sheet_cell *c = cell_at(g, row, col);

	if (!c || c->type != SHEET_CELL_TEXT || strcmp(c->text, text))
		fail_msg("(%u,%u): want text \"%s\", got %s \"%s\"", row, col, text,
			 c ? "type" : "nothing", c && c->text ? c->text : "");
	assert_null(c->format);
}

static void want_number(const struct sheet_grid *g, unsigned row, unsigned col, double v,
			const char *format)
{
	const struct sheet_cell *c = cell_at(g, row, col);

	if (!c || c->type != SHEET_CELL_NUMBER || fabs(c->number - v) > 1e-9 * fmax(1, fabs(v)))
		fail_msg("(%u,%u): want number %.17g, got %s %.17g", row, col, v,
			 c ? "a cell" : "nothing", c ? c->number : 0);
	if (format)
		assert_non_null(c->format);
	if (format && strcmp(c->format, format))
		fail_msg("(%u,%u): want format \"%s\", got \"%s\"", row, col, format, c->format);
	if (!format && c->format)
		fail_msg("(%u,%u): want no format, got \"%s\"", row, col, c->format);
}

/* The warnings of a grid, joined, for strstr(). */
static const char *warnings_of(const struct sheet_grid *g, char *buf, size_t len)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < g->warnings.n && o < len; i++) {
		snprintf(buf + o, len - o, "%s\n", g->warnings.v[i].message);
		o = strlen(buf);
	}
	return buf;
}

/* ---- cell types ------------------------------------------------------------ */

static const char styles_basic[] =
	"<styleSheet xmlns=\"" NS_MAIN "\"><numFmts count=\"3\">"
	"<numFmt numFmtId=\"164\" formatCode=\"yyyy\\-mm\\-dd;@\"/>"
	"<numFmt numFmtId=\"165\" formatCode=\"hh:mm:ss\\ AM/PM\"/>"
	"<numFmt numFmtId=\"166\" formatCode=\"[Red]0.00;&quot;days&quot;\"/>"
	"</numFmts><cellStyleXfs count=\"1\"><xf numFmtId=\"14\"/></cellStyleXfs>"
	"<cellXfs count=\"6\"><xf numFmtId=\"0\" xfId=\"7\"/><xf numFmtId=\"14\"/>"
	"<xf numFmtId=\"164\"/><xf numFmtId=\"165\"/><xf numFmtId=\"166\"/><xf numFmtId=\"46\"/>"
	"</cellXfs><dxfs count=\"1\"><dxf><numFmt numFmtId=\"14\" formatCode=\"d\"/></dxf></dxfs>"
	"</styleSheet>";

static void test_cell_types(void **state)
{
	struct book b = {
		.sheet_data =
			"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
			"<c r=\"C1\" t=\"s\"><v>2</v></c><c r=\"D1\" t=\"s\"><v> 3 </v></c>"
			"<c r=\"E1\" t=\"s\"><v>4</v></c><c r=\"F1\" t=\"s\"><v>5</v></c></row>"
			"<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>in&amp;line</t></is></c>"
			"<c r=\"B2\" t=\"inlineStr\"><is><r><t>ri</t></r><r><rPr><b/></rPr>"
			"<t xml:space=\"preserve\">ch </t></r><rPh sb=\"0\" eb=\"1\"><t>X</t></rPh></is></c>"
			"<c r=\"C2\" t=\"str\"><f>A1&amp;\"x\"</f><v>abc_x000D__x000A_def</v></c>"
			"<c r=\"D2\" t=\"str\"><f>A1</f></c>"                      /* no cached value */
			"<c r=\"E2\"><f>1+1</f></c>"                               /* nor here */
			"<c r=\"F2\" t=\"str\"><f>\"\"</f><v></v></c>"             /* empty result */
			"<c r=\"G2\" t=\"inlineStr\"><is><t></t></is></c></row>"
			"<row r=\"3\"><c r=\"A3\"><v>42</v></c><c r=\"B3\" t=\"n\"><v>-1.5E+3</v></c>"
			"<c r=\"C3\" s=\"1\"><v>41689.604166666664</v></c>"
			"<c r=\"D3\" s=\"2\"><v>1</v></c><c r=\"E3\" s=\"3\"><v>0.0854166666666667</v></c>"
			"<c r=\"F3\" s=\"4\"><v>2</v></c><c r=\"G3\" s=\"5\"><v>1.5</v></c>"
			"<c r=\"H3\" s=\"99\"><v>7</v></c><c r=\"I3\" s=\"1\" t=\"s\"><v>0</v></c></row>"
			"<row r=\"4\"><c r=\"A4\" t=\"b\"><v>1</v></c><c r=\"B4\" t=\"b\"><v>0</v></c>"
			"<c r=\"C4\" t=\"e\"><f>1/0</f><v>#DIV/0!</v></c><c r=\"D4\" t=\"e\"><v>#N/A</v></c>"
			"<c r=\"E4\" s=\"1\"/><c r=\"F4\" t=\"s\"/></row>"
			"<row r=\"6\"><c r=\"B6\" t=\"d\" s=\"1\"><v>2014-02-14T08:27:48.765Z</v></c>"
			"<c r=\"C6\" t=\"d\"><v>2014-02-14</v></c><c r=\"D6\" t=\"d\"><v>08:27:48</v></c>"
			"<c r=\"E6\" t=\"d\"><v>1900-02-28T12:00:00</v></c>"
			"<c r=\"F6\" t=\"d\"><v>1900-03-01</v></c></row>"
			"<row><c t=\"inlineStr\"><is><t>next row, A</t></is></c>"
			"<c t=\"inlineStr\"><is><t>  </t></is></c><c r=\"E7\"><v>5</v></c>"
			"<c><v>6</v></c></row>",
		.sst = "<si><t>plain</t></si>"
		       "<si><r><t>rich </t></r><r><rPr><i/></rPr><t>text</t></r>"
		       "<rPh sb=\"0\" eb=\"1\"><t>furigana</t></rPh><phoneticPr fontId=\"1\"/></si>"
		       "<si><t>_x005F_x000D_ and _x0041_ and _xD83C__xDF63_ and _x0000_ and _xZZZZ_</t></si>"
		       "<si><t xml:space=\"preserve\"> spaced </t></si>"
		       "<si><t/></si>"
		       "<si><t>sushi \xF0\x9F\x8D\xA3</t></si>",
		.styles = styles_basic,
	};
	struct sheet_grid g;

	(void)state;
	read_book(&b, NULL, &g);
	assert_string_equal(g.sheet_name, "Batch");
	assert_int_equal(g.warnings.n, 0);
	want_text(&g, 1, 1, "plain");
	want_text(&g, 1, 2, "rich text");
	want_text(&g, 1, 3, "_x000D_ and A and \xF0\x9F\x8D\xA3 and _x0000_ and _xZZZZ_");
	want_text(&g, 1, 4, " spaced ");
	assert_null(cell_at(&g, 1, 5));             /* the empty shared string */
	want_text(&g, 1, 6, "sushi \xF0\x9F\x8D\xA3");
	want_text(&g, 2, 1, "in&line");
	want_text(&g, 2, 2, "rich ");
	want_text(&g, 2, 3, "abc\r\ndef");
	assert_null(cell_at(&g, 2, 4));
	assert_null(cell_at(&g, 2, 5));
	assert_null(cell_at(&g, 2, 6));
	assert_null(cell_at(&g, 2, 7));
	want_number(&g, 3, 1, 42, NULL);
	want_number(&g, 3, 2, -1500, NULL);
	want_number(&g, 3, 3, 41689.604166666664, "mm-dd-yy");
	want_number(&g, 3, 4, 1, "yyyy\\-mm\\-dd;@");
	want_number(&g, 3, 5, 0.0854166666666667, "hh:mm:ss\\ AM/PM");
	want_number(&g, 3, 6, 2, NULL);             /* [Red]0.00;"days": not a date */
	want_number(&g, 3, 7, 1.5, "[h]:mm:ss");
	want_number(&g, 3, 8, 7, NULL);             /* a style that does not exist */
	want_text(&g, 3, 9, "plain");               /* text keeps no format */
	assert_int_equal(cell_at(&g, 4, 1)->type, SHEET_CELL_BOOL);
	assert_true(cell_at(&g, 4, 1)->number == 1);
	assert_int_equal(cell_at(&g, 4, 2)->type, SHEET_CELL_BOOL);
	assert_true(cell_at(&g, 4, 2)->number == 0);
	assert_int_equal(cell_at(&g, 4, 3)->type, SHEET_CELL_ERROR);
	assert_string_equal(cell_at(&g, 4, 3)->text, "#DIV/0!");
	assert_string_equal(cell_at(&g, 4, 4)->text, "#N/A");
	assert_null(cell_at(&g, 4, 5));
	assert_null(cell_at(&g, 4, 6));
	want_number(&g, 6, 2, 41684.35264774306, "mm-dd-yy");
	want_number(&g, 6, 3, 41684, "yyyy-mm-dd");
	want_number(&g, 6, 4, 30468.0 / 86400, "h:mm:ss");
	want_number(&g, 6, 5, 59.5, "yyyy-mm-dd h:mm:ss");   /* Excel's 1900-02-28 is 59 */
	want_number(&g, 6, 6, 61, "yyyy-mm-dd");
	want_text(&g, 7, 1, "next row, A");          /* a row and cells without r */
	want_text(&g, 7, 2, "  ");                   /* white space is kept as read */
	want_number(&g, 7, 5, 5, NULL);
	want_number(&g, 7, 6, 6, NULL);
	assert_int_equal(g.nrows, 6);
	/* row-major order */
	for (size_t i = 1; i < g.ncells; i++)
		assert_true(g.cells[i - 1].row < g.cells[i].row ||
			    (g.cells[i - 1].row == g.cells[i].row && g.cells[i - 1].col < g.cells[i].col));
	sheet_grid_free(&g);
}

static void test_date1904(void **state)
{
	struct book b = {
		.sheet_data = "<row r=\"1\"><c r=\"A1\" t=\"d\"><v>1904-01-02</v></c>"
			      "<c r=\"B1\" s=\"1\"><v>1</v></c>"
			      "<c r=\"C1\" t=\"d\"><v>1934-06-03T06:00</v></c></row>",
		.styles = styles_basic,
		.workbook_pr = "date1904=\"1\"",
	};
	struct sheet_grid g;

	(void)state;
	read_book(&b, NULL, &g);
	want_number(&g, 1, 1, 1, "yyyy-mm-dd");
	want_number(&g, 1, 2, 1, "mm-dd-yy");       /* stored serials are reported as they are */
	want_number(&g, 1, 3, 11111.25, "yyyy-mm-dd h:mm:ss");
	sheet_grid_free(&g);
}

/* ---- number formats ----------------------------------------------------------- */

static void test_number_formats(void **state)
{
	static const struct {
		const char *code;
		int date;
	} custom[] = {
		{ "yyyy-mm-dd", 1 }, { "m/d", 1 }, { "M/d/yyyy H:mm:ss", 1 }, { "[h]:mm", 1 },
		{ "[mm]:ss", 1 }, { "[ss]", 1 }, { "hh:mm:ss\\ AM/PM", 1 }, { "AM/PM", 1 },
		{ "[$-F800]dddd\\,\\ mmmm\\ dd\\,\\ yyyy", 1 }, { "[$-F400]", 1 },
		{ "[$-409]d-mmm-yy;@", 1 }, { "YYMMMM", 1 }, { "General", 0 }, { "GENERAL", 0 },
		{ "0.00", 0 }, { "#,##0", 0 }, { "0%", 0 }, { "0.00E+00", 0 }, { "@", 0 },
		{ "[Red]0.00", 0 }, { "[Blue]General;[Red]-General", 0 },
		{ "\"days\" 0", 0 }, { "0\\d", 0 }, { "_-* #,##0.00_-;\\-* #,##0.00_-", 0 },
		{ "[<50]0;[Green]000", 0 }, { "[$USD-409] #,##0", 0 }, { "[$\xE2\x82\xAC-407] 0.00", 0 },
		{ "0 \"h\"", 0 }, { "[Color9]0", 0 },
	};
	static const char *const builtin[48] = {
		[14] = "mm-dd-yy", [15] = "d-mmm-yy", [16] = "d-mmm", [17] = "mmm-yy",
		[18] = "h:mm AM/PM", [19] = "h:mm:ss AM/PM", [20] = "h:mm", [21] = "h:mm:ss",
		[22] = "m/d/yy h:mm", [45] = "mm:ss", [46] = "[h]:mm:ss", [47] = "mmss.0",
	};
	size_t nc = sizeof(custom) / sizeof(custom[0]), i, o = 0, cap = 65536;
	char *styles = malloc(cap), *data = malloc(cap), *esc;
	struct book b = { 0 };
	struct sheet_grid g;

	(void)state;
	assert_non_null(styles);
	assert_non_null(data);
	o += (size_t)snprintf(styles + o, cap - o, "<styleSheet xmlns=\"" NS_MAIN "\"><numFmts>");
	for (i = 0; i < nc; i++) {
		esc = fmt("%s", custom[i].code);
		o += (size_t)snprintf(styles + o, cap - o, "<numFmt numFmtId=\"%zu\" formatCode=\"", 164 + i);
		for (char *p = esc; *p; p++)
			o += (size_t)snprintf(styles + o, cap - o, "%s",
					      *p == '"' ? "&quot;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" :
					      *p == '&' ? "&amp;" : (char[]){ *p, 0 });
		o += (size_t)snprintf(styles + o, cap - o, "\"/>");
		free(esc);
	}
	o += (size_t)snprintf(styles + o, cap - o, "</numFmts><cellXfs>");
	for (i = 0; i < 48; i++)                    /* xf i: built-in id i */
		o += (size_t)snprintf(styles + o, cap - o, "<xf numFmtId=\"%zu\"/>", i);
	for (i = 0; i < nc; i++)                    /* xf 48 + i: custom code i */
		o += (size_t)snprintf(styles + o, cap - o, "<xf numFmtId=\"%zu\"/>", 164 + i);
	snprintf(styles + o, cap - o, "</cellXfs></styleSheet>");
	o = (size_t)snprintf(data, cap, "<row r=\"1\">");
	for (i = 0; i < 48 + nc; i++)
		o += (size_t)snprintf(data + o, cap - o, "<c s=\"%zu\"><v>0.5</v></c>", i);
	snprintf(data + o, cap - o, "</row>");
	b.sheet_data = data;
	b.styles = styles;
	read_book(&b, NULL, &g);
	assert_int_equal(g.ncells, 48 + nc);
	for (i = 0; i < 48; i++)
		want_number(&g, 1, (unsigned)i + 1, 0.5, builtin[i]);
	for (i = 0; i < nc; i++)
		want_number(&g, 1, (unsigned)(48 + i + 1), 0.5, custom[i].date ? custom[i].code : NULL);
	sheet_grid_free(&g);
	free(styles);
	free(data);
}

/* ---- sheets, parts and namespaces ---------------------------------------------- */

/* One sheet of a multi-sheet workbook: name, state, kind, its rows. */
struct tsheet {
	const char *name;
	const char *state;       /* NULL, "hidden", "veryHidden" */
	const char *kind;        /* "worksheet", "chartsheet", "dialogsheet" */
	const char *data;
};

/* Zips a workbook of n sheets (at most 4). */
static unsigned char *sheets_zip(const struct tsheet *s, size_t n, size_t *len)
{
	char ct[4096], wb[4096], rels[4096], *parts[2 * 8], *bodies[4];
	size_t i, o1, o2, o3, k = 0;
	unsigned char *buf;

	o1 = (size_t)snprintf(ct, sizeof(ct), "<Types xmlns=\"http://schemas.openxmlformats.org/"
			      "package/2006/content-types\"><Override PartName=\"/xl/workbook.xml\" "
			      "ContentType=\"" CT_MAIN "\"/>");
	o2 = (size_t)snprintf(wb, sizeof(wb), "<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL
			      "\"><sheets>");
	o3 = (size_t)snprintf(rels, sizeof(rels), "<Relationships xmlns=\"" NS_PKG "\">");
	for (i = 0; i < n; i++) {
		o1 += (size_t)snprintf(ct + o1, sizeof(ct) - o1, "<Override PartName=\"/xl/%ss/"
				       "sheet%zu.xml\" ContentType=\"application/vnd.openxmlformats-"
				       "officedocument.spreadsheetml.%s+xml\"/>", s[i].kind, i + 1,
				       s[i].kind);
		o2 += (size_t)snprintf(wb + o2, sizeof(wb) - o2, "<sheet name=\"%s\" sheetId=\"%zu\" "
				       "%s%s%s r:id=\"rId%zu\"/>", s[i].name, i + 1,
				       s[i].state ? "state=\"" : "", s[i].state ? s[i].state : "",
				       s[i].state ? "\"" : "", i + 1);
		o3 += (size_t)snprintf(rels + o3, sizeof(rels) - o3, "<Relationship Id=\"rId%zu\" "
				       "Type=\"" NS_REL "/%s\" Target=\"%ss/sheet%zu.xml\"/>",
				       i + 1, s[i].kind, s[i].kind, i + 1);
	}
	snprintf(ct + o1, sizeof(ct) - o1, "</Types>");
	snprintf(wb + o2, sizeof(wb) - o2, "</sheets></workbook>");
	snprintf(rels + o3, sizeof(rels) - o3, "</Relationships>");
	parts[k++] = "[Content_Types].xml";
	parts[k++] = ct;
	parts[k++] = "xl/workbook.xml";         /* no _rels/.rels: found by content type */
	parts[k++] = wb;
	parts[k++] = "xl/_rels/workbook.xml.rels";
	parts[k++] = rels;
	for (i = 0; i < n; i++) {
		bodies[i] = fmt("<%s xmlns=\"" NS_MAIN "\"><sheetData>%s</sheetData></%s>", s[i].kind,
				s[i].data ? s[i].data : "", s[i].kind);
		parts[k++] = fmt("xl/%ss/sheet%zu.xml", s[i].kind, i + 1);
		parts[k++] = bodies[i];
	}
	buf = build_zip((const char *const *)parts, k / 2, len);
	for (i = 0; i < n; i++) {
		free(parts[6 + 2 * i]);
		free(bodies[i]);
	}
	return buf;
}

#define ROW_A1(text) "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>" text "</t></is></c></row>"

static void test_sheet_choice(void **state)
{
	static const struct tsheet hidden_first[] = {
		{ "Instructions", "hidden", "worksheet", ROW_A1("help") },
		{ "Batch", NULL, "worksheet", ROW_A1("prompt") },
	};
	static const struct tsheet many[] = {
		{ "Chart1", NULL, "chartsheet", NULL },
		{ "Hidden", "veryHidden", "worksheet", ROW_A1("no") },
		{ "Data", "visible", "worksheet", ROW_A1("yes") },
		{ "Dialog", NULL, "dialogsheet", NULL },
	};
	static const struct tsheet two[] = {
		{ "First", NULL, "worksheet", ROW_A1("one") },
		{ "Second", NULL, "worksheet", ROW_A1("two") },
	};
	static const struct tsheet one[] = { { "Only", NULL, "worksheet", ROW_A1("alone") } };
	static const struct tsheet all_hidden[] = {
		{ "Chart1", NULL, "chartsheet", NULL },
		{ "Secret", "hidden", "worksheet", ROW_A1("x") },
	};
	static const struct tsheet charts[] = { { "Chart1", NULL, "chartsheet", NULL } };
	struct sheet_grid g;
	unsigned char *buf;
	char err[1024], w[2048];
	size_t len;

	(void)state;
	buf = sheets_zip(hidden_first, 2, &len);
	assert_int_equal(read_buf(buf, len, NULL, &g, err, sizeof(err)), SHEET_OK);
	free(buf);
	assert_string_equal(g.sheet_name, "Batch");
	want_text(&g, 1, 1, "prompt");
	assert_int_equal(g.warnings.n, 1);
	assert_string_equal(g.warnings.v[0].message, "kiln read the sheet \"Batch\", the first "
			    "visible one of the workbook's 2 sheets; the hidden sheet "
			    "\"Instructions\" before it was skipped.");
	assert_string_equal(g.warnings.v[0].value, "Batch");
	assert_non_null(g.warnings.v[0].hint);
	sheet_grid_free(&g);

	buf = sheets_zip(many, 4, &len);
	assert_int_equal(read_buf(buf, len, NULL, &g, err, sizeof(err)), SHEET_OK);
	free(buf);
	assert_string_equal(g.sheet_name, "Data");
	want_text(&g, 1, 1, "yes");
	assert_int_equal(g.warnings.n, 1);
	assert_non_null(strstr(warnings_of(&g, w, sizeof(w)), "\"Data\""));
	assert_non_null(strstr(w, "hidden sheet \"Hidden\""));
	assert_non_null(strstr(w, "2 other sheets were not read"));
	sheet_grid_free(&g);

	buf = sheets_zip(two, 2, &len);
	assert_int_equal(read_buf(buf, len, NULL, &g, err, sizeof(err)), SHEET_OK);
	free(buf);
	assert_string_equal(g.sheet_name, "First");
	want_text(&g, 1, 1, "one");
	assert_int_equal(g.warnings.n, 1);
	assert_string_equal(g.warnings.v[0].message, "The workbook has 2 sheets; kiln read only "
			    "\"First\", the first visible sheet.");
	sheet_grid_free(&g);

	buf = sheets_zip(one, 1, &len);
	assert_int_equal(read_buf(buf, len, NULL, &g, err, sizeof(err)), SHEET_OK);
	free(buf);
	assert_int_equal(g.warnings.n, 0);
	sheet_grid_free(&g);

	buf = sheets_zip(all_hidden, 2, &len);
	assert_int_equal(read_buf(buf, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	free(buf);
	assert_non_null(strstr(err, "hidden (\"Secret\")"));
	assert_non_null(strstr(err, "Unhide"));
	sheet_grid_free(&g);

	buf = sheets_zip(charts, 1, &len);
	assert_int_equal(read_buf(buf, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	free(buf);
	assert_non_null(strstr(err, "no worksheet"));
	sheet_grid_free(&g);
}

/* A workbook spelled in odd but valid ways: prefixes, Strict, paths, single quotes. */
static void test_odd_packages(void **state)
{
	static const char *const strict[] = {
		"_rels/.rels",
		"<Relationships xmlns=\"" NS_PKG "\"><Relationship Id=\"a\" Type=\"http://purl.oclc."
		"org/ooxml/officeDocument/relationships/officeDocument\" Target=\"/book/main.xml\"/>"
		"</Relationships>",
		"book/main.xml",
		"<?xml version='1.0' encoding='UTF-8'?><x:workbook xmlns:x=\"http://purl.oclc.org/"
		"ooxml/spreadsheetml/main\" xmlns:rel=\"http://purl.oclc.org/ooxml/officeDocument/"
		"relationships\"><x:workbookPr date1904='true'/><x:sheets><x:sheet name='S&amp;P' "
		"sheetId='1' rel:id='r7'/></x:sheets></x:workbook>",
		"book/_rels/main.xml.rels",
		"<Relationships xmlns=\"" NS_PKG "\"><Relationship Id='r7' Type='http://purl.oclc.org/"
		"ooxml/officeDocument/relationships/worksheet' Target='../Data/Sheet%201.xml'/>"
		"<Relationship Id='r8' Type='http://purl.oclc.org/ooxml/officeDocument/relationships/"
		"sharedStrings' Target='./../book/./strings.xml'/>"
		"<Relationship Id='r9' Type='http://purl.oclc.org/ooxml/officeDocument/relationships/"
		"hyperlink' Target='http://example.com/' TargetMode='External'/></Relationships>",
		"DATA/SHEET%201.XML",                   /* OPC part names ignore case */
		"<x:worksheet xmlns:x=\"http://purl.oclc.org/ooxml/spreadsheetml/main\"><x:sheetData>"
		"<x:row r='2'><x:c r='B2' t='s'><x:v>0</x:v></x:c><x:c r='C2' t='d'>"
		"<x:v>1904-01-03</x:v></x:c></x:row></x:sheetData></x:worksheet>",
		"book/strings.xml",
		"<sst xmlns=\"http://purl.oclc.org/ooxml/spreadsheetml/main\"><si><t>strict</t></si></sst>",
	};
	struct sheet_grid g;
	unsigned char *buf;
	char err[1024];
	size_t len;

	(void)state;
	buf = build_zip(strict, sizeof(strict) / sizeof(strict[0]) / 2, &len);
	if (read_buf(buf, len, NULL, &g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s", err);
	free(buf);
	assert_string_equal(g.sheet_name, "S&P");
	want_text(&g, 2, 2, "strict");
	want_number(&g, 2, 3, 2, "yyyy-mm-dd");
	assert_int_equal(g.nrows, 1);
	sheet_grid_free(&g);
}

static void test_package_errors(void **state)
{
	static const char *const no_workbook[] = {
		"[Content_Types].xml", "<Types xmlns=\"http://schemas.openxmlformats.org/package/"
		"2006/content-types\"/>", "docProps/app.xml", "<Properties/>"
	};
	static const char *const xlsb[] = {
		"_rels/.rels", "<Relationships xmlns=\"" NS_PKG "\"><Relationship Id=\"rId1\" Type=\""
		NS_REL "/officeDocument\" Target=\"xl/workbook.bin\"/></Relationships>",
		"xl/workbook.bin", "\x83\x01\x00"
	};
	static const char *const no_sheet_part[] = {
		"xl/workbook.xml", "<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheets>"
		"<sheet name=\"Gone\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>",
		"xl/_rels/workbook.xml.rels", "<Relationships xmlns=\"" NS_PKG "\"><Relationship "
		"Id=\"rId1\" Type=\"" NS_REL "/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
		"</Relationships>"
	};
	static const char *const bad_xml[] = {
		"xl/workbook.xml", "<workbook xmlns=\"" NS_MAIN "\"><sheets><sheet name=\"a\"></workbook>"
	};
	static const struct {
		const char *const *members;
		size_t n;
		enum sheet_status st;
		const char *says;
	} cases[] = {
		{ no_workbook, 2, SHEET_UNREADABLE, "no workbook part" },
		{ xlsb, 2, SHEET_UNSUPPORTED, "(.xlsb)" },
		{ no_sheet_part, 2, SHEET_UNREADABLE, "\"Gone\" should be in the part "
						       "xl/worksheets/sheet1.xml" },
		{ bad_xml, 1, SHEET_UNREADABLE, "xl/workbook.xml is not well-formed XML (line 1: "
						 "mismatched tag)" },
	};
	struct sheet_grid g;
	unsigned char *buf;
	char err[1024];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sheet_status st;

		buf = build_zip(cases[i].members, cases[i].n, &len);
		st = read_buf(buf, len, NULL, &g, err, sizeof(err));
		free(buf);
		if (st != cases[i].st || !strstr(err, cases[i].says))
			fail_msg("case %zu: %d \"%s\"", i, st, err);
		assert_int_equal(g.ncells, 0);
		sheet_grid_free(&g);
	}
	/* not a zip, a truncated zip, nothing at all */
	assert_int_equal(read_buf((const unsigned char *)"PK\3\4garbage", 11, NULL, &g, err,
				  sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "damaged or truncated"));
	sheet_grid_free(&g);
	buf = book_zip(&(struct book){ .sheet_data = ROW_A1("x") }, &len);
	assert_int_equal(read_buf(buf, len / 2, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	free(buf);
	sheet_grid_free(&g);
	assert_int_equal(read_buf(NULL, 0, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "empty"));
	sheet_grid_free(&g);
	/* err may be NULL */
	assert_int_equal(read_buf((const unsigned char *)"x", 1, NULL, &g, NULL, 0), SHEET_UNREADABLE);
	sheet_grid_free(&g);
}

/* Damaged cells: each refused with a message naming the cell. */
static void test_bad_cells(void **state)
{
	static const struct {
		const char *data;
		const char *says;
	} cases[] = {
		{ "<row r=\"1\"><c r=\"B1\"><v>1</v></c><c r=\"A1\"><v>2</v></c></row>",
		  "stores cell A1 after cell B1" },
		{ "<row r=\"2\"><c r=\"A2\"><v>1</v></c></row><row r=\"1\"><c r=\"A1\"><v>2</v></c></row>",
		  "stores cell A1 after cell A2" },
		{ "<row r=\"1\"><c r=\"A1\"><v>1</v></c><c r=\"A1\"><v>2</v></c></row>",
		  "out of order or repeated" },
		{ "<row r=\"1\"><c r=\"1A\"><v>1</v></c></row>", "cell named \"1A\"" },
		{ "<row r=\"1\"><c r=\"AAAA1\"><v>1</v></c></row>", "cell named \"AAAA1\"" },
		{ "<row r=\"1\"><c r=\"A0\"><v>1</v></c></row>", "cell named \"A0\"" },
		{ "<row r=\"x\"><c><v>1</v></c></row>", "row numbered \"x\"" },
		{ "<row r=\"99999999999\"><c><v>1</v></c></row>", "row numbered" },
		{ "<row r=\"1\"><c r=\"A1\"><v>12abc</v></c></row>", "A1 holds \"12abc\" where the file "
								       "declares a number" },
		{ "<row r=\"1\"><c r=\"A1\"><v>1e999</v></c></row>", "declares a number" },
		{ "<row r=\"1\"><c r=\"A1\"><v>nan</v></c></row>", "declares a number" },
		{ "<row r=\"1\"><c r=\"A1\" t=\"b\"><v>yes</v></c></row>", "a boolean" },
		{ "<row r=\"1\"><c r=\"A1\" t=\"d\"><v>14/02/2014</v></c></row>", "an ISO 8601 date" },
		{ "<row r=\"1\"><c r=\"A1\" t=\"d\"><v>2014</v></c></row>", "an ISO 8601 date" },
		{ "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>7</v></c></row>", "shared string 7, but the "
								       "workbook holds only 0" },
		{ "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>-1</v></c></row>", "shared string -1" },
		{ "<row r=\"1\"><c r=\"A1\" t=\"q\"><v>1</v></c></row>", "type \"q\"" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct book b = { .sheet_data = cases[i].data };

		refuse_book(&b, NULL, SHEET_UNREADABLE, cases[i].says);
	}
}

/* ---- limits ---------------------------------------------------------------------- */

static void test_limits(void **state)
{
	struct sheet_limits lim;
	struct sheet_grid g;
	char *big, *data;
	size_t i, o, cap;

	(void)state;
	sheet_limits_default(&lim);
	lim.max_cols = 3;
	/* a styled but empty cell far right is fine; a value there is not */
	read_book(&(struct book){ .sheet_data = "<row r=\"1\"><c r=\"A1\"><v>1</v></c>"
				   "<c r=\"XFC1\"><f>A1</f></c><c r=\"XFD1\" s=\"0\"/></row>" }, &lim, &g);
	assert_int_equal(g.ncells, 1);
	sheet_grid_free(&g);
	refuse_book(&(struct book){ .sheet_data = "<row r=\"7\"><c r=\"D7\"><v>1</v></c></row>" },
		    &lim, SHEET_UNREADABLE, "Cell D7 holds a value in column 4; kiln reads at most "
		    "3 columns");
	refuse_book(&(struct book){ .sheet_data = "<row r=\"1\"><c r=\"XFD1048576\"><v>1</v></c></row>" },
		    NULL, SHEET_UNREADABLE, "column 16384");

	sheet_limits_default(&lim);
	lim.max_cells = 3;
	refuse_book(&(struct book){ .sheet_data = "<row r=\"1\"><c><v>1</v></c><c><v>2</v></c>"
				    "<c><v>3</v></c></row><row><c><v>4</v></c></row>" },
		    &lim, SHEET_UNREADABLE, "more than 3 non-blank cells (the limit is reached at A2)");

	/* text longer than max_cell_bytes: inline, formula result and shared string */
	sheet_limits_default(&lim);
	lim.max_cell_bytes = 10;
	read_book(&(struct book){ .sheet_data = "<row r=\"1\"><c t=\"inlineStr\"><is><t>0123456789"
				   "</t></is></c><c t=\"s\"><v>0</v></c></row>",
				   .sst = "<si><t>01234</t><t>56789</t></si><si><t>0123456789x</t></si>" },
		  &lim, &g);
	want_text(&g, 1, 1, "0123456789");
	want_text(&g, 1, 2, "0123456789");
	sheet_grid_free(&g);
	refuse_book(&(struct book){ .sheet_data = "<row r=\"3\"><c r=\"B3\" t=\"inlineStr\"><is><r>"
				    "<t>012345</t></r><r><t>6789x</t></r></is></c></row>" },
		    &lim, SHEET_UNREADABLE, "Cell B3 holds more than 10 bytes");
	refuse_book(&(struct book){ .sheet_data = "<row r=\"1\"><c r=\"A1\" t=\"str\"><v>0123456789x"
				    "</v></c></row>" }, &lim, SHEET_UNREADABLE, "Cell A1 holds more than");
	refuse_book(&(struct book){ .sheet_data = "<row r=\"2\"><c r=\"C2\" t=\"s\"><v>1</v></c></row>",
				    .sst = "<si><t>short</t></si><si><r><t>0123456</t></r><r><t>7890"
					   "</t></r></si>" },
		    &lim, SHEET_UNREADABLE, "Cell C2 holds more than 10 bytes");

	/* rows past max_rows are counted, not stored; blank rows count nowhere */
	sheet_limits_default(&lim);
	lim.max_rows = 2;
	lim.max_cell_bytes = 10;
	read_book(&(struct book){
			  .sheet_data = "<row r=\"1\"><c t=\"inlineStr\"><is><t>h</t></is></c></row>"
					"<row r=\"2\"><c t=\"inlineStr\"><is><t> </t></is></c></row>"
					"<row r=\"3\"><c><v>1</v></c></row>"
					"<row r=\"4\"><c t=\"inlineStr\"><is><t>  </t></is></c>"
					"<c t=\"s\"><v>0</v></c></row>"              /* blank */
					"<row r=\"5\"><c t=\"s\"><v>1</v></c></row>" /* too long, counted */
					"<row r=\"6\"><c t=\"inlineStr\"><is><t>          "
					"          x</t></is></c></row>"            /* too long, counted */
					"<row r=\"7\"><c t=\"inlineStr\"><is><t>           "
					"</t></is></c></row>"                       /* long but blank */
					"<row r=\"8\"><c r=\"ZZ8\" t=\"b\"><v>0</v></c></row>"
					"<row r=\"9\"><c><f>1</f></c></row>",        /* no value: blank */
			  .sst = "<si><t>\xC2\xA0</t></si><si><t>01234567890123</t></si>" },
		  &lim, &g);
	assert_int_equal(g.ncells, 3);              /* rows 1 to 3: row 2 is blank */
	want_number(&g, 3, 1, 1, NULL);
	assert_int_equal(g.nrows, 5);               /* rows 1, 3, 5, 6, 8 */
	sheet_grid_free(&g);

	/* many rows: only the first max_rows are kept */
	cap = 64 * 5000;
	data = malloc(cap);
	assert_non_null(data);
	for (i = 0, o = 0; i < 5000; i++)
		o += (size_t)snprintf(data + o, cap - o, "<row><c><v>%zu</v></c></row>", i);
	sheet_limits_default(&lim);
	read_book(&(struct book){ .sheet_data = data }, &lim, &g);
	assert_int_equal(g.ncells, 1000);
	assert_int_equal(g.nrows, 5000);
	want_number(&g, 1000, 1, 999, NULL);
	sheet_grid_free(&g);
	free(data);

	/* a shared string far beyond the limit is fine while no stored cell uses it */
	big = malloc(1 << 20);
	assert_non_null(big);
	memset(big, 'x', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	data = fmt("<si><t>ok</t></si><si><t>%s</t></si>", big);
	read_book(&(struct book){ .sheet_data = "<row><c t=\"s\"><v>0</v></c></row>", .sst = data },
		  NULL, &g);
	want_text(&g, 1, 1, "ok");
	sheet_grid_free(&g);
	refuse_book(&(struct book){ .sheet_data = "<row><c t=\"s\"><v>1</v></c></row>", .sst = data },
		    NULL, SHEET_UNREADABLE, "Cell A1 holds more than 32768 bytes");
	free(data);
	free(big);
}

/* ---- hostile input --------------------------------------------------------------- */

/* A growing byte buffer for hand-made zips. */
struct bytes {
	unsigned char *p;
	size_t n, cap;
	uint32_t bits;           /* deflate bit writer: pending bits */
	int nbits;
};

static void put_bytes(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put_le(struct bytes *b, uint32_t v, int size)
{
	unsigned char c[4];
	int i;

	for (i = 0; i < size; i++)
		c[i] = (unsigned char)(v >> (8 * i));
	put_bytes(b, c, (size_t)size);
}

/* Deflate bit writer: n bits of v, least significant first. */
static void put_bits(struct bytes *b, uint32_t v, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		b->bits |= ((v >> i) & 1) << b->nbits;
		if (++b->nbits == 8) {
			unsigned char c = (unsigned char)b->bits;

			put_bytes(b, &c, 1);
			b->bits = 0;
			b->nbits = 0;
		}
	}
}

/* A Huffman code of n bits, written most significant bit first. */
static void put_code(struct bytes *b, uint32_t code, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--)
		put_bits(b, (code >> i) & 1, 1);
}

/* Fixed-Huffman literal (RFC 1951 3.2.6). */
static void put_literal(struct bytes *b, unsigned char c)
{
	if (c < 144)
		put_code(b, 0x30 + c, 8);
	else
		put_code(b, 0x190 + (c - 144u), 9);
}

/*
 * A raw deflate stream of prefix followed by `total` bytes of spaces: each
 * 258 spaces is one 13-bit back-reference, so 600 MiB cost about 4 MiB.
 */
static void deflate_spaces(struct bytes *b, const char *prefix, size_t total)
{
	size_t i, left;

	put_bits(b, 1, 1);                          /* BFINAL */
	put_bits(b, 1, 2);                          /* BTYPE 01: fixed Huffman */
	for (i = 0; prefix[i]; i++)
		put_literal(b, (unsigned char)prefix[i]);
	put_literal(b, ' ');
	for (left = total - 1; left >= 258; left -= 258) {
		put_code(b, 0xC5, 8);               /* length code 285: 258 bytes */
		put_code(b, 0, 5);                  /* distance code 0: 1 byte back */
	}
	while (left--)
		put_literal(b, ' ');
	put_code(b, 0, 7);                          /* end of block */
	if (b->nbits)
		put_bits(b, 0, 8 - b->nbits);
}

/* One member of a hand-made zip. */
struct hmember {
	const char *name;
	const char *text;        /* stored as is, or NULL for the bomb */
	size_t declared;         /* the bomb's declared size */
	size_t real;             /* the bomb's real size */
};

/* Assembles a zip by hand: stored members, and one deflated bomb. */
static unsigned char *hand_zip(const struct hmember *m, size_t n, size_t *len)
{
	struct bytes z = { 0 }, cd = { 0 };
	size_t i;
	uint32_t *offs = calloc(n, sizeof(*offs));

	assert_non_null(offs);
	for (i = 0; i < n; i++) {
		struct bytes data = { 0 };
		uint32_t crc, usize;
		int method;

		if (m[i].text) {
			put_bytes(&data, m[i].text, strlen(m[i].text));
			crc = (uint32_t)crc32(0, (const Bytef *)m[i].text, (uInt)strlen(m[i].text));
			usize = (uint32_t)strlen(m[i].text);
			method = 0;
		}
		else {
			deflate_spaces(&data, "<worksheet><sheetData>", m[i].real);
			crc = 0;                /* never checked: reading stops long before */
			usize = (uint32_t)m[i].declared;
			method = 8;
		}
		offs[i] = (uint32_t)z.n;
		put_le(&z, 0x04034b50, 4);
		put_le(&z, 20, 2);
		put_le(&z, 0, 2);
		put_le(&z, (uint32_t)method, 2);
		put_le(&z, 0, 4);                   /* time, date */
		put_le(&z, crc, 4);
		put_le(&z, (uint32_t)data.n, 4);
		put_le(&z, usize, 4);
		put_le(&z, (uint32_t)strlen(m[i].name), 2);
		put_le(&z, 0, 2);
		put_bytes(&z, m[i].name, strlen(m[i].name));
		put_bytes(&z, data.p, data.n);

		put_le(&cd, 0x02014b50, 4);
		put_le(&cd, 20, 2);
		put_le(&cd, 20, 2);
		put_le(&cd, 0, 2);
		put_le(&cd, (uint32_t)method, 2);
		put_le(&cd, 0, 4);
		put_le(&cd, crc, 4);
		put_le(&cd, (uint32_t)data.n, 4);
		put_le(&cd, usize, 4);
		put_le(&cd, (uint32_t)strlen(m[i].name), 2);
		put_le(&cd, 0, 2);                  /* extra */
		put_le(&cd, 0, 2);                  /* comment */
		put_le(&cd, 0, 2);                  /* disk */
		put_le(&cd, 0, 2);                  /* internal attributes */
		put_le(&cd, 0, 4);                  /* external attributes */
		put_le(&cd, offs[i], 4);
		put_bytes(&cd, m[i].name, strlen(m[i].name));
		free(data.p);
	}
	{
		uint32_t cd_off = (uint32_t)z.n;

		put_bytes(&z, cd.p, cd.n);
		put_le(&z, 0x06054b50, 4);
		put_le(&z, 0, 2);
		put_le(&z, 0, 2);
		put_le(&z, (uint32_t)n, 2);
		put_le(&z, (uint32_t)n, 2);
		put_le(&z, (uint32_t)cd.n, 4);
		put_le(&z, cd_off, 4);
		put_le(&z, 0, 2);
	}
	free(cd.p);
	free(offs);
	*len = z.n;
	return z.p;
}

/* Reads buf, which must be refused with UNREADABLE and says, within HOSTILE_SECONDS. */
static void refuse_fast(const unsigned char *buf, size_t len, const char *says)
{
	struct sheet_grid g;
	char err[1024];
	double t0 = now(), dt;
	enum sheet_status st;

	st = read_buf(buf, len, NULL, &g, err, sizeof(err));
	dt = now() - t0;
	if (st != SHEET_UNREADABLE || !strstr(err, says))
		fail_msg("expected \"%s\", got %d \"%s\"", says, st, err);
	if (dt > HOSTILE_SECONDS)
		fail_msg("refusing \"%s\" took %.1f s", says, dt);
	assert_int_equal(g.ncells, 0);
	sheet_grid_free(&g);
}

static void test_zip_bombs(void **state)
{
	static const char wb[] =
		"<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheets>"
		"<sheet name=\"Boom\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
	static const char rels[] =
		"<Relationships xmlns=\"" NS_PKG "\"><Relationship Id=\"rId1\" Type=\"" NS_REL
		"/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>";
	const size_t big = (size_t)600 << 20;
	struct hmember honest[] = {
		{ "xl/workbook.xml", wb, 0, 0 }, { "xl/_rels/workbook.xml.rels", rels, 0, 0 },
		{ "xl/worksheets/sheet1.xml", NULL, big, big },
	};
	struct hmember lying[] = {
		{ "xl/workbook.xml", wb, 0, 0 }, { "xl/_rels/workbook.xml.rels", rels, 0, 0 },
		{ "xl/worksheets/sheet1.xml", NULL, 1000, big },
	};
	unsigned char *buf;
	size_t len;

	(void)state;
	/* declares 600 MiB: refused before inflating anything */
	buf = hand_zip(honest, 3, &len);
	assert_true(len < ((size_t)8 << 20));
	refuse_fast(buf, len, "more than 512 MiB of XML (reached in xl/worksheets/sheet1.xml): "
		    "kiln refuses it as a zip bomb");
	free(buf);
	/* declares 1000 bytes, inflates to 600 MiB: stopped at 512 MiB */
	buf = hand_zip(lying, 3, &len);
	refuse_fast(buf, len, "as a zip bomb");
	free(buf);
}

static void test_hostile_xml(void **state)
{
	static const char laughs[] =
		"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
		"<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
		"<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
		"<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
		"<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
		"<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
		"<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
		"]><sst xmlns=\"" NS_MAIN "\"><si><t>&lol9;</t></si></sst>";
	static const char external[] =
		"<?xml version=\"1.0\"?><!DOCTYPE wb [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
		"<workbook xmlns=\"" NS_MAIN "\"><sheets><sheet name=\"&xxe;\"/></sheets></workbook>";
	static const char undeclared[] =
		"<sst xmlns=\"" NS_MAIN "\"><si><t>&lol;</t></si></sst>";
	struct sheet_grid g;
	unsigned char *buf;
	char err[1024], *deep, *comment, *name;
	const char *members[8];
	size_t i, len, n = 100000;

	(void)state;
	/* an entity bomb in the shared strings */
	members[0] = "xl/workbook.xml";
	members[1] = "<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheets><sheet "
		     "name=\"S\" r:id=\"rId1\"/></sheets></workbook>";
	members[2] = "xl/_rels/workbook.xml.rels";
	members[3] = "<Relationships xmlns=\"" NS_PKG "\"><Relationship Id=\"rId1\" Type=\"" NS_REL
		     "/worksheet\" Target=\"s.xml\"/><Relationship Id=\"rId2\" Type=\"" NS_REL
		     "/sharedStrings\" Target=\"sst.xml\"/></Relationships>";
	members[4] = "xl/s.xml";
	members[5] = "<worksheet><sheetData/></worksheet>";
	members[6] = "xl/sst.xml";
	members[7] = laughs;
	buf = build_zip(members, 4, &len);
	refuse_fast(buf, len, "The part xl/sst.xml declares a DOCTYPE");
	free(buf);
	members[7] = undeclared;
	buf = build_zip(members, 4, &len);
	refuse_fast(buf, len, "xl/sst.xml is not well-formed XML (line 1: undefined entity)");
	free(buf);
	/* an external entity in the workbook: refused, never fetched */
	buf = build_zip((const char *const[]){ "xl/workbook.xml", external }, 1, &len);
	refuse_fast(buf, len, "declares a DOCTYPE");
	free(buf);

	/* deep nesting */
	deep = malloc(n * 3 + 64);
	assert_non_null(deep);
	strcpy(deep, "<row r=\"1\"><c r=\"A1\"><v>");
	for (i = 0; i < n; i++)
		memcpy(deep + strlen("<row r=\"1\"><c r=\"A1\"><v>") + 3 * i, "<a>", 3);
	deep[strlen("<row r=\"1\"><c r=\"A1\"><v>") + 3 * n] = '\0';
	buf = book_zip(&(struct book){ .sheet_data = deep }, &len);
	refuse_fast(buf, len, "nests elements more than 256 levels deep");
	free(buf);
	free(deep);

	/* one comment of 20 MiB: expat would buffer it whole */
	comment = malloc((20 << 20) + 16);
	assert_non_null(comment);
	strcpy(comment, "<!--");
	memset(comment + 4, 'x', 20 << 20);
	strcpy(comment + 4 + (20 << 20), "-->");
	buf = book_zip(&(struct book){ .sheet_data = comment }, &len);
	refuse_fast(buf, len, "longer than 16 MiB");
	free(buf);
	free(comment);

	/* a sheet name of absurd length */
	name = malloc(10000);
	assert_non_null(name);
	memset(name, 'n', 9999);
	name[9999] = '\0';
	{
		char *wb = fmt("<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheets>"
			       "<sheet name=\"%s\" r:id=\"rId1\"/></sheets></workbook>", name);
		const char *two[4] = { "xl/workbook.xml", wb, members[2], members[3] };

		buf = build_zip(two, 2, &len);
		refuse_fast(buf, len, "longer than 4096 bytes");
		free(buf);
		free(wb);
	}
	free(name);

	/* an encrypted package handed to the xlsx reader directly */
	{
		static const unsigned char ole[] =
			"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1....E\0n\0c\0r\0y\0p\0t\0e\0d\0P\0a\0c\0k\0"
			"a\0g\0e\0";

		assert_int_equal(read_buf(ole, sizeof(ole) - 1, NULL, &g, err, sizeof(err)),
				 SHEET_UNREADABLE);
		assert_non_null(strstr(err, "password-protected"));
		sheet_grid_free(&g);
	}
}

/*
 * Many sheets, relationships, content types and formats: every lookup must
 * stay cheap (a scan per sheet would be 10^9 comparisons here).
 */
static void test_many_parts(void **state)
{
	const size_t nsheets = 50000, nfmts = 50000, nxf = 200000, cap = 16 << 20;
	char *ct = malloc(cap), *wb = malloc(cap), *rels = malloc(cap), *styles = malloc(cap);
	const char *members[10];
	size_t i, o1, o2, o3, o4, len;
	struct sheet_grid g;
	unsigned char *buf;
	char err[1024];
	double t0;

	(void)state;
	assert_true(ct && wb && rels && styles);
	o1 = (size_t)snprintf(ct, cap, "<Types xmlns=\"http://schemas.openxmlformats.org/package/"
			      "2006/content-types\"><Override PartName=\"/xl/workbook.xml\" "
			      "ContentType=\"" CT_MAIN "\"/>");
	o2 = (size_t)snprintf(wb, cap, "<workbook xmlns=\"" NS_MAIN "\" xmlns:r=\"" NS_REL "\"><sheets>");
	o3 = (size_t)snprintf(rels, cap, "<Relationships xmlns=\"" NS_PKG "\">"
			      "<Relationship Id=\"styles\" Type=\"" NS_REL "/styles\" "
			      "Target=\"styles.xml\"/>");
	for (i = 0; i < nsheets; i++) {
		o1 += (size_t)snprintf(ct + o1, cap - o1, "<Override PartName=\"/xl/s%zu.xml\" "
				       "ContentType=\"" CT_SHEET "\"/>", i);
		o2 += (size_t)snprintf(wb + o2, cap - o2, "<sheet name=\"S%zu\" r:id=\"r%zu\"%s/>", i, i,
				       i + 1 < nsheets ? " state=\"hidden\"" : "");
		o3 += (size_t)snprintf(rels + o3, cap - o3, "<Relationship Id=\"r%zu\" Type=\"" NS_REL
				       "/worksheet\" Target=\"s%zu.xml\"/>", i, i);
	}
	snprintf(ct + o1, cap - o1, "</Types>");
	snprintf(wb + o2, cap - o2, "</sheets></workbook>");
	snprintf(rels + o3, cap - o3, "</Relationships>");
	o4 = (size_t)snprintf(styles, cap, "<styleSheet><numFmts>");
	for (i = 0; i < nfmts; i++)
		o4 += (size_t)snprintf(styles + o4, cap - o4, "<numFmt numFmtId=\"%zu\" formatCode=\"%s\"/>",
				       1000 + i, i == 7 ? "0.00" : "d/m");
	o4 += (size_t)snprintf(styles + o4, cap - o4, "<numFmt numFmtId=\"1007\" formatCode=\"h:mm\"/>"
			       "</numFmts><cellXfs>");
	for (i = 0; i < nxf; i++)
		o4 += (size_t)snprintf(styles + o4, cap - o4, "<xf numFmtId=\"%zu\"/>", 1000 + i % 100);
	snprintf(styles + o4, cap - o4, "</cellXfs></styleSheet>");
	members[0] = "[Content_Types].xml";
	members[1] = ct;
	members[2] = "xl/workbook.xml";
	members[3] = wb;
	members[4] = "xl/_rels/workbook.xml.rels";
	members[5] = rels;
	members[6] = "xl/styles.xml";
	members[7] = styles;
	members[8] = "xl/s49999.xml";
	members[9] = "<worksheet><sheetData><row><c s=\"199907\"><v>0.5</v></c>"
		     "<c s=\"6\"><v>1</v></c></row></sheetData></worksheet>";
	buf = build_zip(members, 5, &len);
	t0 = now();
	if (read_buf(buf, len, NULL, &g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s", err);
	if (now() - t0 > 10 * time_factor())
		fail_msg("reading took %.1f s", now() - t0);
	assert_string_equal(g.sheet_name, "S49999");
	want_number(&g, 1, 1, 0.5, "h:mm");         /* the later definition of 1007 wins */
	want_number(&g, 1, 2, 1, "d/m");
	assert_int_equal(g.warnings.n, 1);
	assert_non_null(strstr(g.warnings.v[0].message, "\"S0\", \"S1\", \"S2\", \"S3\", \"S4\" "
			       "and 49994 more before it were skipped"));
	sheet_grid_free(&g);
	free(buf);
	free(ct);
	free(wb);
	free(rels);
	free(styles);
}

/* ---- the corpus ---------------------------------------------------------------- */

/*
 * Reads file (relative to the corpus) with lim (NULL: defaults) and compares
 * its grid cell by cell with oracle; with prefix, only the oracle's rows up
 * to the last row stored are compared (the rest were only counted).  Checks
 * grid->nrows against the oracle's non-blank rows and, when sheet is not
 * NULL, the sheet's name.  Returns the number of cells compared.
 */
static size_t compare_with_oracle(const char *file, const char *oracle,
				  const struct sheet_limits *lim, int prefix, const char *sheet)
{
	char path[512], err[1024];
	unsigned char *buf;
	size_t len, compared;
	struct sheet_grid g;

	snprintf(path, sizeof(path), CORPUS "/%s", file);
	buf = slurp(path, &len);
	if (!buf)
		fail_msg("cannot read %s", path);
	if (sheet_sniff(buf, len, NULL) != SHEET_FMT_XLSX)
		fail_msg("%s: not sniffed as .xlsx", file);
	if (read_buf(buf, len, lim, &g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s: %s", file, err);
	free(buf);
	if (sheet && (!g.sheet_name || strcmp(g.sheet_name, sheet)))
		fail_msg("%s: read the sheet \"%s\", the oracle's is \"%s\"", file,
			 g.sheet_name ? g.sheet_name : "(none)", sheet);
	compared = oracle_compare(&g, file, oracle, ORACLE_NROWS | (prefix ? ORACLE_PREFIX : 0));
	sheet_grid_free(&g);
	return compared;
}

/* The sheet name the oracle read for file, from oracle/INDEX.tsv (into buf). */
static const char *oracle_sheet(const char *index, const char *file, char *buf, size_t len)
{
	const char *p = index;
	size_t fl = strlen(file);

	while (p && *p) {
		if (!strncmp(p, file, fl) && p[fl] == '\t') {
			const char *f = p;
			int tabs;

			for (tabs = 0; tabs < 3 && f; tabs++) {
				f = strchr(f, '\t');
				if (f)
					f++;
			}
			if (!f)
				return NULL;
			snprintf(buf, len, "%.*s", (int)strcspn(f, "\t\n"), f);
			return buf;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

static void test_corpus_sheetjs(void **state)
{
	struct sheet_limits lim;
	unsigned char *manifest, *index;
	size_t len, files = 0, cells = 0;
	char *line, *save = NULL;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_sheetjs: skipped, no %s\n", CORPUS);
		skip();
	}
	manifest = slurp(CORPUS "/sheetjs/MANIFEST.tsv", &len);
	index = slurp(CORPUS "/sheetjs/oracle/INDEX.tsv", &len);
	assert_non_null(manifest);
	assert_non_null(index);
	/* everything stored, so that the whole oracle is compared */
	sheet_limits_default(&lim);
	lim.max_rows = 100000;
	lim.max_cells = 1000000;
	for (line = strtok_r((char *)manifest, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char file[256], oracle[320], sheet[256], *f[5], *p = line;
		struct stat st;
		int k;

		for (k = 0; k < 5; k++) {
			f[k] = p;
			p = p ? strchr(p, '\t') : NULL;
			if (p)
				*p++ = '\0';
		}
		if (!f[4] || (strcmp(f[1], "xlsx") && strcmp(f[1], "xlsm")) || strncmp(f[4], "read", 4))
			continue;
		snprintf(file, sizeof(file), "sheetjs/%s", f[0]);
		snprintf(oracle, sizeof(oracle), CORPUS "/sheetjs/oracle/%s.jsonl", f[0]);
		if (stat(oracle, &st))
			snprintf(oracle, sizeof(oracle), "sheetjs/oracle/%s.jsonl.gz", f[0]);
		else
			snprintf(oracle, sizeof(oracle), "sheetjs/oracle/%s.jsonl", f[0]);
		cells += compare_with_oracle(file, oracle, &lim, 0,
					     oracle_sheet((char *)index, f[0], sheet, sizeof(sheet)));
		files++;
	}
	assert_int_equal(files, 24);
	printf("test_corpus_sheetjs: %zu files, %zu cells compared\n", files, cells);
	free(manifest);
	free(index);
}

/* large_strings.xlsx with the default limits: 1000 rows kept, 9999 counted. */
static void test_corpus_large_strings(void **state)
{
	double t0;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_large_strings: skipped, no %s\n", CORPUS);
		skip();
	}
	t0 = now();
	assert_true(compare_with_oracle("sheetjs/large_strings.xlsx",
					"sheetjs/oracle/large_strings.xlsx.jsonl.gz",
					NULL, 1, "Large Strings") > 1000);
	assert_true(now() - t0 < HOSTILE_SECONDS);
}

static void test_corpus_batches(void **state)
{
	static const char *const files[] = {
		"stickers-text.xlsx", "stickers-default.xlsx", "stickers-times.xlsx"
	};
	char file[128], oracle[160];
	size_t i;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_batches: skipped, no %s\n", CORPUS);
		skip();
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(file, sizeof(file), "batches/%s", files[i]);
		snprintf(oracle, sizeof(oracle), "batches/oracle/%s.jsonl", files[i]);
		assert_true(compare_with_oracle(file, oracle, NULL, 0, NULL) > 100);
	}
	/* the hidden first sheet is skipped: the batch reads as stickers-text does */
	assert_true(compare_with_oracle("batches/stickers-hidden-first.xlsx",
					"batches/oracle/stickers-text.xlsx.jsonl", NULL, 0,
					"Batch") > 100);
}

/* Reads and validates a batch file of the corpus; returns the error count. */
static int corpus_batch(const char *name, struct sheet_batch *b, struct sheet_grid *g)
{
	char path[256], err[1024];
	unsigned char *buf;
	size_t len;

	snprintf(path, sizeof(path), CORPUS "/batches/%s", name);
	buf = slurp(path, &len);
	assert_non_null(buf);
	if (read_buf(buf, len, NULL, g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s: %s", name, err);
	free(buf);
	return sheet_validate(g, NULL, b);
}

static const struct sheet_row *row_no(const struct sheet_batch *b, unsigned row)
{
	size_t i;

	for (i = 0; i < b->nrows; i++)
		if (b->rows[i].row == row)
			return &b->rows[i];
	fail_msg("no row %u", row);
	return NULL;
}

static void test_corpus_batches_validate(void **state)
{
	static const struct {
		const char *name;
		size_t warnings;
	} files[] = {
		{ "stickers-text.xlsx", 0 }, { "stickers-default.xlsx", 0 },
		{ "stickers-times.xlsx", 11 }, { "stickers-hidden-first.xlsx", 1 },
	};
	static const char *const ratios[14] = {
		[2] = "1:1", [3] = "2:3", [4] = "16:9", [5] = "3:4", [6] = "16:9", [7] = "1:1",
		[8] = "2:3", [9] = "3:4", [10] = "1:1", [11] = "16:9", [12] = "2:3", [13] = "3:4",
	};
	struct sheet_batch b;
	struct sheet_grid g;
	const struct sheet_fields *f;
	size_t i;
	unsigned r;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_batches_validate: skipped, no %s\n", CORPUS);
		skip();
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int n = corpus_batch(files[i].name, &b, &g);

		if (n)
			fail_msg("%s: %s", files[i].name, b.errors.v[0].message);
		assert_int_equal(b.nrows, 12);
		assert_int_equal(b.images_total, 48);
		if (b.warnings.n != files[i].warnings)
			fail_msg("%s: %zu warnings, first \"%s\"", files[i].name, b.warnings.n,
				 b.warnings.n ? b.warnings.v[0].message : "");
		for (r = 2; r <= 13; r++)
			assert_string_equal(row_no(&b, r)->f.aspect_ratio, ratios[r]);
		f = &row_no(&b, 2)->f;
		assert_string_equal(f->prompt, "A cheerful gingerbread man sticker with white "
				    "icing buttons, die-cut border");
		assert_string_equal(f->model, "2.0");
		assert_int_equal(f->seed, 12345);
		assert_string_equal(f->color_palette, "#CBA324 #F86C14 #C71E71");
		assert_int_equal(row_no(&b, 3)->f.seed, -1);
		assert_string_equal(row_no(&b, 4)->f.model, "1.0");
		/* stickers-default.* itself holds "CrÃ¨me" (LibreOffice's default CSV
		   import guessed the wrong character set); its oracle agrees */
		if (strcmp(files[i].name, "stickers-default.xlsx"))
			assert_string_equal(row_no(&b, 5)->f.prompt, "Cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\x65 "
					    "Christmas pudding with a holly sprig, flat vector sticker");
		assert_int_equal(row_no(&b, 5)->f.seed, 42);
		assert_string_equal(row_no(&b, 6)->f.model, "0.2");
		assert_int_equal(row_no(&b, 6)->f.seed, 2147483647);
		assert_string_equal(row_no(&b, 7)->f.aspect_ratio, "1:1");
		assert_non_null(strstr(row_no(&b, 10)->f.prompt, "\"Let it snow\""));
		assert_int_equal(row_no(&b, 13)->f.seed, 0);
		if (!strcmp(files[i].name, "stickers-times.xlsx")) {
			assert_string_equal(b.warnings.v[0].message, "C2 aspect_ratio was stored as "
					    "the time 01:01 by the spreadsheet; read as 1:1 "
					    "\xE2\x80\x94 format the column as text to avoid this");
			for (r = 0; r < 11; r++)
				if (!strstr(b.warnings.v[r].message, "stored as the time"))
					fail_msg("warning %u: %s", r, b.warnings.v[r].message);
			assert_string_equal(g.cells[22].format, "hh:mm:ss\\ AM/PM");
		}
		if (!strcmp(files[i].name, "stickers-hidden-first.xlsx")) {
			assert_string_equal(g.sheet_name, "Batch");
			assert_non_null(strstr(b.warnings.v[0].message, "\"Batch\""));
			assert_non_null(strstr(b.warnings.v[0].message, "\"Instructions\""));
		}
		sheet_batch_free(&b);
		sheet_grid_free(&g);
	}
}

/* The corpus files the reader must refuse, and every other file it is handed by mistake. */
static void test_corpus_refused(void **state)
{
	static const struct oracle_refusal files[] = {
		{ "sheetjs/crlf/crlf.xlsb", SHEET_UNSUPPORTED, "binary workbook (.xlsb)" },
		{ "batches/stickers-encrypted.xlsx", SHEET_UNREADABLE, "password-protected" },
		{ "batches/stickers-encrypted.ods", SHEET_UNREADABLE, "no workbook part" },
		{ "sheetjs/minimal_112.numbers", SHEET_UNREADABLE, "no workbook part" },
		{ "batches/stickers-text.ods", SHEET_UNREADABLE, "no workbook part" },
		{ "batches/stickers-text.xls", SHEET_UNSUPPORTED, "not an .xlsx" },
		{ "batches/stickers.csv", SHEET_UNREADABLE, "cannot be opened as one" },
		{ "sheetjs/crlf/crlf.fods", SHEET_UNREADABLE, "cannot be opened as one" },
	};

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_refused: skipped, no %s\n", CORPUS);
		skip();
	}
	oracle_refused(files, sizeof(files) / sizeof(files[0]), read_buf);
}

/*
 * Both XML paths (the fast scanner, and expat alone) give the same answer
 * on every .xlsx/.xlsm of the corpus, with the default limits and with
 * everything kept; and the fast scanner really reads the parts of nearly
 * all of them (it falls back to expat only where the file holds something
 * it leaves to expat).
 */
static void test_corpus_both_paths(void **state)
{
	static const char *const dirs[] = { CORPUS "/sheetjs", CORPUS "/batches" };
	struct sheet_limits lim[2];
	size_t files = 0, fast_files = 0, d;
	char why[2048];

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_both_paths: skipped, no %s\n", CORPUS);
		skip();
	}
	sheet_limits_default(&lim[0]);
	sheet_limits_default(&lim[1]);
	lim[1].max_rows = 100000;
	lim[1].max_cells = 1000000;
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		char cmd[512];
		FILE *ls;
		char path[1024];

		snprintf(cmd, sizeof(cmd), "find %s -type f \\( -name '*.xlsx' -o -name '*.xlsm' \\) "
			 "| sort", dirs[d]);
		ls = popen(cmd, "r");
		assert_non_null(ls);
		while (fgets(path, sizeof(path), ls)) {
			unsigned char *buf;
			unsigned fast = 0;
			size_t len, k;

			path[strcspn(path, "\n")] = '\0';
			buf = slurp(path, &len);
			assert_non_null(buf);
			for (k = 0; k < 2; k++)
				if (xlsxdiff(buf, len, &lim[k], &fast, why, sizeof(why)))
					fail_msg("%s: the fast path and expat disagree: %s", path, why);
			files++;
			fast_files += fast > 0;
			free(buf);
		}
		pclose(ls);
	}
	printf("test_corpus_both_paths: %zu files agree, %zu of them read by the fast scanner\n",
	       files, fast_files);
	assert_true(files >= 29);
	assert_true(fast_files * 10 >= files * 8);
}

/*
 * Zips book b and reads it through both XML paths with each of the n
 * limits; fails naming what (and i) when they disagree.  Returns the parts
 * the fast scanner read with the first limits.
 */
static unsigned both_paths(const struct book *b, const struct sheet_limits *lim, size_t n,
			   const char *what, size_t i)
{
	unsigned char *buf;
	unsigned fast = 0, f;
	char why[2048];
	size_t len, k;

	buf = book_zip(b, &len);
	for (k = 0; k < n; k++) {
		if (xlsxdiff(buf, len, &lim[k], &f, why, sizeof(why)))
			fail_msg("%s %zu, limits %zu: the fast path and expat disagree: %s", what, i,
				 k, why);
		if (!k)
			fast = f;
	}
	free(buf);
	return fast;
}

/*
 * The fast scanner reads the commonest cell, <c r=".." t=".." s=".."><v>..</v></c>
 * or <c .../>, in one step: every shape near it (spacing, quotes, empty
 * values, each type, other attributes, references, repeated attributes,
 * values it leaves to the token path, too long for a stored or a counted
 * row, nested at the depth limit) reads as expat reads it.
 */
static void test_fast_cell_shapes(void **state)
{
	static const char *const shapes[] = {
		"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\"><v>42</v></c>"
		"<c r=\"C1\" s=\"1\"/><c r=\"D1\" t='s' s='0'><v> 1 </v></c><c r=\"E1\" t=\"s\" "
		"s=\"7\"><v>2</v></c></row>",
		"<row r=\"1\"><c  r=\"A1\"   t=\"s\" ><v>0</v></c><c r=\"B1\" /><c/><c></c>"
		"<c r=\"D1\"><v></v></c><c r=\"E1\" t=\"s\"><v></v></c><c r=\"F1\"><v>1.5e3</v></c></row>",
		"<row><c t=\"b\"><v>1</v></c><c t=\"e\"><v>#N/A</v></c><c t=\"str\"><v>x y</v></c>"
		"<c t=\"inlineStr\"><v>7</v></c><c t=\"d\"><v>2020-02-29T10:00:00</v></c>"
		"<c t=\"n\"><v>-0.25</v></c><c t=\"\"><v>3</v></c><c t=\"str\"><v> </v></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"x\"><v>1</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"b\"><v>2</v></c></row>",
		"<row r=\"1\"><c r=\"A1\"><v>1x</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" r=\"A1\"><v>1</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" s=\"1\" s=\"2\"/></row>",
		"<row r=\"1\"><c r=\"A1\"t=\"s\"><v>0</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" = \"s\"><v>0</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=s><v>0</v></c></row>",
		"<row r=\"1\"><c x:r=\"A1\" cm=\"1\" vm=\"2\" ph=\"1\" xml:space=\"preserve\"><v>5</v></c>"
		"<c r=\"B1\" a=\"1\" b=\"2\" d=\"3\" e=\"4\" f=\"5\" g=\"6\" h=\"7\" i=\"8\"><v>6</v></c>"
		"<c r=\"C1\" t=\"str\"><v>1&amp;2</v></c><c r=\"D1\" t=\"str\"><v>caf\xC3\xA9</v></c>"
		"<c r=\"E1\"><f>1+1</f><v>2</v></c><c r=\"F1\" t=\"s\"><v>1</v></c >"
		"<c r=\"G1\" t=\"str\"><v>a\nb</v></c><c r=\"H1\" s=\"1\"\t/><c r=\"I1\" t=\"s\">"
		"<v>0</v> </c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"str\"><v>a]]>b</v></c></row>",
		"<row r=\"1\"><c r=\"A\tB\"><v>1</v></c></row>",
		"<row r=\"1\"><c r=\"B1\"><v>1</v></c><c r=\"A1\"><v>2</v></c></row>",
		"<row r=\"1\"><c r=\"1A\"><v>1</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>9</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>-1</v></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"str\"><v>123456789</v></c></row>",
		"<row r=\"1\"><c r=\"A1\"><v>1</v></c></row><row r=\"2\"><c r=\"A2\" t=\"str\">"
		"<v>123456789</v></c><c r=\"B2\"><v>2</v></c></row><row r=\"3\"><c r=\"A3\" "
		"t=\"str\"><v>        x</v></c></row><row r=\"4\"><c r=\"A4\" t=\"s\"><v>1</v></c>"
		"<c r=\"B4\" t=\"s\"><v>0</v></c></row><row r=\"5\"><c r=\"A5\"/></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>0</v></c>",
		/* inline strings, and <v> texts beyond plain ASCII */
		"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>a b</t></is></c><c r=\"B1\" "
		"t=\"inlineStr\"><is><t xml:space=\"preserve\"> x </t></is></c><c r=\"C1\" "
		"t=\"inlineStr\"><is><t>Cr&#232;me &amp; caf\xC3\xA9 _x0041_</t></is></c><c r=\"D1\" "
		"t=\"inlineStr\"><is><t></t></is></c><c r=\"E1\" t=\"inlineStr\"><is><t>   </t></is>"
		"</c><c r=\"F1\" t=\"s\"><is><t>x</t></is></c><c r=\"G1\"><is><t>9</t></is></c>"
		"<c r=\"H1\" t=\"str\"><v>&lt;&#x41;\r\n\xE2\x82\xAC</v></c><c r=\"I1\" "
		"t=\"inlineStr\"><is><t>a\r\nb</t></is></c><c r=\"J1\" t=\"inlineStr\"><is><r><t>ri"
		"</t></r><r><t>ch</t></r></is></c><c r=\"K1\" t=\"inlineStr\"><is><t>12345678</t>"
		"</is></c></row><row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>\xC3\xA9\xC3\xA9"
		"\xC3\xA9\xC3\xA9</t></is></c><c r=\"B2\" t=\"inlineStr\"><is><t>1&amp;23456</t></is>"
		"</c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>a]]>b</t></is></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>a&bogus;b</t></is></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>a\x01" "b</t></is></c></row>",
		"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>a\xC3" "b</t></is></c></row>",
		"<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>a&amp;b</t></is></c></row>"
		"<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>x</t></is></c></row>",
	};
	static const char *const sst_shapes[] = {
		"<si><t>one</t></si><si><t xml:space=\"preserve\"> two </t></si><si><t></t></si>"
		"<si><t>caf\xC3\xA9 &amp; &#x41;&#66; _x0043_\r\nx</t></si>",
		"<si><r><t>ri</t></r><r><t>ch</t></r></si><si><t>a</t><rPh><t>b</t></rPh></si>"
		"<si><t>12345678</t></si><si ><t>x</t></si>",
		"<si><t>one</t></si><si><t>a]]>b</t></si><si><t>c</t></si><si><t>d</t></si>",
		"<si><t>one</t></si><si><t>a&nope;b</t></si><si><t>c</t></si><si><t>d</t></si>",
		"<si><t>one</t></si><si><t>a\xFF" "b</t></si><si><t>c</t></si><si><t>d</t></si>",
		"<si><t>one</t></si><si><t>a</t></si ><si><t>c</t></si><si><t>d</t></si>",
		"<si><t>one</t></si><si><t>two</t></si>",
		"<si><t>one</t><t>two</t></si><si><t x=\"1\">b</t></si><si><t>c</t></si><si>d</si>",
	};
	struct sheet_limits lim[3];
	struct book b = { NULL, "<si><t>one</t></si><si><t> </t></si><si><t>two</t></si>",
			  styles_basic, NULL };
	size_t i, k, depth;
	unsigned fast;

	(void)state;
	sheet_limits_default(&lim[0]);
	sheet_limits_default(&lim[1]);
	lim[1].max_rows = 1;            /* the header kept, every other row only counted */
	lim[1].max_cell_bytes = 5;
	lim[2] = lim[1];
	lim[2].max_rows = 100;
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		b.sheet_data = shapes[i];
		fast = both_paths(&b, lim, 3, "shape", i);
		if (i == 0)
			assert_int_equal(fast, 2);      /* the sheet and the shared strings */
	}
	/* shared strings of every shape near <si><t>..</t></si>, each used by a cell */
	for (i = 0; i < sizeof(sst_shapes) / sizeof(sst_shapes[0]); i++) {
		static const char cells[] =
			"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
			"<c r=\"C1\" t=\"s\"><v>2</v></c><c r=\"D1\" t=\"s\"><v>3</v></c></row>";
		struct book sb = { cells, sst_shapes[i], NULL, NULL };

		both_paths(&sb, lim, 3, "shared strings", i);
	}
	/*
	 * a worksheet past XLSX_WHOLE_MAX (1 MiB), read 64 KiB at a time: cells of
	 * every common shape cut by the ends of the chunks at every place
	 */
	{
		struct sheet_limits all = lim[0];
		size_t o = 0, row;
		char *data = malloc(7000 * 260);

		assert_non_null(data);
		all.max_rows = 100000;
		all.max_cells = 1000000;
		for (row = 1; row <= 7000; row++)
			o += (size_t)sprintf(data + o, "<row r=\"%zu\"><c r=\"A%zu\" t=\"s\"><v>%zu</v></c>"
					     "<c r=\"B%zu\" t=\"inlineStr\"><is><t>caf\xC3\xA9 &amp; %zu</t>"
					     "</is></c><c r=\"C%zu\"><v>%zu.5</v></c><c r=\"D%zu\" s=\"1\"/>"
					     "<c r=\"E%zu\" t=\"str\"><v>x&lt;%.*s</v></c></row>", row, row,
					     row % 3, row, row, row, row, row, row, (int)(row % 37),
					     "0123456789012345678901234567890123456");
		b.sheet_data = data;
		assert_true(o > ((size_t)1 << 20));
		assert_int_equal(both_paths(&b, lim, 1, "a worksheet of 1 MiB and more", o), 2);
		assert_int_equal(both_paths(&b, &all, 1, "a worksheet of 1 MiB and more, all kept", o),
				 2);
		free(data);
	}
	/* a cell and its <v> nested up to the depth limit (256) and past it: <row> is at 3 */
	for (depth = 248; depth <= 254; depth++) {
		size_t o = 0;
		char *data = malloc(depth * 8 + 200);

		assert_non_null(data);
		o += (size_t)sprintf(data + o, "<row r=\"1\">");
		for (k = 0; k < depth; k++)
			o += (size_t)sprintf(data + o, "<x>");
		o += (size_t)sprintf(data + o, "<c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\"/>");
		for (k = 0; k < depth; k++)
			o += (size_t)sprintf(data + o, "</x>");
		sprintf(data + o, "</row>");
		b.sheet_data = data;
		both_paths(&b, lim, 3, "nested, deep", depth);
		free(data);
	}
}

/* Little-endian field of n bytes at p. */
static uint32_t get_le(const unsigned char *p, int n)
{
	uint32_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static void set_le(unsigned char *p, uint32_t v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * Where member name of the zip in buf keeps its CRC-32 and sizes: the
 * offsets of its central directory entry and of its local header, and of
 * its deflated data.
 */
static void zip_member(unsigned char *buf, size_t len, const char *name, size_t *central,
		       size_t *local, size_t *data)
{
	size_t i, n = strlen(name);

	for (i = 0; i + 46 <= len; i++)
		if (get_le(buf + i, 4) == 0x02014b50 && get_le(buf + i + 28, 2) == n &&
		    i + 46 + n <= len && !memcmp(buf + i + 46, name, n)) {
			*central = i;
			*local = get_le(buf + i + 42, 4);
			assert_true(*local + 30 <= len && get_le(buf + *local, 4) == 0x04034b50);
			*data = *local + 30 + get_le(buf + *local + 26, 2) + get_le(buf + *local + 28, 2);
			assert_int_equal(get_le(buf + i + 10, 2), 8);   /* deflated */
			return;
		}
	fail_msg("no member %s", name);
}

/*
 * Damaged parts: a CRC-32, a deflated byte or a declared size that is
 * wrong in the shared strings or the worksheet.  Both XML paths (the fast
 * one inflates these small parts whole, with its own CRC-32 check) give
 * the same answer; a part read to its end with a bad CRC-32 or bad deflate
 * data is refused as damaged.
 */
static void test_damaged_parts(void **state)
{
	static const char *const parts[] = { "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml" };
	char *data = malloc(200 * 80 + 1);
	struct book b = { NULL, NULL, NULL, NULL };
	struct sheet_limits lim;
	char why[2048], err[1024];
	size_t i, o = 0;
	int k;

	(void)state;
	assert_non_null(data);
	for (i = 1; i <= 200; i++)
		o += (size_t)sprintf(data + o, "<row r=\"%zu\"><c r=\"A%zu\" t=\"s\"><v>%zu</v></c></row>",
				     i, i, i % 3);
	b.sheet_data = data;
	b.sst = "<si><t>prompt</t></si><si><t>two</t></si><si><t>three</t></si>";
	sheet_limits_default(&lim);
	for (i = 0; i < 2; i++)
		for (k = 0; k < 4; k++) {
			size_t len, central = 0, local = 0, pos = 0;
			unsigned char *buf = book_zip(&b, &len);
			struct sheet_grid g;
			enum sheet_status st;
			uint32_t v;

			zip_member(buf, len, parts[i], &central, &local, &pos);
			switch (k) {
			case 0:         /* another CRC-32, in both headers */
				v = get_le(buf + central + 16, 4) ^ 0x10;
				set_le(buf + central + 16, v, 4);
				set_le(buf + local + 14, v, 4);
				break;
			case 1:         /* a deflated byte changed, early in the part */
				buf[pos + 12] ^= 0x55;
				break;
			case 2:         /* one byte more declared than it inflates to */
			case 3:         /* one byte less */
				v = get_le(buf + central + 24, 4) + (k == 2 ? 1 : -1);
				set_le(buf + central + 24, v, 4);
				set_le(buf + local + 22, v, 4);
				break;
			}
			if (xlsxdiff(buf, len, &lim, NULL, why, sizeof(why)))
				fail_msg("%s, damage %d: the fast path and expat disagree: %s", parts[i],
					 k, why);
			st = read_buf(buf, len, &lim, &g, err, sizeof(err));
			/* the worksheet is read up to </sheetData> only: its CRC-32 is never checked */
			if (k <= 1 && !(i == 1 && k == 0) &&
			    (st != SHEET_UNREADABLE || !strstr(err, "cannot be unpacked")))
				fail_msg("%s, damage %d: %d \"%s\"", parts[i], k, st, err);
			sheet_grid_free(&g);
			free(buf);
		}
	free(data);
}

/*
 * Shared strings past 256 KiB are read in two passes (states first, then
 * only the strings the kept rows use): the grid is the same as when they
 * are kept whole.  The same strings come first in both books; the second
 * adds 300 KiB of strings no cell uses, after them.  Blank and empty
 * strings, escapes, rich text, strings used twice and out of order, rows
 * past max_rows that only a blank string fills (not counted) or a real one
 * (counted), and a too-long string in a counted row (counted, not refused).
 */
static void test_shared_strings_two_passes(void **state)
{
	static const char used[] =
		"<si><t>prompt</t></si><si><t> </t></si><si><t></t></si>"
		"<si><t>_x0041_BC</t></si><si><r><t>rich </t></r><r><t>text</t></r></si>"
		"<si><t>last</t></si>";
	static const char sheet[] =
		"<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>5</v></c></row>"
		"<row r=\"2\"><c r=\"A2\" t=\"s\"><v>1</v></c></row>"
		"<row r=\"3\"><c r=\"A3\" t=\"s\"><v>2</v></c></row>"
		"<row r=\"4\"><c r=\"A4\" t=\"s\"><v>4</v></c><c r=\"B4\" t=\"s\"><v>3</v></c>"
		"<c r=\"C4\" t=\"s\"><v>4</v></c></row>"
		"<row r=\"5\"><c r=\"A5\" t=\"s\"><v>0</v></c><c r=\"B5\" t=\"s\"><v>1</v></c></row>"
		"<row r=\"6\"><c r=\"A6\" t=\"s\"><v>1</v></c></row>"
		"<row r=\"7\"><c r=\"A7\" t=\"s\"><v>5</v></c></row>"
		"<row r=\"8\"><c r=\"A8\" t=\"s\"><v>6</v></c></row>";
	struct sheet_limits lim;
	struct sheet_grid small, big;
	struct book b = { sheet, NULL, NULL, NULL };
	char *pad, *sst;
	size_t i, o = 0;

	(void)state;
	pad = malloc(300 * 1100 + 64);
	assert_non_null(pad);
	o += (size_t)sprintf(pad + o, "<si><t>");      /* index 6: too long for max_cell_bytes */
	for (i = 0; i < 2000; i++)
		pad[o++] = 'L';
	o += (size_t)sprintf(pad + o, "</t></si>");
	for (i = 0; i < 300; i++) {
		o += (size_t)sprintf(pad + o, "<si><t>");
		memset(pad + o, 'a' + (int)(i % 26), 1000);
		o += 1000;
		o += (size_t)sprintf(pad + o, "</t></si>");
	}
	pad[o] = '\0';
	sheet_limits_default(&lim);
	lim.max_rows = 4;               /* rows 1, 4 and 5 are kept; 2 and 3 are blank */
	lim.max_cell_bytes = 1000;
	/* the small book: the used strings and the long one, no padding */
	sst = fmt("%s%.*s", used, (int)(strstr(pad, "</si>") - pad + 5), pad);
	b.sst = sst;
	read_book(&b, &lim, &small);
	free(sst);
	sst = fmt("%s%s", used, pad);
	b.sst = sst;
	read_book(&b, &lim, &big);
	free(sst);
	free(pad);
	assert_int_equal(small.ncells, big.ncells);
	assert_int_equal(small.nrows, big.nrows);
	for (i = 0; i < small.ncells; i++) {
		assert_int_equal(small.cells[i].row, big.cells[i].row);
		assert_int_equal(small.cells[i].col, big.cells[i].col);
		assert_string_equal(small.cells[i].text, big.cells[i].text);
	}
	want_text(&big, 1, 2, "last");
	want_text(&big, 2, 1, " ");
	assert_null(cell_at(&big, 3, 1));                 /* an empty string is no cell */
	want_text(&big, 4, 1, "rich text");
	want_text(&big, 4, 2, "ABC");
	want_text(&big, 4, 3, "rich text");
	want_text(&big, 5, 2, " ");
	/* kept: 1, 4, 5, 7 (the 4th non-blank row); counted: 8 (too long, not refused) */
	want_text(&big, 7, 1, "last");
	assert_null(cell_at(&big, 8, 1));
	assert_int_equal(big.nrows, 5);
	sheet_grid_free(&small);
	sheet_grid_free(&big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cell_types),
		cmocka_unit_test(test_date1904),
		cmocka_unit_test(test_number_formats),
		cmocka_unit_test(test_sheet_choice),
		cmocka_unit_test(test_odd_packages),
		cmocka_unit_test(test_package_errors),
		cmocka_unit_test(test_bad_cells),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_zip_bombs),
		cmocka_unit_test(test_hostile_xml),
		cmocka_unit_test(test_many_parts),
		cmocka_unit_test(test_corpus_sheetjs),
		cmocka_unit_test(test_corpus_large_strings),
		cmocka_unit_test(test_corpus_batches),
		cmocka_unit_test(test_corpus_batches_validate),
		cmocka_unit_test(test_corpus_refused),
		cmocka_unit_test(test_corpus_both_paths),
		cmocka_unit_test(test_shared_strings_two_passes),
		cmocka_unit_test(test_fast_cell_shapes),
		cmocka_unit_test(test_damaged_parts),
	};

	return cmocka_run_group_tests_name("xlsx", tests, NULL, NULL);
}
