/*
 * test_sheet.c — unit tests of the spreadsheet module (sheet/): sniffing,
 * the CSV reader, the grid, the validator and the templates.
 *
 * DESIGN
 * Inputs are built inline (CSV text, UTF-16 and Windows-1252 bytes, a tiny
 * OLE2 compound file, zips written with libzip), so the tests need nothing
 * outside the tree.  The corpus tests read ../shared/corpus (the tests run
 * from the repository root) and compare every CSV/text file's grid, cell by
 * cell, with its oracle (JSON lines, read with cJSON), then validate the
 * batch files; when the corpus is missing they are skipped by name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* mkstemp(), strtok_r(), strdup() even under -std=c11 */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zip.h>

#include "sheet/sheet.h"
#include "tests/unit/oracle.h"

#define B(lit) lit, sizeof(lit) - 1  /* a literal and its length, NULs included */

/* ---- helpers ------------------------------------------------------------- */

/* Reads text through sheet_read() with the default limits; asserts success. */
static void read_ok(const char *csv, struct sheet_grid *g)
{
	char err[512];
	enum sheet_status st;

	st = sheet_read((const unsigned char *)csv, strlen(csv), NULL, g, err, sizeof(err));
	if (st != SHEET_OK)
		fail_msg("sheet_read: %d %s", st, err);
}

/* The text of the cell at (row, col), or NULL when there is none. */
static const char *cell(const struct sheet_grid *g, unsigned row, unsigned col)
{
	size_t i;

	for (i = 0; i < g->ncells; i++)
		if (g->cells[i].row == row && g->cells[i].col == col)
			return g->cells[i].text;
	return NULL;
}

/* Reads and validates csv; returns the number of errors. */
static int check(const char *csv, struct sheet_batch *b)
{
	struct sheet_grid g;
	int n;

	read_ok(csv, &g);
	n = sheet_validate(&g, NULL, b);
	sheet_grid_free(&g);
	assert_true(n >= 0);
	return n;
}

/* The first message about cell ref, or NULL. */
static const struct sheet_msg *msg_at(const struct sheet_msgs *m, const char *ref)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->v[i].cell && !strcmp(m->v[i].cell, ref))
			return &m->v[i];
	return NULL;
}

/* Asserts that the first message about ref starts with want. */
static void assert_msg(const struct sheet_msgs *m, const char *ref, const char *want)
{
	const struct sheet_msg *g = msg_at(m, ref);

	if (!g)
		fail_msg("no message about %s (want \"%s\")", ref, want);
	if (strncmp(g->message, want, strlen(want)))
		fail_msg("message about %s:\n  got  \"%s\"\n  want \"%s\"", ref,
			 g->message, want);
}

/* Does any message contain s? */
static int any_msg(const struct sheet_msgs *m, const char *s)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strstr(m->v[i].message, s))
			return 1;
	return 0;
}

static const struct sheet_row *row_no(const struct sheet_batch *b, unsigned row)
{
	size_t i;

	for (i = 0; i < b->nrows; i++)
		if (b->rows[i].row == row)
			return &b->rows[i];
	return NULL;
}

/* Appends one cell to a grid built by hand. */
static void add(struct sheet_grid *g, unsigned row, unsigned col, enum sheet_cell_type type,
		const char *text, double number, const char *format)
{
	struct sheet_cell c;

	memset(&c, 0, sizeof(c));
	c.row = row;
	c.col = col;
	c.type = type;
	c.text = (char *)text;
	c.number = number;
	c.format = (char *)format;
	assert_int_equal(sheet_grid_add(g, &c), 0);
}

/* A grid with the header prompt,visibility,aspect_ratio,model,seed_number,num_images,magic_prompt. */
static void typed_header(struct sheet_grid *g)
{
	static const char *const names[] = {
		"prompt", "visibility", "aspect_ratio", "model", "seed_number",
		"num_images", "magic_prompt"
	};
	unsigned i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < 7; i++)
		add(g, 1, i + 1, SHEET_CELL_TEXT, names[i], 0, NULL);
}

/* Encodes UTF-8 text as UTF-16 (with a BOM); returns a new buffer. */
static unsigned char *utf16(const char *s, int big_endian, size_t *len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char *o = malloc(strlen(s) * 4 + 2);
	size_t k = 0;

	assert_non_null(o);
	o[k++] = big_endian ? 0xFE : 0xFF;
	o[k++] = big_endian ? 0xFF : 0xFE;
	while (*p) {
		uint32_t cp;
		unsigned u[2], n = 1, i;

		if (*p < 0x80)
			cp = *p++;
		else if (*p < 0xE0) {
			cp = (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
			p += 2;
		}
		else if (*p < 0xF0) {
			cp = (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
			p += 3;
		}
		else {
			cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
			     (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
			p += 4;
		}
		u[0] = cp;
		if (cp >= 0x10000) {
			u[0] = 0xD800 + ((cp - 0x10000) >> 10);
			u[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
			n = 2;
		}
		for (i = 0; i < n; i++) {
			o[k++] = (unsigned char)(big_endian ? u[i] >> 8 : u[i] & 0xFF);
			o[k++] = (unsigned char)(big_endian ? u[i] & 0xFF : u[i] >> 8);
		}
	}
	*len = k;
	return o;
}

/* ---- small functions --------------------------------------------------------- */

static void test_limits_default(void **state)
{
	struct sheet_limits lim;

	(void)state;
	sheet_limits_default(&lim);
	assert_int_equal(lim.max_rows, 1000);
	assert_int_equal(lim.max_cols, 256);
	assert_int_equal(lim.max_cell_bytes, 32768);
	assert_int_equal(lim.max_cells, 200000);
}

static void test_cell_ref(void **state)
{
	static const struct {
		unsigned row, col;
		const char *want;
	} cases[] = {
		{ 1, 1, "A1" }, { 9, 26, "Z9" }, { 12, 27, "AA12" }, { 1, 52, "AZ1" },
		{ 1, 53, "BA1" }, { 1, 702, "ZZ1" }, { 1, 703, "AAA1" },
		{ 1048576, 16384, "XFD1048576" }, { 7, 3, "C7" },
	};
	char buf[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sheet_cell_ref(cases[i].row, cases[i].col, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	sheet_cell_ref(4294967295u, 4294967295u, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 15);      /* cut, still terminated */
}

static void test_format_name(void **state)
{
	(void)state;
	assert_string_equal(sheet_format_name(SHEET_FMT_CSV), "csv");
	assert_string_equal(sheet_format_name(SHEET_FMT_XLS), "xls");
	assert_string_equal(sheet_format_name(SHEET_FMT_XLSX), "xlsx");
	assert_string_equal(sheet_format_name(SHEET_FMT_ODS), "ods");
	assert_string_equal(sheet_format_name(SHEET_FMT_UNKNOWN), "unknown");
}

static void test_grid_add_copies(void **state)
{
	struct sheet_grid g;
	char text[8] = "hello";
	char fmt[8] = "h:mm";

	(void)state;
	memset(&g, 0, sizeof(g));
	add(&g, 1, 1, SHEET_CELL_TEXT, text, 0, NULL);
	add(&g, 1, 3, SHEET_CELL_NUMBER, NULL, 0.5, fmt);
	add(&g, 4, 2, SHEET_CELL_BOOL, NULL, 1, NULL);
	text[0] = 'J';
	fmt[0] = 'x';
	assert_string_equal(g.cells[0].text, "hello");
	assert_string_equal(g.cells[1].format, "h:mm");
	assert_null(g.cells[1].text);
	assert_int_equal(g.ncells, 3);
	assert_int_equal(g.nrows, 2);
	sheet_grid_free(&g);
	assert_int_equal(g.ncells, 0);
	assert_null(g.cells);
	sheet_grid_free(&g);            /* twice is harmless */
}

static void test_msgs_add(void **state)
{
	struct sheet_msgs m;

	(void)state;
	memset(&m, 0, sizeof(m));
	assert_int_equal(sheet_msgs_add(&m, 3, "model", "E3", "9", "use 2.0",
					"%s model \"%s\" is %d", "E3", "9", 42), 0);
	assert_int_equal(sheet_msgs_add(&m, 0, NULL, NULL, NULL, NULL, "whole file"), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.v[0].row, 3);
	assert_string_equal(m.v[0].column, "model");
	assert_string_equal(m.v[0].cell, "E3");
	assert_string_equal(m.v[0].value, "9");
	assert_string_equal(m.v[0].hint, "use 2.0");
	assert_string_equal(m.v[0].message, "E3 model \"9\" is 42");
	assert_null(m.v[1].cell);
	assert_null(m.v[1].hint);
	sheet_msgs_free(&m);
	assert_int_equal(m.n, 0);
}

static void test_fields_copy(void **state)
{
	struct sheet_fields a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.prompt = strdup("a cat");
	a.negative_prompt = strdup("");
	a.color_palette = NULL;
	strcpy(a.model, "2.0");
	a.seed = 42;
	a.num_images = 3;
	assert_int_equal(sheet_fields_copy(&b, &a), 0);
	assert_ptr_not_equal(a.prompt, b.prompt);
	assert_string_equal(b.prompt, "a cat");
	assert_string_equal(b.negative_prompt, "");
	assert_null(b.color_palette);
	assert_string_equal(b.model, "2.0");
	assert_int_equal(b.seed, 42);
	assert_int_equal(b.num_images, 3);
	sheet_fields_free(&a);
	assert_string_equal(b.prompt, "a cat");
	sheet_fields_free(&b);
	assert_null(b.prompt);
}

/* ---- sniffing ------------------------------------------------------------------ */

/* Builds a compound file whose directory holds streams names[0..n) (each
 * stream gets data, or nothing when data is NULL). */
static unsigned char *build_ole(const char *const *names, size_t n,
				const unsigned char *data, size_t size, size_t *len)
{
	size_t nsec = data ? (size + 511) / 512 : 0;
	size_t total = 512 * 3 + nsec * 512, i, k;
	unsigned char *b = calloc(1, total);
	unsigned char *fat, *dir;

	assert_non_null(b);
	assert_true(n < 4);
	memcpy(b, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
	b[24] = 0x3E;
	b[26] = 3;
	b[28] = 0xFE;
	b[29] = 0xFF;
	b[30] = 9;
	b[32] = 6;
	b[44] = 1;                      /* one FAT sector */
	b[48] = 1;                      /* the directory starts at sector 1 */
	b[57] = 0x10;                   /* mini cutoff 4096 */
	memset(b + 60, 0xFF, 4);
	b[60] = 0xFE;
	memset(b + 68, 0xFF, 4);
	b[68] = 0xFE;
	memset(b + 76, 0xFF, 512 - 76);
	memset(b + 76, 0, 4);           /* FAT sector 0 */
	fat = b + 512;
	memset(fat, 0xFF, 512);
	memcpy(fat, "\xFD\xFF\xFF\xFF\xFE\xFF\xFF\xFF", 8);
	for (i = 0; i < nsec; i++) {
		uint32_t next = i + 1 < nsec ? (uint32_t)(i + 3) : 0xFFFFFFFEu;

		memcpy(fat + (i + 2) * 4, &next, 4);    /* little-endian host */
	}
	dir = b + 1024;
	for (k = 0; k <= n; k++) {
		const char *name = k ? names[k - 1] : "Root Entry";
		unsigned char *d = dir + k * 128;
		uint32_t start = 0xFFFFFFFEu, sz = 0;

		for (i = 0; name[i]; i++)
			d[2 * i] = (unsigned char)name[i];
		d[64] = (unsigned char)((strlen(name) + 1) * 2);
		d[66] = k ? 2 : 5;
		if (k == 1 && data) {
			start = 2;
			sz = (uint32_t)size;
		}
		memcpy(d + 116, &start, 4);
		memcpy(d + 120, &sz, 4);
	}
	if (data)
		memcpy(b + 1536, data, size);
	*len = total;
	return b;
}

static void test_sniff_ole(void **state)
{
	static const char *const wb[] = { "Workbook" };
	static const char *const book[] = { "Book" };
	static const char *const enc[] = { "EncryptionInfo", "EncryptedPackage" };
	static const char *const doc[] = { "WordDocument" };
	unsigned char stream[4096], *b;
	struct sheet_grid g;
	const char *what;
	char err[512];
	size_t len;

	(void)state;
	/* BIFF8: BOF then an ordinary record */
	memset(stream, 0, sizeof(stream));
	memcpy(stream, "\x09\x08\x10\x00", 4);
	memcpy(stream + 20, "\xE1\x00\x02\x00\xB0\x04", 6);
	b = build_ole(wb, 1, stream, sizeof(stream), &len);
	assert_int_equal(sheet_sniff(b, len, &what), SHEET_FMT_XLS);
	assert_non_null(strstr(what, ".xls"));
	/* handed to the .xls reader, which finds no worksheet in it */
	assert_int_equal(sheet_read(b, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_true(err[0] != '\0');
	assert_int_equal(g.ncells, 0);
	sheet_grid_free(&g);
	free(b);

	/* BIFF8 with FILEPASS: password-protected */
	memcpy(stream + 20, "\x2F\x00\x06\x00\x01\x00\x01\x00\x01\x00", 10);
	b = build_ole(wb, 1, stream, sizeof(stream), &len);
	assert_int_equal(sheet_sniff(b, len, &what), SHEET_FMT_XLS);
	assert_non_null(strstr(what, "password"));
	assert_int_equal(sheet_read(b, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "password-protected"));
	sheet_grid_free(&g);
	free(b);

	/* BIFF5 */
	memcpy(stream + 20, "\xE1\x00\x02\x00\xB0\x04", 6);
	b = build_ole(book, 1, stream, sizeof(stream), &len);
	assert_int_equal(sheet_sniff(b, len, &what), SHEET_FMT_XLS);
	assert_non_null(strstr(what, "5.0/95"));
	free(b);

	/* an encrypted .xlsx: EncryptionInfo + EncryptedPackage */
	b = build_ole(enc, 2, NULL, 0, &len);
	sheet_sniff(b, len, &what);
	assert_non_null(strstr(what, "password-protected"));
	assert_int_equal(sheet_read(b, len, NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "password-protected"));
	assert_null(strstr(err, "zip"));
	sheet_grid_free(&g);
	free(b);

	/* a compound file with no workbook */
	b = build_ole(doc, 1, NULL, 0, &len);
	assert_int_equal(sheet_sniff(b, len, &what), SHEET_FMT_UNKNOWN);
	assert_non_null(strstr(what, "no workbook"));
	assert_int_equal(sheet_read(b, len, NULL, &g, err, sizeof(err)), SHEET_UNSUPPORTED);
	sheet_grid_free(&g);
	free(b);

	/* a truncated header */
	assert_int_equal(sheet_read((const unsigned char *)"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
				    "\0\0\0\0", 12, NULL, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "damaged"));
	sheet_grid_free(&g);
}

/* Writes a zip of the given members (name, content pairs) and returns its bytes. */
static unsigned char *build_zip(const char *const *members, size_t n, size_t *len)
{
	char path[] = "/tmp/kiln-test-zip-XXXXXX";
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

static void test_sniff_zip(void **state)
{
	static const char *const xlsx[] = {
		"[Content_Types].xml", "<Types/>", "xl/workbook.xml", "<workbook/>"
	};
	static const char *const xlsx_odd[] = {
		"[Content_Types].xml",
		("<Default Extension=\"bin\" ContentType=\"application/"
		 "vnd.ms-excel.sheet.binary.macroEnabled.main\"/><Override PartName=\"/wtf/"
		 "workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument."
		 "spreadsheetml.sheet.main+xml\"/>"),
		"wtf/workbook.xml", "<workbook/>"
	};
	static const char *const xlsb[] = { "xl/workbook.bin", "\x83\x01" };
	static const char *const ods[] = {
		"mimetype", "application/vnd.oasis.opendocument.spreadsheet",
		"content.xml", "<office:document-content/>",
		"META-INF/manifest.xml", "<manifest:manifest/>"
	};
	static const char *const ods_enc[] = {
		"mimetype", "application/vnd.oasis.opendocument.spreadsheet",
		"META-INF/manifest.xml", "<manifest:file-entry><manifest:encryption-data/>"
	};
	static const char *const odt[] = { "mimetype", "application/vnd.oasis.opendocument.text" };
	static const char *const numbers[] = { "Index/Document.iwa", "x" };
	static const char *const docx[] = {
		"[Content_Types].xml", ("application/vnd.openxmlformats-officedocument."
					"wordprocessingml.document.main+xml"),
		"word/document.xml", "<w/>"
	};
	static const char *const plain[] = { "hello.txt", "hello" };
	struct {
		const char *const *m;
		size_t n;
		enum sheet_format fmt;
		enum sheet_status st;
		const char *what;
	} cases[] = {
		{ xlsx, 2, SHEET_FMT_XLSX, SHEET_UNREADABLE, "(.xlsx)" },
		{ xlsx_odd, 2, SHEET_FMT_XLSX, SHEET_UNREADABLE, "(.xlsx)" },
		{ xlsb, 1, SHEET_FMT_UNKNOWN, SHEET_UNSUPPORTED, ".xlsb" },
		{ ods, 3, SHEET_FMT_ODS, SHEET_UNREADABLE, "(.ods)" },
		{ ods_enc, 2, SHEET_FMT_ODS, SHEET_UNREADABLE, "password-protected" },
		{ odt, 1, SHEET_FMT_UNKNOWN, SHEET_UNSUPPORTED, "not a spreadsheet" },
		{ numbers, 1, SHEET_FMT_UNKNOWN, SHEET_UNSUPPORTED, "Numbers" },
		{ docx, 2, SHEET_FMT_UNKNOWN, SHEET_UNSUPPORTED, "Word" },
		{ plain, 1, SHEET_FMT_UNKNOWN, SHEET_UNSUPPORTED, "zip archive" },
	};
	struct sheet_grid g;
	unsigned char *b;
	const char *what;
	char err[512];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		b = build_zip(cases[i].m, cases[i].n, &len);
		assert_int_equal(sheet_sniff(b, len, &what), cases[i].fmt);
		if (!strstr(what, cases[i].what))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, what, cases[i].what);
		assert_int_equal(sheet_read(b, len, NULL, &g, err, sizeof(err)), cases[i].st);
		/* a refusal by sniffing names the format; a reader's says what it lacks */
		if (cases[i].st == SHEET_UNSUPPORTED || strstr(cases[i].what, "password"))
			assert_non_null(strstr(err, cases[i].what));
		else
			assert_true(err[0] != '\0');
		sheet_grid_free(&g);
		if (i == 0) {
			/* the same bytes cut short: a damaged zip */
			assert_int_equal(sheet_read(b, len - 30, NULL, &g, err, sizeof(err)),
					 SHEET_UNREADABLE);
			assert_non_null(strstr(err, "damaged"));
			sheet_grid_free(&g);
		}
		free(b);
	}
}

static void test_sniff_other(void **state)
{
	static const struct {
		const char *bytes;
		size_t n;
		enum sheet_format fmt;
		const char *what;
	} cases[] = {
		{ B("prompt,visibility\r\na,public\r\n"), SHEET_FMT_CSV, "CSV" },
		{ B("\xEF\xBB\xBFprompt\n"), SHEET_FMT_CSV, "CSV" },
		{ B("\xFF\xFEp\0r\0"), SHEET_FMT_CSV, "UTF-16" },
		{ B("\xFE\xFF\0p\0r"), SHEET_FMT_CSV, "UTF-16" },
		{ B(""), SHEET_FMT_CSV, "empty" },
		{ B("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"), SHEET_FMT_UNKNOWN, "PDF" },
		{ B("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), SHEET_FMT_UNKNOWN, "PNG" },
		{ B("\xFF\xD8\xFF\xE0\0\x10JFIF"), SHEET_FMT_UNKNOWN, "JPEG" },
		{ B("\x1F\x8B\x08\0\0\0\0\0"), SHEET_FMT_UNKNOWN, "gzip" },
		{ B("RIFF\x10\0\0\0WEBPVP8 "), SHEET_FMT_UNKNOWN, "WebP" },
		{ B("a\0b\0c\0,\0d\0e\0\r\0\n\0"), SHEET_FMT_UNKNOWN, "UTF-16 text without" },
		{ B("\x01\x02\x03\0\x05\x06\x07\x08"), SHEET_FMT_UNKNOWN, "binary" },
		{ B("\x01\x02\x03\x04\x05\x06\x07\x08"), SHEET_FMT_UNKNOWN, "binary" },
		{ B("<?xml version=\"1.0\"?>\n<office:document office:mimetype=\"x\">"),
		  SHEET_FMT_UNKNOWN, ".fods" },
		{ B("<?xml version=\"1.0\"?><Workbook xmlns=\"urn:schemas-microsoft-com:"
		    "office:spreadsheet\">"), SHEET_FMT_UNKNOWN, "Excel 2003 XML" },
		{ B("  <!DOCTYPE html><html><table>"), SHEET_FMT_UNKNOWN, "HTML" },
		{ B("{\\rtf1\\ansi"), SHEET_FMT_UNKNOWN, "RTF" },
	};
	struct sheet_grid g;
	const char *what;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sheet_format f = sheet_sniff((const unsigned char *)cases[i].bytes,
						  cases[i].n, &what);

		if (f != cases[i].fmt || !strstr(what, cases[i].what))
			fail_msg("case %zu: %s \"%s\"", i, sheet_format_name(f), what);
		if (f == SHEET_FMT_UNKNOWN) {
			assert_int_equal(sheet_read((const unsigned char *)cases[i].bytes,
						    cases[i].n, NULL, &g, err, sizeof(err)),
					 SHEET_UNSUPPORTED);
			assert_non_null(strstr(err, cases[i].what));
			assert_non_null(strstr(err, ".csv, .xls, .xlsx and .ods"));
			sheet_grid_free(&g);
		}
	}
	assert_int_equal(sheet_sniff((const unsigned char *)"a,b", 3, NULL), SHEET_FMT_CSV);
	/* err may be NULL */
	assert_int_equal(sheet_read((const unsigned char *)"%PDF-1.4", 8, NULL, &g, NULL, 0),
			 SHEET_UNSUPPORTED);
	sheet_grid_free(&g);
}

/* ---- the CSV reader ------------------------------------------------------------- */

static void test_csv_basic(void **state)
{
	struct sheet_grid g;

	(void)state;
	read_ok("prompt,visibility,aspect_ratio\na cat,public,16:9\n", &g);
	assert_int_equal(g.ncells, 6);
	assert_int_equal(g.nrows, 2);
	assert_null(g.sheet_name);
	assert_int_equal(g.warnings.n, 0);
	assert_int_equal(g.cells[0].type, SHEET_CELL_TEXT);
	assert_null(g.cells[0].format);
	assert_string_equal(cell(&g, 1, 1), "prompt");
	assert_string_equal(cell(&g, 1, 3), "aspect_ratio");
	assert_string_equal(cell(&g, 2, 1), "a cat");
	assert_string_equal(cell(&g, 2, 3), "16:9");
	sheet_grid_free(&g);
}

static void test_csv_line_endings(void **state)
{
	static const char *const files[] = {
		"a,b\nc,d\n\ne,\"x\ny\"\n",
		"a,b\r\nc,d\r\n\r\ne,\"x\ny\"\r\n",
		"a,b\rc,d\r\re,\"x\ny\"\r",
		"a,b\nc,d\n\ne,\"x\ny\"",          /* no final line break */
	};
	struct sheet_grid g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		read_ok(files[i], &g);
		assert_int_equal(g.ncells, 6);
		assert_string_equal(cell(&g, 1, 2), "b");
		assert_string_equal(cell(&g, 2, 1), "c");
		assert_null(cell(&g, 3, 1));            /* blank row 3 skipped, */
		assert_string_equal(cell(&g, 4, 1), "e"); /* but counted */
		assert_string_equal(cell(&g, 4, 2), "x\ny");
		assert_int_equal(g.nrows, 3);
		sheet_grid_free(&g);
	}
}

static void test_csv_bom(void **state)
{
	struct sheet_grid g;

	(void)state;
	read_ok("\xEF\xBB\xBFprompt,visibility\nCr\xC3\xA8me,public\n", &g);
	assert_string_equal(cell(&g, 1, 1), "prompt");
	assert_string_equal(cell(&g, 2, 1), "Cr\xC3\xA8me");
	assert_int_equal(g.warnings.n, 0);
	sheet_grid_free(&g);
	/* without the BOM: the same, and no warning for valid UTF-8 */
	read_ok("prompt,visibility\nCr\xC3\xA8me \xF0\x9F\x8D\xA3,public\n", &g);
	assert_string_equal(cell(&g, 2, 1), "Cr\xC3\xA8me \xF0\x9F\x8D\xA3");
	assert_int_equal(g.warnings.n, 0);
	sheet_grid_free(&g);
}

static void test_csv_utf16(void **state)
{
	static const char text[] = "\"prompt\"\t\"visibility\"\n"
				   "\"Cr\xC3\xA8me, \"\"br\xC3\xBBl\xC3\xA9\x65\"\" "
				   "\xF0\x9F\x8D\xA3\"\tpublic\r\n\t\t\r\nlast\tprivate\n";
	struct sheet_grid g;
	unsigned char *b;
	char err[512];
	size_t len;
	int be;

	(void)state;
	for (be = 0; be < 2; be++) {
		b = utf16(text, be, &len);
		assert_int_equal(sheet_read(b, len, NULL, &g, err, sizeof(err)), SHEET_OK);
		assert_string_equal(cell(&g, 1, 1), "prompt");
		assert_string_equal(cell(&g, 1, 2), "visibility");
		assert_string_equal(cell(&g, 2, 1),
				    "Cr\xC3\xA8me, \"br\xC3\xBBl\xC3\xA9\x65\" \xF0\x9F\x8D\xA3");
		assert_string_equal(cell(&g, 2, 2), "public");
		assert_null(cell(&g, 3, 1));
		assert_string_equal(cell(&g, 4, 1), "last");
		assert_int_equal(g.ncells, 6);
		assert_int_equal(g.warnings.n, 0);
		sheet_grid_free(&g);

		/* odd length: damaged */
		assert_int_equal(sheet_read(b, len - 1, NULL, &g, err, sizeof(err)),
				 SHEET_UNREADABLE);
		assert_non_null(strstr(err, "UTF-16"));
		sheet_grid_free(&g);
		free(b);
	}
	/* an unpaired surrogate */
	assert_int_equal(sheet_read((const unsigned char *)"\xFF\xFE" "a\0\x00\xD8" "b\0", 8,
				    NULL, &g, err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "invalid UTF-16"));
	assert_int_equal(g.ncells, 0);
	sheet_grid_free(&g);
}

static void test_csv_cp1252(void **state)
{
	struct sheet_grid g;

	(void)state;
	read_ok("prompt,visibility\nx,public\nCr\xE8me br\xFBl\xE9\x65 \x80 \x93\x94 \x81,public\n", &g);
	assert_string_equal(cell(&g, 3, 1), "Cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\x65 \xE2\x82\xAC "
			    "\xE2\x80\x9C\xE2\x80\x9D \xC2\x81");
	assert_string_equal(cell(&g, 2, 1), "x");
	assert_int_equal(g.warnings.n, 1);
	assert_int_equal(g.warnings.v[0].row, 0);
	assert_null(g.warnings.v[0].cell);
	assert_non_null(strstr(g.warnings.v[0].message, "Windows-1252"));
	assert_non_null(strstr(g.warnings.v[0].message, "line 3"));
	assert_non_null(strstr(g.warnings.v[0].hint, "UTF-8"));
	sheet_grid_free(&g);
	/* an overlong or truncated sequence is not UTF-8 either */
	read_ok("a\xC0\xAF,b\n", &g);
	assert_string_equal(cell(&g, 1, 1), "a\xC3\x80\xC2\xAF");
	assert_int_equal(g.warnings.n, 1);
	sheet_grid_free(&g);
	read_ok("a,b\xE2\x82", &g);
	assert_string_equal(cell(&g, 1, 2), "b\xC3\xA2\xE2\x80\x9A");
	sheet_grid_free(&g);
}

static void test_csv_delimiters(void **state)
{
	struct sheet_grid g;

	(void)state;
	/* semicolon, with commas in unquoted data */
	read_ok("prompt;visibility;style\na cat, sitting;public;anime\n", &g);
	assert_string_equal(cell(&g, 1, 2), "visibility");
	assert_string_equal(cell(&g, 2, 1), "a cat, sitting");
	assert_string_equal(cell(&g, 2, 3), "anime");
	sheet_grid_free(&g);
	/* comma, with semicolons in data */
	read_ok("prompt,visibility\na cat; a dog,public\n", &g);
	assert_string_equal(cell(&g, 2, 1), "a cat; a dog");
	assert_string_equal(cell(&g, 2, 2), "public");
	sheet_grid_free(&g);
	/* tab, with commas and semicolons inside quotes and out */
	read_ok("\"prompt\"\t\"negative_prompt\"\n\"a, b; c\"\tx,y;z\n", &g);
	assert_string_equal(cell(&g, 1, 2), "negative_prompt");
	assert_string_equal(cell(&g, 2, 1), "a, b; c");
	assert_string_equal(cell(&g, 2, 2), "x,y;z");
	sheet_grid_free(&g);
	/* quoted header names hiding commas: the count is outside quotes */
	read_ok("\"a,b\";\"c,d\";\"e\"\n1;2;3\n", &g);
	assert_string_equal(cell(&g, 1, 1), "a,b");
	assert_string_equal(cell(&g, 2, 3), "3");
	sheet_grid_free(&g);
	/* the first record has none: the next one decides */
	read_ok("prompt\n\na;b\n", &g);
	assert_string_equal(cell(&g, 3, 2), "b");
	sheet_grid_free(&g);
	/* a tie in the first record: the count that stays the same wins */
	read_ok("a;b,c\nd;e\nf;g\n", &g);
	assert_string_equal(cell(&g, 1, 2), "b,c");
	sheet_grid_free(&g);
	/* Excel's sep= line names the delimiter and is not a row */
	read_ok("sep=;\r\nprompt;visibility\r\na,b;public\r\n", &g);
	assert_string_equal(cell(&g, 1, 1), "prompt");
	assert_string_equal(cell(&g, 2, 1), "a,b");
	assert_int_equal(g.ncells, 4);
	sheet_grid_free(&g);
	/* one column, no delimiter at all */
	read_ok("prompt\na cat\n", &g);
	assert_string_equal(cell(&g, 2, 1), "a cat");
	sheet_grid_free(&g);
}

static void test_csv_quoting(void **state)
{
	struct sheet_grid g;

	(void)state;
	read_ok("a,\"b, \"\"c\"\"\",\"line1\nline2\r\nline3\",\"\"\n"
		"\"x\"y,5\" screen,\"\"\"\"\n"
		"\"multi\n\n\nline\",z\n"
		"after,\"\"\n", &g);
	assert_string_equal(cell(&g, 1, 1), "a");
	assert_string_equal(cell(&g, 1, 2), "b, \"c\"");
	assert_string_equal(cell(&g, 1, 3), "line1\nline2\r\nline3");
	assert_null(cell(&g, 1, 4));            /* "" is an empty cell */
	assert_string_equal(cell(&g, 2, 1), "xy");      /* text after a closing quote */
	assert_string_equal(cell(&g, 2, 2), "5\" screen");
	assert_string_equal(cell(&g, 2, 3), "\"");
	assert_string_equal(cell(&g, 3, 1), "multi\n\n\nline");
	assert_string_equal(cell(&g, 4, 1), "after");   /* quoted breaks start no row */
	assert_int_equal(g.nrows, 4);
	sheet_grid_free(&g);
}

static void test_csv_text_as_is(void **state)
{
	struct sheet_grid g;

	(void)state;
	read_ok(" prompt , visibility\n 42 ,1.0,,TRUE,#N/A,0.0854166\n", &g);
	assert_string_equal(cell(&g, 1, 1), " prompt ");
	assert_string_equal(cell(&g, 2, 1), " 42 ");
	assert_string_equal(cell(&g, 2, 2), "1.0");
	assert_null(cell(&g, 2, 3));
	assert_string_equal(cell(&g, 2, 4), "TRUE");
	assert_string_equal(cell(&g, 2, 5), "#N/A");
	assert_string_equal(cell(&g, 2, 6), "0.0854166");
	for (size_t i = 0; i < g.ncells; i++)
		assert_int_equal(g.cells[i].type, SHEET_CELL_TEXT);
	assert_int_equal(g.ncells, 7);
	/* sorted by row then column */
	for (size_t i = 1; i < g.ncells; i++)
		assert_true(g.cells[i - 1].row < g.cells[i].row ||
			    (g.cells[i - 1].row == g.cells[i].row &&
			     g.cells[i - 1].col < g.cells[i].col));
	sheet_grid_free(&g);
}

static void test_csv_blank_rows(void **state)
{
	struct sheet_grid g;

	(void)state;
	read_ok("\n\n,,,\nprompt,visibility\n,\n\r\na,public\n,,,,\n", &g);
	assert_int_equal(g.ncells, 4);
	assert_string_equal(cell(&g, 4, 1), "prompt");
	assert_string_equal(cell(&g, 7, 1), "a");
	assert_int_equal(g.nrows, 2);
	sheet_grid_free(&g);
	read_ok("", &g);
	assert_int_equal(g.ncells, 0);
	assert_int_equal(g.nrows, 0);
	sheet_grid_free(&g);
}

/* Builds a string of n copies of unit followed by tail. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char *s = malloc(hl + ul * n + tl + 1), *p;

	assert_non_null(s);
	memcpy(s, head, hl);
	p = s + hl;
	for (i = 0; i < n; i++, p += ul)
		memcpy(p, unit, ul);
	memcpy(p, tail, tl + 1);
	return s;
}

static void test_csv_hostile(void **state)
{
	struct sheet_limits lim;
	struct sheet_grid g;
	char err[512], *s;
	size_t len;

	(void)state;
	sheet_limits_default(&lim);
	/* a million columns with values */
	s = repeat("", "a,", 1000000, "a\n");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "IW1"));
	assert_non_null(strstr(err, "at most 256 columns"));
	assert_int_equal(g.ncells, 0);          /* nothing half-read is left */
	sheet_grid_free(&g);
	free(s);
	/* a million empty columns are only separators */
	s = repeat("prompt,visibility\n", ",", 1000000, "\na,public\n");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_OK);
	assert_int_equal(g.ncells, 4);
	assert_string_equal(cell(&g, 3, 2), "public");
	sheet_grid_free(&g);
	free(s);
	/* a giant cell, unquoted and quoted */
	s = repeat("prompt\n", "x", 40000, "\n");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "A2"));
	assert_non_null(strstr(err, "32768 bytes"));
	sheet_grid_free(&g);
	free(s);
	s = repeat("prompt\n\"", "x", 40000, "");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "closing quote"));
	sheet_grid_free(&g);
	free(s);
	/* a cell of exactly the limit is fine */
	s = repeat("prompt\n", "x", 32768, "\n");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_OK);
	assert_int_equal(strlen(cell(&g, 2, 1)), 32768);
	sheet_grid_free(&g);
	free(s);
	/* an unterminated quote */
	assert_int_equal(sheet_read((const unsigned char *)"a,b\nc,\"d\ne,f\n", 13, &lim, &g,
				    err, sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "B2"));
	assert_non_null(strstr(err, "line 2"));
	assert_non_null(strstr(err, "no closing quote"));
	sheet_grid_free(&g);
	/* a NUL byte past the part sniffing looks at, and one the CSV reader meets first */
	s = repeat("prompt,visibility\n", "a cat,public\n", 1000, "x_y\n");
	len = strlen(s);
	*strchr(s, '_') = '\0';
	assert_int_equal(sheet_read((unsigned char *)s, len, &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "NUL"));
	assert_non_null(strstr(err, "line 1002"));
	sheet_grid_free(&g);
	free(s);
	assert_int_equal(sheet_read_csv((const unsigned char *)"a,\"b\0\"", 6, &lim, &g, err,
					sizeof(err)), SHEET_UNREADABLE);
	assert_non_null(strstr(err, "NUL"));
	sheet_grid_free(&g);
	/* too many cells */
	lim.max_cells = 10;
	s = repeat("", "a,b,c\n", 4, "");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_UNREADABLE);
	assert_non_null(strstr(err, "more than 10"));
	sheet_grid_free(&g);
	free(s);
	/* lim NULL means the defaults */
	assert_int_equal(sheet_read_csv((const unsigned char *)"a", 1, NULL, &g, NULL, 0), SHEET_OK);
	assert_int_equal(g.ncells, 1);
	sheet_grid_free(&g);
}

static void test_csv_rows_past_limit(void **state)
{
	struct sheet_limits lim;
	struct sheet_grid g;
	struct sheet_batch b;
	char err[512], *s;
	unsigned maxrow = 0;
	size_t i;

	(void)state;
	sheet_limits_default(&lim);
	s = repeat("prompt,visibility\n", "a cat,public\n\n", 1499, "");
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_OK);
	assert_int_equal(g.nrows, 1500);
	assert_int_equal(g.ncells, 2000);       /* only 1000 rows are held */
	for (i = 0; i < g.ncells; i++)
		if (g.cells[i].row > maxrow)
			maxrow = g.cells[i].row;
	assert_int_equal(maxrow, 2 * 999);
	assert_int_equal(sheet_validate(&g, &lim, &b), 1);
	assert_int_equal(b.errors.n, 1);
	assert_string_equal(b.errors.v[0].message,
			    "The file has 1500 rows; at most 1000 are allowed (header included)");
	assert_int_equal(b.errors.v[0].row, 0);
	assert_non_null(b.errors.v[0].hint);
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	free(s);

	/* a cell past the limit that would be refused is not even looked at */
	s = repeat("prompt,visibility\n", "a,public\n", 5, "");
	lim.max_rows = 3;
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_OK);
	assert_int_equal(g.nrows, 6);
	assert_int_equal(sheet_validate(&g, &lim, &b), 1);
	assert_string_equal(b.errors.v[0].message,
			    "The file has 6 rows; at most 3 are allowed (header included)");
	assert_int_equal(b.nrows, 2);            /* the rows held are still checked */
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	free(s);

	/* one past the limit: refused */
	s = repeat("prompt,visibility\n", "a,public\n", 1000, "");
	lim.max_rows = 1000;
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_OK);
	assert_int_equal(g.nrows, 1001);
	assert_int_equal(sheet_validate(&g, &lim, &b), 1);
	assert_string_equal(b.errors.v[0].message,
			    "The file has 1001 rows; at most 1000 are allowed (header included)");
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	free(s);

	/* exactly at the limit: fine */
	s = repeat("prompt,visibility\n", "a,public\n", 999, "");
	lim.max_rows = 1000;
	assert_int_equal(sheet_read((unsigned char *)s, strlen(s), &lim, &g, err, sizeof(err)),
			 SHEET_OK);
	assert_int_equal(sheet_validate(&g, &lim, &b), 0);
	assert_int_equal(b.nrows, 999);
	assert_int_equal(b.images_total, 999 * 4);
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	free(s);
}

/* ---- validation ------------------------------------------------------------------ */

static void test_validate_defaults(void **state)
{
	struct sheet_batch b;
	const struct sheet_fields *f;

	(void)state;
	assert_int_equal(check("prompt,visibility\n  a cat in a hat  ,public\n", &b), 0);
	assert_int_equal(b.nrows, 1);
	assert_int_equal(b.rows[0].row, 2);
	f = &b.rows[0].f;
	assert_string_equal(f->prompt, "a cat in a hat");
	assert_string_equal(f->visibility, "public");
	assert_string_equal(f->aspect_ratio, "1:1");
	assert_string_equal(f->magic_prompt, "on");
	assert_string_equal(f->model, "2.0");
	assert_int_equal(f->seed, -1);
	assert_string_equal(f->rendering, "default");
	assert_string_equal(f->negative_prompt, "");
	assert_string_equal(f->style, "auto");
	assert_null(f->color_palette);
	assert_int_equal(f->num_images, 4);
	assert_int_equal(b.images_total, 4);
	assert_int_equal(b.errors.n, 0);
	assert_int_equal(b.warnings.n, 0);
	sheet_batch_free(&b);

	/* every column present but empty: the same defaults */
	assert_int_equal(check("prompt,visibility,aspect_ratio,magic_prompt,model,seed_number,"
			       "rendering,negative_prompt,style,color_palette,num_images\n"
			       "a dog,private, , ,,,,,, ,\n", &b), 0);
	f = &b.rows[0].f;
	assert_string_equal(f->aspect_ratio, "1:1");
	assert_string_equal(f->magic_prompt, "on");
	assert_string_equal(f->model, "2.0");
	assert_int_equal(f->seed, -1);
	assert_string_equal(f->style, "auto");
	assert_null(f->color_palette);
	assert_int_equal(f->num_images, 4);
	sheet_batch_free(&b);
}

static void test_validate_case_and_trim(void **state)
{
	struct sheet_batch b;
	const struct sheet_fields *f;

	(void)state;
	assert_int_equal(check("style,prompt,visibility,aspect_ratio,magic_prompt,model,"
			       "seed_number,rendering,negative_prompt,color_palette,num_images\n"
			       " 3D ,A Cat, PUBLIC ,16:9 ,OFF,2A, 7 ,Turbo,\" Blurry, Text \", ,\t2\n"
			       "Anime,b,Private,9:16,On,3.0,0,QUALITY,,PASTEL,4\n"
			       "REALISTIC,c,private,10:16,on,\xC2\xA0" "0.2\xC2\xA0,,default,,,1\n", &b), 0);
	assert_int_equal(b.nrows, 3);
	f = &b.rows[0].f;
	assert_string_equal(f->style, "3d");
	assert_string_equal(f->prompt, "A Cat");        /* prompts keep their case */
	assert_string_equal(f->visibility, "public");
	assert_string_equal(f->aspect_ratio, "16:9");
	assert_string_equal(f->magic_prompt, "off");
	assert_string_equal(f->model, "2a");
	assert_int_equal(f->seed, 7);
	assert_string_equal(f->rendering, "turbo");
	assert_string_equal(f->negative_prompt, "Blurry, Text");
	assert_null(f->color_palette);
	assert_int_equal(f->num_images, 2);
	assert_string_equal(b.rows[1].f.model, "3.0");
	assert_string_equal(b.rows[1].f.color_palette, "pastel");
	assert_string_equal(b.rows[1].f.rendering, "quality");
	assert_string_equal(b.rows[1].f.style, "anime");
	assert_string_equal(b.rows[2].f.model, "0.2");
	assert_string_equal(b.rows[2].f.style, "realistic");
	assert_string_equal(b.rows[2].f.aspect_ratio, "10:16");
	sheet_batch_free(&b);
	/* model 2a takes no palette */
	assert_int_equal(check("prompt,visibility,model,color_palette\n"
			       "a,public,2A,#cba324 f86c14\n", &b), 1);
	assert_msg(&b.errors, "D2", "D2 color_palette is only available with model 2.0 "
		   "(this row uses 2a)");
	sheet_batch_free(&b);
	assert_int_equal(check("prompt,visibility,color_palette,num_images\n"
			       "a,public,#cba324  f86c14,\t2\n"
			       "b,Private,PASTEL,4\n"
			       "c,public,\"#000000,#ffffff, #AbCdEf\",1\n", &b), 0);
	assert_string_equal(b.rows[0].f.color_palette, "#CBA324 #F86C14");
	assert_int_equal(b.rows[0].f.num_images, 2);
	assert_string_equal(b.rows[1].f.color_palette, "pastel");
	assert_string_equal(b.rows[1].f.visibility, "private");
	assert_string_equal(b.rows[2].f.color_palette, "#000000 #FFFFFF #ABCDEF");
	assert_int_equal(b.images_total, 2 + 4 + 1);
	sheet_batch_free(&b);
}

static void test_validate_bad_values(void **state)
{
	static const char csv[] =
		"prompt,visibility,aspect_ratio,magic_prompt,model,seed_number,rendering,"
		"negative_prompt,style,color_palette,num_images\n"
		"a,publik,7:5,yes,4.0,12.5,fast,,cartoon,red,5\n"
		"b,public,16/9,on,2.0,-1,default,,auto,#12345,0\n"
		"c,public,1:1,on,2.0,2147483648,default,,auto,#111111 #222222 #333333 "
		"#444444 #555555 #666666,2.5\n"
		"d,public,1:1,on,2.0,1e400,default,,auto,pastel ember,four\n"
		"e,public,1:1,on,2.0,0x10,default,,auto,#11111G,\n";
	struct sheet_batch b;
	const struct sheet_msg *m;

	(void)state;
	assert_int_equal(check(csv, &b), 21);
	assert_int_equal(b.nrows, 0);
	assert_int_equal(b.images_total, 0);
	assert_msg(&b.errors, "B2", "B2 visibility \"publik\" is not accepted; use public or private");
	assert_msg(&b.errors, "C2", "C2 aspect_ratio \"7:5\" is not an aspect ratio kiln knows; "
		   "use one of 1:1, 16:9, 9:16, 4:3, 3:4, 3:2, 2:3, 16:10, 10:16, 3:1, 1:3, "
		   "2:1, 1:2, 5:4, 4:5");
	assert_msg(&b.errors, "D2", "D2 magic_prompt \"yes\" is not accepted; use on or off");
	assert_msg(&b.errors, "E2", "E2 model \"4.0\" is not a model kiln knows; use 2.0, 1.0, "
		   "0.2, 3.0 or 2a");
	assert_msg(&b.errors, "F2", "F2 seed_number \"12.5\" must be a whole number from 0 to "
		   "2147483647");
	assert_msg(&b.errors, "G2", "G2 rendering \"fast\" is not accepted; use default, turbo or quality");
	assert_msg(&b.errors, "I2", "I2 style \"cartoon\" is not accepted; use auto, general, "
		   "realistic, design, 3d or anime");
	assert_msg(&b.errors, "J2", "J2 color_palette \"red\" is not accepted");
	assert_msg(&b.errors, "K2", "K2 num_images \"5\" must be a whole number from 1 to 4");
	assert_msg(&b.errors, "C3", "C3 aspect_ratio \"16/9\" is not an aspect ratio kiln knows");
	assert_msg(&b.errors, "F3", "F3 seed_number \"-1\" must be a whole number");
	assert_msg(&b.errors, "J3", "J3 color_palette \"#12345\" is not accepted");
	assert_msg(&b.errors, "K3", "K3 num_images \"0\" must be a whole number from 1 to 4");
	assert_msg(&b.errors, "F4", "F4 seed_number \"2147483648\" must be");
	assert_msg(&b.errors, "J4", "J4 color_palette has 6 colours; at most 5 are allowed");
	assert_msg(&b.errors, "K4", "K4 num_images \"2.5\" must be");
	assert_msg(&b.errors, "F5", "F5 seed_number \"1e400\" must be");
	assert_msg(&b.errors, "J5", "J5 color_palette \"pastel ember\" is not accepted");
	assert_msg(&b.errors, "K5", "K5 num_images \"four\" must be");
	assert_msg(&b.errors, "F6", "F6 seed_number \"0x10\" must be");
	assert_msg(&b.errors, "J6", "J6 color_palette \"#11111G\" is not accepted");
	/* every detail is filled */
	m = msg_at(&b.errors, "F2");
	assert_int_equal(m->row, 2);
	assert_string_equal(m->column, "seed_number");
	assert_string_equal(m->value, "12.5");
	assert_non_null(strstr(m->hint, "2147483647"));
	m = msg_at(&b.errors, "C2");
	assert_string_equal(m->column, "aspect_ratio");
	assert_string_equal(m->value, "7:5");
	assert_non_null(strstr(m->hint, "16:9"));
	/* reported in reading order: row by row, left to right */
	assert_string_equal(b.errors.v[0].cell, "B2");
	assert_string_equal(b.errors.v[1].cell, "C2");
	assert_string_equal(b.errors.v[9].cell, "C3");
	sheet_batch_free(&b);
}

static void test_validate_required_values(void **state)
{
	struct sheet_batch b;

	(void)state;
	assert_int_equal(check("prompt,visibility\n ,public\nb,\nc,private\n", &b), 2);
	assert_msg(&b.errors, "A2", "A2 prompt is empty; every row needs a prompt");
	assert_msg(&b.errors, "B3", "B3 visibility is empty; use public or private");
	assert_string_equal(msg_at(&b.errors, "A2")->value, " ");
	assert_null(msg_at(&b.errors, "B3")->value);
	assert_int_equal(b.nrows, 1);           /* only the valid row is kept */
	assert_int_equal(b.rows[0].row, 4);
	assert_int_equal(b.images_total, 4);
	sheet_batch_free(&b);
}

static void test_validate_palette_model(void **state)
{
	static const char head[] = "prompt,visibility,aspect_ratio,magic_prompt,model,"
				   "seed_number,rendering,negative_prompt,style,color_palette\n";
	struct sheet_batch b;
	char csv[1024];

	(void)state;
	snprintf(csv, sizeof(csv), "%s%s", head,
		 "a,public,,,2.0,,,,,ember\n"
		 "b,public,,,1.0,,,,,#CBA324\n"
		 "c,public,,,3.0,,,,,#CBA324\n"
		 "d,public,,,,,,,,#CBA324\n"
		 "e,public,,,2,,,,,#CBA324\n"
		 "f,public,,,0.2,,,,,pastel\n"
		 "g,public,,,9.9,,,,,#CBA324\n"
		 "h,public,,,1,,,,,\n");
	assert_int_equal(check(csv, &b), 3);
	assert_msg(&b.errors, "J3", "J3 color_palette is only available with model 2.0 "
		   "(this row uses 1.0)");
	assert_msg(&b.errors, "J7", "J7 color_palette is only available with model 2.0 "
		   "(this row uses 0.2)");
	assert_msg(&b.errors, "E8", "E8 model \"9.9\"");
	assert_null(msg_at(&b.errors, "J8"));   /* the model is wrong, not the palette */
	assert_int_equal(b.nrows, 5);
	assert_string_equal(row_no(&b, 2)->f.color_palette, "ember");
	assert_string_equal(row_no(&b, 4)->f.model, "3.0");
	assert_string_equal(row_no(&b, 5)->f.model, "2.0");
	assert_string_equal(row_no(&b, 6)->f.model, "2.0");     /* text "2" */
	assert_string_equal(row_no(&b, 9)->f.model, "1.0");     /* text "1" */
	sheet_batch_free(&b);
}

static void test_validate_unknown_columns(void **state)
{
	static const struct {
		const char *name;
		const char *want;       /* message for B1 */
	} cases[] = {
		{ "Prompt", "B1 unknown column \"Prompt\" \xE2\x80\x94 did you mean \"prompt\"? "
			    "Column names are case-sensitive." },
		{ "aspect ratio", "B1 unknown column \"aspect ratio\" \xE2\x80\x94 did you mean "
				  "\"aspect_ratio\"?" },
		{ "seed", "B1 unknown column \"seed\" \xE2\x80\x94 did you mean \"seed_number\"?" },
		{ "Seed_Number", "B1 unknown column \"Seed_Number\" \xE2\x80\x94 did you mean "
				 "\"seed_number\"? Column names are case-sensitive." },
		{ "negative-prompt", "B1 unknown column \"negative-prompt\" \xE2\x80\x94 did you "
				     "mean \"negative_prompt\"?" },
		{ "colour_palette", "B1 unknown column \"colour_palette\" \xE2\x80\x94 did you "
				    "mean \"color_palette\"?" },
		{ "AspectRatio", "B1 unknown column \"AspectRatio\" \xE2\x80\x94 did you mean "
				 "\"aspect_ratio\"?" },
		{ "stlye", "B1 unknown column \"stlye\" \xE2\x80\x94 did you mean \"style\"?" },
		{ "Number of images", "B1 unknown column \"Number of images\" \xE2\x80\x94 did "
				      "you mean \"num_images\"?" },
		{ "palette", "B1 unknown column \"palette\" \xE2\x80\x94 did you mean "
			     "\"color_palette\"?" },
		{ "foo", "B1 unknown column \"foo\"" },
		{ "Num", "B1 unknown column \"Num\" \xE2\x80\x94 did you mean \"num_images\"?" },
		{ "Color", "B1 unknown column \"Color\" \xE2\x80\x94 did you mean \"color_palette\"?" },
		{ "Negative", "B1 unknown column \"Negative\" \xE2\x80\x94 did you mean "
			      "\"negative_prompt\"?" },
		{ "colour", "B1 unknown column \"colour\" \xE2\x80\x94 did you mean \"color_palette\"?" },
	};
	struct sheet_batch b;
	char csv[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(csv, sizeof(csv), "prompt,%s,visibility\na,x,public\n", cases[i].name);
		assert_int_equal(check(csv, &b), 1);
		assert_msg(&b.errors, "B1", cases[i].want);
		if (!strstr(cases[i].want, "\xE2\x80\x94"))
			assert_null(strstr(b.errors.v[0].message, "did you mean"));
		if (!strstr(cases[i].want, "case-sensitive"))
			assert_null(strstr(b.errors.v[0].message, "case-sensitive"));
		assert_int_equal(b.errors.v[0].row, 1);
		assert_string_equal(b.errors.v[0].value, cases[i].name);
		assert_non_null(strstr(b.errors.v[0].hint, "num_images"));
		assert_int_equal(b.nrows, 1);   /* values under it are ignored */
		sheet_batch_free(&b);
	}
	/* a required column misspelt: the unknown name says it; no second error */
	assert_int_equal(check("visibility,Prompt\npublic,a\n", &b), 1);
	assert_msg(&b.errors, "B1", "B1 unknown column \"Prompt\" \xE2\x80\x94 did you mean \"prompt\"?");
	assert_int_equal(b.nrows, 0);
	sheet_batch_free(&b);
	/* a number as a column name */
	assert_int_equal(check("prompt,visibility,2024\na,public,x\n", &b), 1);
	assert_msg(&b.errors, "C1", "C1 unknown column \"2024\"");
	sheet_batch_free(&b);
}

static void test_validate_header_problems(void **state)
{
	struct sheet_batch b;
	const struct sheet_msg *m;

	(void)state;
	/* missing required column */
	assert_int_equal(check("prompt,aspect_ratio\na,1:1\nb,16:9\n", &b), 1);
	m = &b.errors.v[0];
	assert_string_equal(m->message, "Row 1 (the header) has no \"visibility\" column; it is required");
	assert_string_equal(m->column, "visibility");
	assert_int_equal(m->row, 1);
	assert_null(m->cell);
	assert_int_equal(b.nrows, 0);
	sheet_batch_free(&b);
	assert_int_equal(check("aspect_ratio\n1:1\n", &b), 2);
	assert_true(any_msg(&b.errors, "no \"prompt\" column"));
	assert_true(any_msg(&b.errors, "no \"visibility\" column"));
	sheet_batch_free(&b);
	/* duplicate */
	assert_int_equal(check("prompt,visibility,prompt\na,public,b\n", &b), 1);
	assert_msg(&b.errors, "C1", "C1 column \"prompt\" appears twice (also in A1)");
	assert_int_equal(b.nrows, 1);
	assert_string_equal(b.rows[0].f.prompt, "a");   /* the first one is read */
	sheet_batch_free(&b);
	/* values in columns with no name: one error per column */
	assert_int_equal(check("prompt,visibility,,style\na,public,x,auto\nb,public,y,,z\n"
			       "c,public,w\n", &b), 2);
	assert_msg(&b.errors, "C2", "C2 has a value, but column C has no name in the header "
		   "row (C1 is empty) (and 2 more cells of column C)");
	assert_msg(&b.errors, "E3", "E3 has a value, but column E has no name in the header "
		   "row (E1 is empty)");
	assert_null(strstr(msg_at(&b.errors, "E3")->message, "more"));
	sheet_batch_free(&b);
	/* spaces around a name: a warning */
	assert_int_equal(check(" prompt ,visibility\na,public\n", &b), 0);
	assert_int_equal(b.warnings.n, 1);
	assert_msg(&b.warnings, "A1", "A1 column name \" prompt \" has spaces around it; "
		   "read as \"prompt\"");
	sheet_batch_free(&b);
	/* the header is the first non-blank row; row numbers stay the file's */
	assert_int_equal(check("\n,,\nprompt,Visibility\n\na,public\n", &b), 1);
	assert_msg(&b.errors, "B3", "B3 unknown column \"Visibility\"");
	assert_int_equal(b.errors.v[0].row, 3);
	sheet_batch_free(&b);
	assert_int_equal(check("\n\nprompt,visibility\n\na,public\n", &b), 0);
	assert_int_equal(b.rows[0].row, 5);
	sheet_batch_free(&b);
}

static void test_validate_empty(void **state)
{
	struct sheet_batch b;
	struct sheet_grid g;

	(void)state;
	/* a column past any limit, from a reader that did not check it */
	memset(&g, 0, sizeof(g));
	add(&g, 1, 1, SHEET_CELL_TEXT, "prompt", 0, NULL);
	add(&g, 1, 4000000000u, SHEET_CELL_TEXT, "x", 0, NULL);
	assert_int_equal(sheet_validate(&g, NULL, &b), 1);
	assert_non_null(strstr(b.errors.v[0].message, "at most 16384 columns"));
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	assert_int_equal(check("", &b), 1);
	assert_string_equal(b.errors.v[0].message,
			    "The file is empty: it has no header row and no prompts");
	assert_int_equal(b.errors.v[0].row, 0);
	sheet_batch_free(&b);
	assert_int_equal(check("\n ,  \n\n", &b), 1);
	assert_true(any_msg(&b.errors, "empty"));
	sheet_batch_free(&b);
	assert_int_equal(check("prompt,visibility\r\n,\r\n  ,\r\n", &b), 1);
	assert_string_equal(b.errors.v[0].message,
			    "The file has a header row (row 1) but no prompts below it");
	sheet_batch_free(&b);
}

static void test_validate_time_text(void **state)
{
	static const struct {
		const char *value;
		const char *ratio;      /* NULL: an error */
		const char *want;
	} cases[] = {
		{ "2:03", "2:3", "C2 aspect_ratio was stored as the time 02:03 by the "
		  "spreadsheet; read as 2:3 \xE2\x80\x94 format the column as text to avoid this" },
		{ "02:03:00", "2:3", "C2 aspect_ratio was stored as the time 02:03 by the "
		  "spreadsheet; read as 2:3" },
		{ "04:09:00 PM", "16:9", "C2 aspect_ratio was stored as the time 16:09 by the "
		  "spreadsheet; read as 16:9 \xE2\x80\x94 format the column as text to avoid this" },
		{ "4:09 pm", "16:9", "C2 aspect_ratio was stored as the time 16:09" },
		{ "16:09", "16:9", "C2 aspect_ratio was stored as the time 16:09" },
		{ "1:01", "1:1", "C2 aspect_ratio was stored as the time 01:01 by the "
		  "spreadsheet; read as 1:1" },
		{ "01:01:00 AM", "1:1", "C2 aspect_ratio was stored as the time 01:01" },
		{ "10:16:00", "10:16", "C2 aspect_ratio was stored as the time 10:16" },
		{ "09:16 AM", "9:16", "C2 aspect_ratio was stored as the time 09:16" },
		{ "12:01 PM", NULL, "C2 aspect_ratio was stored as the time 12:01" },
		{ "12:01 AM", NULL, "C2 aspect_ratio was stored as the time 00:01 by the "
		  "spreadsheet, which is not an aspect ratio kiln knows; format the column as "
		  "text and type the ratio again" },
		{ "04:17 PM", NULL, "C2 aspect_ratio was stored as the time 16:17 by the "
		  "spreadsheet, which is not" },
		{ "2:03:30", NULL, "C2 aspect_ratio was stored as the time 02:03:30" },
		{ "13:09 PM", NULL, "C2 aspect_ratio \"13:09 PM\" is not an aspect ratio kiln knows" },
		{ "2:3:00", NULL, "C2 aspect_ratio \"2:3:00\" is not an aspect ratio" },
	};
	struct sheet_batch b;
	char csv[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n;

		snprintf(csv, sizeof(csv), "prompt,visibility,aspect_ratio\na,public,%s\n",
			 cases[i].value);
		n = check(csv, &b);
		if (cases[i].ratio) {
			assert_int_equal(n, 0);
			assert_string_equal(b.rows[0].f.aspect_ratio, cases[i].ratio);
			assert_int_equal(b.warnings.n, 1);
			assert_msg(&b.warnings, "C2", cases[i].want);
			assert_string_equal(b.warnings.v[0].value, cases[i].value);
			assert_string_equal(b.warnings.v[0].column, "aspect_ratio");
			assert_int_equal(b.warnings.v[0].row, 2);
		}
		else {
			assert_int_equal(n, 1);
			assert_int_equal(b.warnings.n, 0);
			assert_msg(&b.errors, "C2", cases[i].want);
		}
		sheet_batch_free(&b);
	}
	/* a ratio that is itself a valid time is just a ratio */
	assert_int_equal(check("prompt,visibility,aspect_ratio\na,public,10:16\n", &b), 0);
	assert_int_equal(b.warnings.n, 0);
	sheet_batch_free(&b);
}

static void test_validate_time_numbers(void **state)
{
	static const struct {
		double number;
		const char *format;
		const char *ratio;      /* NULL: an error */
		const char *want;
	} cases[] = {
		{ 0.6729166666666667, "hh:mm:ss\\ AM/PM", "16:9", "C2 aspect_ratio was stored as "
		  "the time 16:09 by the spreadsheet; read as 16:9 \xE2\x80\x94 format the column "
		  "as text to avoid this" },
		{ 0.0854166666666667, "hh:mm:ss\\ AM/PM", "2:3",
		  "C2 aspect_ratio was stored as the time 02:03" },
		{ 0.085416666666666669, "time", "2:3", "C2 aspect_ratio was stored as the time 02:03" },
		{ 0.0423611111111111, "h:mm", "1:1", "C2 aspect_ratio was stored as the time 01:01" },
		{ 0.12777777777777777, "[h]:mm:ss", "3:4", "C2 aspect_ratio was stored as the time 03:04" },
		{ 45000.6729166666, "m/d/yy h:mm", "16:9", "C2 aspect_ratio was stored as the time 16:09" },
		{ 0.0854166666666667, NULL, "2:3", "C2 aspect_ratio was stored as the time 02:03" },
		{ 0.5, "h:mm", NULL, "C2 aspect_ratio was stored as the time 12:00 by the "
		  "spreadsheet, which is not an aspect ratio kiln knows; format the column as "
		  "text and type the ratio again" },
		{ 45000, "m/d/yy", NULL, "C2 aspect_ratio holds a date, not an aspect ratio; "
		  "format the column as text" },
		{ 1.5, NULL, NULL, "C2 aspect_ratio holds the number 1.5, not an aspect ratio" },
		{ -0.5, "h:mm", NULL, "C2 aspect_ratio holds a time" },
	};
	struct sheet_batch b;
	struct sheet_grid g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n;

		typed_header(&g);
		add(&g, 2, 1, SHEET_CELL_TEXT, "a", 0, NULL);
		add(&g, 2, 2, SHEET_CELL_TEXT, "public", 0, NULL);
		add(&g, 2, 3, SHEET_CELL_NUMBER, NULL, cases[i].number, cases[i].format);
		n = sheet_validate(&g, NULL, &b);
		if (cases[i].ratio) {
			assert_int_equal(n, 0);
			assert_string_equal(b.rows[0].f.aspect_ratio, cases[i].ratio);
			assert_int_equal(b.warnings.n, 1);
			assert_msg(&b.warnings, "C2", cases[i].want);
		}
		else {
			assert_int_equal(n, 1);
			assert_msg(&b.errors, "C2", cases[i].want);
		}
		sheet_batch_free(&b);
		sheet_grid_free(&g);
	}
}

static void test_validate_numbers_for_text(void **state)
{
	static const struct {
		unsigned col;           /* in typed_header() */
		enum sheet_cell_type type;
		double number;
		const char *text;
		const char *model;      /* expected, or NULL */
		int64_t seed;
		int num_images;
	} cases[] = {
		{ 4, SHEET_CELL_NUMBER, 2, NULL, "2.0", -1, 4 },
		{ 4, SHEET_CELL_NUMBER, 1, NULL, "1.0", -1, 4 },
		{ 4, SHEET_CELL_NUMBER, 0.2, NULL, "0.2", -1, 4 },
		{ 4, SHEET_CELL_NUMBER, 0.20000000000000001, NULL, "0.2", -1, 4 },
		{ 4, SHEET_CELL_NUMBER, 3, NULL, "3.0", -1, 4 },
		{ 4, SHEET_CELL_TEXT, 0, "2", "2.0", -1, 4 },
		{ 4, SHEET_CELL_TEXT, 0, "1", "1.0", -1, 4 },
		{ 4, SHEET_CELL_TEXT, 0, "2.00", "2.0", -1, 4 },
		{ 5, SHEET_CELL_NUMBER, 42.0, NULL, "2.0", 42, 4 },
		{ 5, SHEET_CELL_NUMBER, 2147483647.0, NULL, "2.0", 2147483647, 4 },
		{ 5, SHEET_CELL_TEXT, 0, "42.0", "2.0", 42, 4 },
		{ 5, SHEET_CELL_TEXT, 0, "1.2345E+09", "2.0", 1234500000, 4 },
		{ 5, SHEET_CELL_TEXT, 0, "0", "2.0", 0, 4 },
		{ 6, SHEET_CELL_NUMBER, 2, NULL, "2.0", -1, 2 },
		{ 6, SHEET_CELL_TEXT, 0, "3.0", "2.0", -1, 3 },
		{ 4, SHEET_CELL_NUMBER, 2.5, NULL, NULL, 0, 0 },
		{ 4, SHEET_CELL_NUMBER, 20, NULL, NULL, 0, 0 },
		{ 5, SHEET_CELL_NUMBER, 12.5, NULL, NULL, 0, 0 },
		{ 5, SHEET_CELL_NUMBER, -3, NULL, NULL, 0, 0 },
		{ 5, SHEET_CELL_NUMBER, 3e10, NULL, NULL, 0, 0 },
		{ 6, SHEET_CELL_NUMBER, 4.5, NULL, NULL, 0, 0 },
	};
	struct sheet_batch b;
	struct sheet_grid g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n;

		typed_header(&g);
		add(&g, 2, 1, SHEET_CELL_TEXT, "a", 0, NULL);
		add(&g, 2, 2, SHEET_CELL_TEXT, "public", 0, NULL);
		add(&g, 2, cases[i].col, cases[i].type, cases[i].text, cases[i].number, NULL);
		n = sheet_validate(&g, NULL, &b);
		if (cases[i].model) {
			if (n)
				fail_msg("case %zu: %s", i, b.errors.v[0].message);
			assert_string_equal(b.rows[0].f.model, cases[i].model);
			assert_int_equal(b.rows[0].f.seed, cases[i].seed);
			assert_int_equal(b.rows[0].f.num_images, cases[i].num_images);
			assert_int_equal(b.warnings.n, 0);
		}
		else {
			assert_int_equal(n, 1);
			assert_int_equal(b.errors.v[0].row, 2);
			assert_int_equal(b.errors.v[0].cell[0], 'A' + (int)cases[i].col - 1);
		}
		sheet_batch_free(&b);
		sheet_grid_free(&g);
	}
	/* the seed message quotes the value as read */
	typed_header(&g);
	add(&g, 9, 1, SHEET_CELL_TEXT, "a", 0, NULL);
	add(&g, 9, 2, SHEET_CELL_TEXT, "public", 0, NULL);
	add(&g, 9, 5, SHEET_CELL_NUMBER, NULL, 12.5, NULL);
	assert_int_equal(sheet_validate(&g, NULL, &b), 1);
	assert_string_equal(b.errors.v[0].message, "E9 seed_number \"12.5\" must be a whole "
			    "number from 0 to 2147483647");
	assert_string_equal(b.errors.v[0].value, "12.5");
	sheet_batch_free(&b);
	sheet_grid_free(&g);
}

static void test_validate_wrong_kinds(void **state)
{
	struct sheet_batch b;
	struct sheet_grid g;

	(void)state;
	typed_header(&g);
	/* row 2: a boolean, a formula error and a date where text belongs */
	add(&g, 2, 1, SHEET_CELL_ERROR, "#N/A", 0, NULL);
	add(&g, 2, 2, SHEET_CELL_NUMBER, NULL, 45000, "m/d/yy");
	add(&g, 2, 4, SHEET_CELL_BOOL, NULL, 1, NULL);
	add(&g, 2, 7, SHEET_CELL_BOOL, NULL, 0, NULL);
	/* row 3: a number as a prompt is its text; a number as visibility is not */
	add(&g, 3, 1, SHEET_CELL_NUMBER, NULL, 1984, NULL);
	add(&g, 3, 2, SHEET_CELL_NUMBER, NULL, 1, NULL);
	add(&g, 3, 5, SHEET_CELL_NUMBER, NULL, 42, "h:mm");
	/* row 4: valid, prompt from a number */
	add(&g, 4, 1, SHEET_CELL_NUMBER, NULL, 1984, NULL);
	add(&g, 4, 2, SHEET_CELL_TEXT, "public", 0, NULL);
	add(&g, 4, 6, SHEET_CELL_ERROR, "#DIV/0!", 0, NULL);
	assert_int_equal(sheet_validate(&g, NULL, &b), 7);
	assert_msg(&b.errors, "A2", "A2 prompt holds the formula error #N/A, not text");
	assert_msg(&b.errors, "B2", "B2 visibility holds a date, not public or private; format "
		   "the column as text");
	assert_msg(&b.errors, "D2", "D2 model holds the boolean TRUE, not a model; format the "
		   "column as text");
	assert_msg(&b.errors, "G2", "G2 magic_prompt holds the boolean FALSE, not on or off");
	assert_msg(&b.errors, "B3", "B3 visibility holds the number 1, not public or private");
	assert_msg(&b.errors, "E3", "E3 seed_number holds a time, not a whole number");
	assert_msg(&b.errors, "F4", "F4 num_images holds the formula error #DIV/0!");
	assert_string_equal(msg_at(&b.errors, "D2")->value, "TRUE");
	assert_string_equal(msg_at(&b.errors, "A2")->value, "#N/A");
	assert_int_equal(b.nrows, 0);
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	typed_header(&g);
	add(&g, 2, 1, SHEET_CELL_NUMBER, NULL, 1984, NULL);
	add(&g, 2, 2, SHEET_CELL_TEXT, "private", 0, NULL);
	assert_int_equal(sheet_validate(&g, NULL, &b), 0);
	assert_string_equal(b.rows[0].f.prompt, "1984");
	sheet_batch_free(&b);
	sheet_grid_free(&g);
}

static void test_validate_prompt_length(void **state)
{
	struct sheet_batch b;
	char *s;

	(void)state;
	/* 4000 characters of two bytes each: fine */
	s = repeat("prompt,visibility\n", "\xC3\xA9", 4000, ",public\n");
	assert_int_equal(check(s, &b), 0);
	assert_int_equal(strlen(b.rows[0].f.prompt), 8000);
	sheet_batch_free(&b);
	free(s);
	s = repeat("prompt,visibility\n", "a", 4001, ",public\n");
	assert_int_equal(check(s, &b), 1);
	assert_msg(&b.errors, "A2", "A2 prompt is 4001 characters long; at most 4000 are allowed");
	assert_true(strlen(b.errors.v[0].value) < 1100);        /* the value is cut */
	assert_non_null(strstr(b.errors.v[0].hint, "4000"));
	sheet_batch_free(&b);
	free(s);
	s = repeat("prompt,visibility,negative_prompt\na,public,", "b", 4001, "\n");
	assert_int_equal(check(s, &b), 1);
	assert_msg(&b.errors, "C2", "C2 negative_prompt is 4001 characters long");
	sheet_batch_free(&b);
	free(s);
	/* values just around the size of the buffer they are compared in */
	s = repeat("prompt,visibility,style\na,public,", "y", 31, "\n");
	assert_int_equal(check(s, &b), 1);
	sheet_batch_free(&b);
	free(s);
	s = repeat("prompt,visibility,style\na,public,", "y", 32, "\n");
	assert_int_equal(check(s, &b), 1);
	sheet_batch_free(&b);
	free(s);
	/* a long bad value is cut inside the message */
	s = repeat("prompt,visibility\na,", "x", 5000, "\n");
	assert_int_equal(check(s, &b), 1);
	assert_true(strlen(b.errors.v[0].message) < 300);
	sheet_batch_free(&b);
	free(s);
}

static void test_validate_everything_at_once(void **state)
{
	struct sheet_batch b;

	(void)state;
	assert_int_equal(check("prompt,visibility,Style,aspect_ratio\n"
			       "a,public,x,7:5\n"
			       "b,nobody,,1:1\n"
			       "c,private,,1:1\n"
			       ",public,,2:03\n", &b), 4);
	assert_string_equal(b.errors.v[0].cell, "C1");
	assert_string_equal(b.errors.v[1].cell, "D2");
	assert_string_equal(b.errors.v[2].cell, "B3");
	assert_string_equal(b.errors.v[3].cell, "A5");
	assert_int_equal(b.warnings.n, 1);      /* D5's time, though the row is invalid */
	assert_int_equal(b.nrows, 1);
	assert_int_equal(b.rows[0].row, 4);
	sheet_batch_free(&b);
}

static void test_validate_reader_warnings_first(void **state)
{
	struct sheet_batch b;

	(void)state;
	assert_int_equal(check("prompt,visibility,aspect_ratio\ncr\xE8me,public,2:03\n", &b), 0);
	assert_int_equal(b.warnings.n, 2);
	assert_non_null(strstr(b.warnings.v[0].message, "Windows-1252"));
	assert_int_equal(b.warnings.v[0].row, 0);
	assert_string_equal(b.warnings.v[1].cell, "C2");
	assert_string_equal(b.rows[0].f.prompt, "cr\xC3\xA8me");
	sheet_batch_free(&b);
}

static void test_templates(void **state)
{
	static const char *const names[] = { "simple.csv", "full.csv" };
	static const char full_header[] = "prompt,visibility,aspect_ratio,magic_prompt,model,"
		"seed_number,rendering,negative_prompt,style,color_palette,num_images\r\n";
	struct sheet_batch b;
	struct sheet_grid g;
	const char *t;
	size_t i;

	(void)state;
	assert_null(sheet_template_csv("other.csv"));
	assert_null(sheet_template_csv(NULL));
	for (i = 0; i < 2; i++) {
		const char *p;

		t = sheet_template_csv(names[i]);
		assert_non_null(t);
		/* CRLF only, and ASCII (so UTF-8 whatever opens it) */
		for (p = t; *p; p++) {
			assert_true((unsigned char)*p < 0x80);
			if (*p == '\n')
				assert_true(p > t && p[-1] == '\r');
		}
		assert_int_equal(t[strlen(t) - 1], '\n');
		read_ok(t, &g);
		assert_int_equal(sheet_validate(&g, NULL, &b), 0);
		assert_int_equal(b.nrows, 2);
		assert_int_equal(b.warnings.n, 2);
		assert_msg(&b.warnings, "A2", "A2 is an example row from the template; delete it");
		assert_msg(&b.warnings, "A3", "A3 is an example row from the template; delete it");
		sheet_batch_free(&b);
		sheet_grid_free(&g);
	}
	t = sheet_template_csv("simple.csv");
	assert_int_equal(strncmp(t, "prompt,visibility,aspect_ratio\r\n", 32), 0);
	t = sheet_template_csv("full.csv");
	assert_int_equal(strncmp(t, full_header, strlen(full_header)), 0);
	read_ok(t, &g);
	assert_int_equal(sheet_validate(&g, NULL, &b), 0);
	assert_string_equal(b.rows[0].f.color_palette, "#CBA324 #F86C14 #C71E71");
	assert_int_equal(b.rows[0].f.seed, 12345);
	assert_string_equal(b.rows[1].f.color_palette, "pastel");
	assert_int_equal(b.rows[1].f.num_images, 2);
	assert_int_equal(b.images_total, 6);
	sheet_batch_free(&b);
	sheet_grid_free(&g);
	/* an edited example row is no longer an example */
	assert_int_equal(check("prompt,visibility\na real prompt,public\n", &b), 0);
	assert_int_equal(b.warnings.n, 0);
	sheet_batch_free(&b);
}

/* ---- the corpus ---------------------------------------------------------------- */

/*
 * Reads file (relative to the corpus) and compares its grid cell by cell
 * with oracle (JSON lines).  Returns the number of cells compared.
 */
static size_t compare_with_oracle(const char *file, const char *oracle)
{
	char path[512], err[512];
	unsigned char *buf;
	size_t len, n;
	struct sheet_grid g;

	snprintf(path, sizeof(path), CORPUS "/%s", file);
	buf = slurp(path, &len);
	if (!buf)
		fail_msg("cannot read %s", path);
	if (sheet_read(buf, len, NULL, &g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s: %s", file, err);
	n = oracle_compare(&g, file, oracle, ORACLE_NROWS);
	free(buf);
	sheet_grid_free(&g);
	return n;
}

static void test_corpus_batches_oracles(void **state)
{
	static const char *const files[] = {
		"stickers.csv", "stickers-semicolon.csv", "stickers-unicode.txt",
		"stickers-cp1252.csv", "stickers-times.csv"
	};
	char file[128], oracle[160];
	size_t i;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_batches_oracles: skipped, no %s\n", CORPUS);
		skip();
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(file, sizeof(file), "batches/%s", files[i]);
		snprintf(oracle, sizeof(oracle), "batches/oracle/%s.jsonl", files[i]);
		assert_true(compare_with_oracle(file, oracle) > 100);
	}
}

static void test_corpus_sheetjs_oracles(void **state)
{
	unsigned char *buf;
	size_t len, files = 0;
	char *line, *save = NULL;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_sheetjs_oracles: skipped, no %s\n", CORPUS);
		skip();
	}
	buf = slurp(CORPUS "/sheetjs/MANIFEST.tsv", &len);
	assert_non_null(buf);
	buf[len] = '\0';
	for (line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char file[256], oracle[300], *tab = strchr(line, '\t');

		if (!tab || strncmp(tab + 1, "csv", 3))
			continue;
		snprintf(file, sizeof(file), "sheetjs/%.*s", (int)(tab - line), line);
		snprintf(oracle, sizeof(oracle), "sheetjs/oracle/%.*s.jsonl", (int)(tab - line), line);
		compare_with_oracle(file, oracle);
		files++;
	}
	assert_int_equal(files, 6);
	free(buf);
}

/* Reads and validates a batch file of the corpus. */
static int corpus_batch(const char *name, struct sheet_batch *b)
{
	char path[256], err[512];
	struct sheet_grid g;
	unsigned char *buf;
	size_t len;
	int n;

	snprintf(path, sizeof(path), CORPUS "/batches/%s", name);
	buf = slurp(path, &len);
	assert_non_null(buf);
	if (sheet_read(buf, len, NULL, &g, err, sizeof(err)) != SHEET_OK)
		fail_msg("%s: %s", name, err);
	n = sheet_validate(&g, NULL, b);
	sheet_grid_free(&g);
	free(buf);
	return n;
}

static void test_corpus_batches_validate(void **state)
{
	static const struct {
		const char *name;
		size_t warnings;
	} files[] = {
		{ "stickers.csv", 0 }, { "stickers-semicolon.csv", 0 },
		{ "stickers-unicode.txt", 0 }, { "stickers-cp1252.csv", 1 },
		{ "stickers-times.csv", 11 },
	};
	struct sheet_batch b;
	const struct sheet_fields *f;
	size_t i;

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_batches_validate: skipped, no %s\n", CORPUS);
		skip();
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int n = corpus_batch(files[i].name, &b);

		if (n)
			fail_msg("%s: %s", files[i].name, b.errors.v[0].message);
		assert_int_equal(b.nrows, 12);
		assert_int_equal(b.images_total, 48);
		if (b.warnings.n != files[i].warnings)
			fail_msg("%s: %zu warnings", files[i].name, b.warnings.n);
		f = &row_no(&b, 2)->f;
		assert_string_equal(f->prompt, "A cheerful gingerbread man sticker with white "
				    "icing buttons, die-cut border");
		assert_string_equal(f->aspect_ratio, "1:1");
		assert_string_equal(f->model, "2.0");
		assert_int_equal(f->seed, 12345);
		assert_string_equal(f->negative_prompt, "blurry, low resolution, text, watermark");
		assert_string_equal(f->style, "design");
		assert_string_equal(f->color_palette, "#CBA324 #F86C14 #C71E71");
		f = &row_no(&b, 3)->f;
		assert_string_equal(f->visibility, "private");
		assert_string_equal(f->aspect_ratio, "2:3");
		assert_string_equal(f->color_palette, "pastel");
		assert_int_equal(f->seed, -1);
		f = &row_no(&b, 4)->f;
		assert_string_equal(f->aspect_ratio, "16:9");
		assert_string_equal(f->model, "1.0");
		assert_string_equal(f->magic_prompt, "on");
		assert_string_equal(f->negative_prompt, "");
		assert_null(f->color_palette);
		f = &row_no(&b, 5)->f;
		assert_string_equal(f->prompt, "Cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\x65 Christmas "
				    "pudding with a holly sprig, flat vector sticker");
		assert_string_equal(f->aspect_ratio, "3:4");
		assert_int_equal(f->seed, 42);
		f = &row_no(&b, 6)->f;
		assert_string_equal(f->model, "0.2");
		assert_int_equal(f->seed, 2147483647);
		f = &row_no(&b, 7)->f;
		assert_string_equal(f->aspect_ratio, "1:1");
		assert_string_equal(f->rendering, "default");
		assert_string_equal(f->style, "auto");
		assert_int_equal(f->num_images, 4);
		f = &row_no(&b, 10)->f;
		assert_non_null(strstr(f->prompt, "\"Let it snow\""));
		f = &row_no(&b, 12)->f;
		assert_string_equal(f->magic_prompt, "on");
		assert_string_equal(f->model, "2.0");
		assert_string_equal(f->rendering, "default");
		assert_string_equal(f->style, "auto");
		assert_int_equal(row_no(&b, 13)->f.seed, 0);
		if (!strcmp(files[i].name, "stickers-times.csv")) {
			assert_string_equal(b.warnings.v[0].message, "C2 aspect_ratio was stored as "
					    "the time 01:01 by the spreadsheet; read as 1:1 "
					    "\xE2\x80\x94 format the column as text to avoid this");
			assert_msg(&b.warnings, "C3", "C3 aspect_ratio was stored as the time "
				   "02:03 by the spreadsheet; read as 2:3 \xE2\x80\x94 format the "
				   "column as text to avoid this");
			assert_msg(&b.warnings, "C4", "C4 aspect_ratio was stored as the time "
				   "16:09 by the spreadsheet; read as 16:9");
			assert_null(msg_at(&b.warnings, "C7"));
		}
		if (!strcmp(files[i].name, "stickers-cp1252.csv"))
			assert_non_null(strstr(b.warnings.v[0].message, "Windows-1252"));
		sheet_batch_free(&b);
	}
}

/* The corpus files kiln must refuse, each with its reason (the readable ones
 * are compared with their oracles in test_xls.c, test_xlsx.c, test_ods.c). */
static void test_corpus_refused(void **state)
{
	static const struct oracle_refusal files[] = {
		{ "batches/stickers-encrypted.xlsx", SHEET_UNREADABLE, "password-protected" },
		{ "batches/stickers-encrypted.xls", SHEET_UNREADABLE, "password-protected" },
		{ "batches/stickers-encrypted.ods", SHEET_UNREADABLE, "password-protected" },
		{ "sheetjs/password_2002_40_xor.xls", SHEET_UNREADABLE, "password-protected" },
		{ "sheetjs/password_2002_128_strong.xls", SHEET_UNREADABLE, "password-protected" },
		{ "sheetjs/biff5/password_2002_40_xor.xls", SHEET_UNREADABLE, "password-protected" },
		{ "sheetjs/crlf/crlf.xlsb", SHEET_UNSUPPORTED, ".xlsb" },
		{ "sheetjs/minimal_112.numbers", SHEET_UNSUPPORTED, "Numbers" },
		{ "sheetjs/crlf/crlf.fods", SHEET_UNSUPPORTED, ".fods" },
	};

	(void)state;
	if (!corpus_present()) {
		printf("test_corpus_refused: skipped, no %s\n", CORPUS);
		skip();
	}
	oracle_refused(files, sizeof(files) / sizeof(files[0]), sheet_read);
}

/* The zip readers' ratio guard: real sheet XML passes, a deflate bomb does not. */
static void test_zip_ratio(void **state)
{
	(void)state;
	/* large_strings.xlsx: 57 MB of XML from 0.87 MB */
	assert_false(sheet_zip_ratio_exceeded(57ULL << 20, 870ULL << 10));
	/* small members are never judged by ratio */
	assert_false(sheet_zip_ratio_exceeded(1ULL << 20, 10));
	/* zeros deflate about 1000:1 */
	assert_true(sheet_zip_ratio_exceeded(64ULL << 20, 64ULL << 10));
	assert_false(sheet_zip_ratio_exceeded(64ULL << 20, 1ULL << 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zip_ratio),
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_cell_ref),
		cmocka_unit_test(test_format_name),
		cmocka_unit_test(test_grid_add_copies),
		cmocka_unit_test(test_msgs_add),
		cmocka_unit_test(test_fields_copy),
		cmocka_unit_test(test_sniff_ole),
		cmocka_unit_test(test_sniff_zip),
		cmocka_unit_test(test_sniff_other),
		cmocka_unit_test(test_csv_basic),
		cmocka_unit_test(test_csv_line_endings),
		cmocka_unit_test(test_csv_bom),
		cmocka_unit_test(test_csv_utf16),
		cmocka_unit_test(test_csv_cp1252),
		cmocka_unit_test(test_csv_delimiters),
		cmocka_unit_test(test_csv_quoting),
		cmocka_unit_test(test_csv_text_as_is),
		cmocka_unit_test(test_csv_blank_rows),
		cmocka_unit_test(test_csv_hostile),
		cmocka_unit_test(test_csv_rows_past_limit),
		cmocka_unit_test(test_validate_defaults),
		cmocka_unit_test(test_validate_case_and_trim),
		cmocka_unit_test(test_validate_bad_values),
		cmocka_unit_test(test_validate_required_values),
		cmocka_unit_test(test_validate_palette_model),
		cmocka_unit_test(test_validate_unknown_columns),
		cmocka_unit_test(test_validate_header_problems),
		cmocka_unit_test(test_validate_empty),
		cmocka_unit_test(test_validate_time_text),
		cmocka_unit_test(test_validate_time_numbers),
		cmocka_unit_test(test_validate_numbers_for_text),
		cmocka_unit_test(test_validate_wrong_kinds),
		cmocka_unit_test(test_validate_prompt_length),
		cmocka_unit_test(test_validate_everything_at_once),
		cmocka_unit_test(test_validate_reader_warnings_first),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_corpus_batches_oracles),
		cmocka_unit_test(test_corpus_sheetjs_oracles),
		cmocka_unit_test(test_corpus_batches_validate),
		cmocka_unit_test(test_corpus_refused),
	};

	return cmocka_run_group_tests_name("sheet", tests, NULL, NULL);
}
