/*
 * sheet.c — format sniffing, the sheet_read() dispatcher, the cell grid, the
 * problem list and the two CSV templates.
 *
 * DESIGN
 * An upload's name and Content-Type are not trusted: sheet_sniff() looks at
 * the bytes.  An OLE2 compound file (D0 CF 11 E0) is an .xls when its
 * directory holds a "Workbook" (BIFF8) or "Book" (BIFF5) stream, and a
 * password-protected .xlsx when it holds "EncryptedPackage"; an .xls whose
 * workbook stream starts with a FILEPASS record after its BOF is encrypted
 * too.  The directory is found through the header's first 109 FAT sectors
 * only, which is all a cheap, bounded check needs.  A zip (PK 03 04) is
 * opened with libzip from the buffer and told apart by its member names
 * (xl/workbook.xml, xl/workbook.bin, mimetype, [Content_Types].xml,
 * Index/Document.iwa), reading at most 64 KiB of any member; an .ods whose
 * META-INF/manifest.xml carries "encryption-data" is password-protected.
 * Anything else is text (CSV) unless it starts with a known magic number,
 * looks like XML or HTML, or holds NUL or many control bytes early on.
 * sheet_read() then hands the bytes to the reader of their format: csv.c,
 * xls.c, xlsx.c or ods.c, each filling the same grid.
 *
 * The grid and message helpers below are shared by every reader and by the
 * validator; they copy what they are given, so a caller never has to think
 * about who owns a string.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem(), strndup(), strcasecmp() even under -std=c11 */
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zip.h>

#include "sheet/sheet.h"

#define SNIFF_TEXT_SAMPLE 8192      /* bytes looked at to tell text from binary */
#define ZIP_MEMBER_MAX (64 * 1024)  /* at most this much of a zip member is read */

/* What sniffing found; more than sheet_sniff() can return. */
struct sniff {
	enum sheet_format fmt;
	const char *what;        /* "an Excel workbook (.xlsx)", "a PDF document" */
	int encrypted;           /* a password-protected workbook */
	int damaged;             /* looks like a container but cannot be opened */
	char detail[128];        /* why it cannot be opened, when damaged */
};

void sheet_limits_default(struct sheet_limits *lim)
{
	lim->max_rows = 1000;
	lim->max_cols = 256;
	lim->max_cell_bytes = 32768;
	lim->max_cells = 200000;
	lim->xml_path = SHEET_XML_AUTO;
}

const char *sheet_format_name(enum sheet_format fmt)
{
	switch (fmt) {
	case SHEET_FMT_CSV:
		return "csv";
	case SHEET_FMT_XLS:
		return "xls";
	case SHEET_FMT_XLSX:
		return "xlsx";
	case SHEET_FMT_ODS:
		return "ods";
	default:
		return "unknown";
	}
}

/* ---- OLE2 compound files ---------------------------------------------- */

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static unsigned rd16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

struct ole {
	const unsigned char *buf;
	size_t len;
	size_t ssz;              /* sector size: 512 or 4096 */
	size_t msz;              /* mini sector size: 64 */
	uint32_t mini_cutoff;    /* streams smaller than this live in the mini stream */
	uint32_t root_start;     /* first sector of the mini stream */
	uint32_t wb_start, wb_size;
	int workbook;            /* 8: a "Workbook" stream, 5: a "Book" stream */
	int encrypted_package;   /* "EncryptedPackage" / "EncryptionInfo" present */
};

/*
 * Byte offset of sector sec in the file, or 0 when it is a special value or
 * lies outside the file (sector 0 starts after the header, never at 0).
 */
static size_t ole_sector(const struct ole *o, uint32_t sec)
{
	size_t off;

	if (sec >= 0xFFFFFFFAu)
		return 0;
	off = ((size_t)sec + 1) * o->ssz;
	if (off >= o->len)
		return 0;
	return off;
}

/*
 * The sector after sec in its chain, looked up in the FAT sectors the header
 * lists; 0xFFFFFFFE (end of chain) when it cannot be found cheaply.
 */
static uint32_t ole_next(const struct ole *o, uint32_t sec)
{
	size_t per = o->ssz / 4;
	size_t idx = sec / per;
	size_t off;

	if (idx >= 109)
		return 0xFFFFFFFEu;
	off = ole_sector(o, rd32(o->buf + 76 + 4 * idx));
	if (!off || off + (sec % per) * 4 + 4 > o->len)
		return 0xFFFFFFFEu;
	return rd32(o->buf + off + (sec % per) * 4);
}

/* Does the directory entry name (UTF-16LE, nbytes with its NUL) equal s? */
static int ole_name_is(const unsigned char *d, unsigned nbytes, const char *s)
{
	size_t n = strlen(s);
	size_t i;

	if (nbytes != (n + 1) * 2)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned ch = rd16(d + 2 * i);
		if (ch > 127 || (ch | 0x20) != ((unsigned)s[i] | 0x20))
			return 0;
	}
	return 1;
}

/*
 * Walks the directory of the compound file in o->buf and notes the streams
 * that matter (workbook, encryption).  Bounded: at most 4096 directory
 * sectors, whatever the FAT says.
 */
static void ole_scan_dir(struct ole *o)
{
	uint32_t sec = rd32(o->buf + 48);
	unsigned n;

	for (n = 0; n < 4096 && sec < 0xFFFFFFFAu; n++) {
		size_t off = ole_sector(o, sec);
		size_t e;

		if (!off)
			break;
		for (e = 0; e + 128 <= o->ssz && off + e + 128 <= o->len; e += 128) {
			const unsigned char *d = o->buf + off + e;
			unsigned nl = rd16(d + 64);
			unsigned type = d[66];

			if (nl < 2 || nl > 64)
				continue;
			if (type == 5) {
				o->root_start = rd32(d + 116);
				continue;
			}
			if (type != 2)
				continue;
			if (ole_name_is(d, nl, "Workbook") ||
			    (ole_name_is(d, nl, "Book") && !o->workbook)) {
				o->workbook = ole_name_is(d, nl, "Book") ? 5 : 8;
				o->wb_start = rd32(d + 116);
				o->wb_size = rd32(d + 120);
			}
			else if (ole_name_is(d, nl, "EncryptedPackage") ||
				 ole_name_is(d, nl, "EncryptionInfo"))
				o->encrypted_package = 1;
		}
		sec = ole_next(o, sec);
	}
}

/*
 * Does the workbook stream begin with BOF followed (within its first
 * sector) by a FILEPASS record, i.e. is the .xls encrypted or obfuscated?
 * Returns 0 when it cannot tell cheaply.
 */
static int ole_filepass(const struct ole *o)
{
	size_t off, avail, pos;
	unsigned nrec;

	if (o->wb_size >= o->mini_cutoff) {
		off = ole_sector(o, o->wb_start);
		avail = o->ssz;
	}
	else {
		/* in the mini stream: follow the root chain to its sector */
		size_t per = o->ssz / o->msz;
		uint32_t sec = o->root_start;
		size_t k;

		for (k = o->wb_start / per; k > 0 && sec < 0xFFFFFFFAu; k--)
			sec = ole_next(o, sec);
		off = ole_sector(o, sec);
		if (off)
			off += (o->wb_start % per) * o->msz;
		avail = o->msz;
	}
	if (!off || off >= o->len)
		return 0;
	if (avail > o->len - off)
		avail = o->len - off;
	if (avail > o->wb_size)
		avail = o->wb_size;
	if (avail < 4 || (rd16(o->buf + off) & 0xFF) != 0x09)
		return 0;               /* not a BOF record */
	pos = 0;
	for (nrec = 0; nrec < 32 && pos + 4 <= avail; nrec++) {
		unsigned id = rd16(o->buf + off + pos);

		if (id == 0x002F)
			return 1;
		pos += 4 + rd16(o->buf + off + pos + 2);
	}
	return 0;
}

/* Classifies an OLE2 compound file (the magic has been checked). */
static void sniff_ole(const unsigned char *buf, size_t len, struct sniff *s)
{
	struct ole o;
	unsigned shift, mshift;

	memset(&o, 0, sizeof(o));
	s->what = "an Office 97-2003 file that holds no workbook (a Word or PowerPoint document?)";
	if (len < 512)
		goto damaged;
	shift = rd16(buf + 30);
	mshift = rd16(buf + 32);
	if ((shift != 9 && shift != 12) || mshift < 6 || mshift >= shift)
		goto damaged;
	o.buf = buf;
	o.len = len;
	o.ssz = (size_t)1 << shift;
	o.msz = (size_t)1 << mshift;
	o.mini_cutoff = rd32(buf + 56);
	o.root_start = 0xFFFFFFFEu;
	ole_scan_dir(&o);
	if (o.encrypted_package) {
		s->fmt = SHEET_FMT_XLSX;
		s->what = "a password-protected Excel workbook (an encrypted .xlsx)";
		s->encrypted = 1;
		return;
	}
	if (o.workbook) {
		s->fmt = SHEET_FMT_XLS;
		s->what = o.workbook == 5 ? "an Excel 5.0/95 workbook (.xls)" :
					    "an Excel 97-2003 workbook (.xls)";
		if (ole_filepass(&o)) {
			s->what = "a password-protected Excel 97-2003 workbook (.xls)";
			s->encrypted = 1;
		}
	}
	return;
damaged:
	s->what = "an Office 97-2003 file (.xls)";
	s->damaged = 1;
	snprintf(s->detail, sizeof(s->detail), "its compound-file header is invalid");
}

/* ---- zip containers ----------------------------------------------------- */

/*
 * Reads at most max - 1 bytes of member name into out and NUL-terminates it.
 * Returns the bytes read, or -1 when the member is missing or unreadable;
 * *nopass is set when it is protected by a password.
 */
static long zip_member(zip_t *za, const char *name, char *out, size_t max, int *nopass)
{
	zip_file_t *zf;
	zip_int64_t n;

	zf = zip_fopen(za, name, 0);
	if (!zf) {
		if (zip_error_code_zip(zip_get_error(za)) == ZIP_ER_NOPASSWD)
			*nopass = 1;
		return -1;
	}
	n = zip_fread(zf, out, max - 1);
	zip_fclose(zf);
	if (n < 0)
		return -1;
	out[n] = '\0';
	return (long)n;
}

static int zip_has(zip_t *za, const char *name)
{
	return zip_name_locate(za, name, 0) >= 0;
}

/* Classifies a zip archive by its members (the magic has been checked). */
static void sniff_zip(const unsigned char *buf, size_t len, struct sniff *s)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	char *tmp;
	int nopass = 0;

	s->what = "a zip archive that holds no spreadsheet";
	zip_error_init(&ze);
	src = zip_source_buffer_create(buf, len, 0, &ze);
	za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
	if (!za) {
		s->what = "a zip archive (an .xlsx or .ods is one)";
		s->damaged = 1;
		snprintf(s->detail, sizeof(s->detail), "%s", zip_error_strerror(&ze));
		if (src)
			zip_source_free(src);
		zip_error_fini(&ze);
		return;
	}
	zip_error_fini(&ze);
	tmp = malloc(ZIP_MEMBER_MAX);
	if (!tmp) {
		s->damaged = 1;
		snprintf(s->detail, sizeof(s->detail), "out of memory");
		zip_discard(za);
		return;
	}
	if (zip_has(za, "xl/workbook.bin")) {
		s->what = "an Excel binary workbook (.xlsb)";
	}
	else if (zip_has(za, "xl/workbook.xml")) {
		s->fmt = SHEET_FMT_XLSX;
		s->what = zip_has(za, "xl/vbaProject.bin") ?
			  "an Excel macro-enabled workbook (.xlsm)" :
			  "an Excel workbook (.xlsx)";
	}
	else if (zip_member(za, "mimetype", tmp, 128, &nopass) >= 0) {
		if (!strncmp(tmp, "application/vnd.oasis.opendocument.spreadsheet", 46)) {
			s->fmt = SHEET_FMT_ODS;
			s->what = "an OpenDocument spreadsheet (.ods)";
			if (zip_member(za, "META-INF/manifest.xml", tmp, ZIP_MEMBER_MAX,
				      &nopass) > 0 &&
			    strstr(tmp, "encryption-data")) {
				s->what = "a password-protected OpenDocument spreadsheet (.ods)";
				s->encrypted = 1;
			}
		}
		else if (!strncmp(tmp, "application/vnd.oasis.opendocument.", 35))
			s->what = "an OpenDocument file that is not a spreadsheet "
				  "(a text or presentation document?)";
	}
	else if (zip_member(za, "[Content_Types].xml", tmp, ZIP_MEMBER_MAX, &nopass) >= 0) {
		/* an .xlsx may declare the .xlsb type for *.bin parts: look for it last */
		if (strstr(tmp, "spreadsheetml.sheet.main") ||
		    strstr(tmp, "spreadsheetml.template.main") ||
		    strstr(tmp, "ms-excel.sheet.macroEnabled.main")) {
			s->fmt = SHEET_FMT_XLSX;
			s->what = "an Excel workbook (.xlsx)";
		}
		else if (strstr(tmp, "sheet.binary.macroEnabled.main"))
			s->what = "an Excel binary workbook (.xlsb)";
		else if (strstr(tmp, "wordprocessingml"))
			s->what = "a Word document (.docx)";
		else if (strstr(tmp, "presentationml"))
			s->what = "a PowerPoint presentation (.pptx)";
		else
			s->what = "an Office Open XML package that holds no workbook";
	}
	else if (zip_has(za, "Index/Document.iwa") || zip_has(za, "Index.zip")) {
		s->what = "an Apple Numbers document";
	}
	if (nopass && s->fmt == SHEET_FMT_UNKNOWN) {
		s->what = "a password-protected zip archive";
		s->encrypted = 1;
	}
	free(tmp);
	zip_discard(za);
}

/* ---- everything else ---------------------------------------------------- */

struct magic {
	const char *bytes;
	size_t n;
	const char *what;
};

static const struct magic magics[] = {
	{ "%PDF-", 5, "a PDF document" },
	{ "\x89PNG\r\n\x1a\n", 8, "a PNG image" },
	{ "\xff\xd8\xff", 3, "a JPEG image" },
	{ "GIF87a", 6, "a GIF image" },
	{ "GIF89a", 6, "a GIF image" },
	{ "II*\0", 4, "a TIFF image" },
	{ "MM\0*", 4, "a TIFF image" },
	{ "\x1f\x8b", 2, "a gzip-compressed file" },
	{ "7z\xbc\xaf\x27\x1c", 6, "a 7-Zip archive" },
	{ "Rar!\x1a\x07", 6, "a RAR archive" },
	{ "\xfd" "7zXZ", 5, "an xz-compressed file" },
	{ "\x28\xb5\x2f\xfd", 4, "a zstd-compressed file" },
	{ "\x7f" "ELF", 4, "a program (an ELF executable)" },
	{ "{\\rtf", 5, "an RTF document" },
	{ "\xff\xfe\0\0", 4, "UTF-32 text (save it as CSV UTF-8)" },
	{ "\0\0\xfe\xff", 4, "UTF-32 text (save it as CSV UTF-8)" },
	{ "\x09\x00\x04\x00", 4, "an Excel 2.x workbook (too old to read)" },
	{ "\x09\x02\x06\x00", 4, "an Excel 3.0 workbook (too old to read)" },
	{ "\x09\x04\x06\x00", 4, "an Excel 4.0 workbook (too old to read)" },
};

/* Case-insensitive: does buf (len bytes) start with the ASCII string s? */
static int starts_with_ci(const unsigned char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	return len >= n && !strncasecmp((const char *)buf, s, n);
}

/*
 * Tells text from binary for a file with no known magic: XML and HTML are
 * named, NUL bytes or more than 1% control bytes in the first 8 KiB mean
 * binary (or UTF-16 without a byte-order mark, when every other byte is 0).
 */
static void sniff_text(const unsigned char *buf, size_t len, struct sniff *s)
{
	const unsigned char *p = buf;
	size_t n = len, i, sample, nul = 0, nul_odd = 0, nul_even = 0, ctrl = 0;

	if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
		p += 3;
		n -= 3;
	}
	else if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
		s->fmt = SHEET_FMT_CSV;
		s->what = "a UTF-16 text file";
		return;
	}
	while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
		p++;
		n--;
	}
	if (starts_with_ci(p, n, "<?xml")) {
		size_t look = n < SNIFF_TEXT_SAMPLE ? n : SNIFF_TEXT_SAMPLE;

		if (memmem(p, look, "office:document", 15))
			s->what = "a flat OpenDocument file (.fods); save it as .ods or CSV (UTF-8)";
		else if (memmem(p, look, "urn:schemas-microsoft-com:office:spreadsheet", 44))
			s->what = "an Excel 2003 XML spreadsheet; save it as .xlsx or CSV (UTF-8)";
		else
			s->what = "an XML document";
		return;
	}
	if (starts_with_ci(p, n, "<!doctype html") || starts_with_ci(p, n, "<html") ||
	    starts_with_ci(p, n, "<table")) {
		s->what = "an HTML page (some programs save those as .xls); save it as .xlsx or CSV (UTF-8)";
		return;
	}
	sample = len < SNIFF_TEXT_SAMPLE ? len : SNIFF_TEXT_SAMPLE;
	for (i = 0; i < sample; i++) {
		unsigned char c = buf[i];

		if (c == 0) {
			nul++;
			if (i & 1)
				nul_odd++;
			else
				nul_even++;
		}
		else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' &&
			  c != '\f' && c != '\v' && c != 0x1A) || c == 0x7F)
			ctrl++;
	}
	if (nul) {
		if ((nul_even == 0 && nul_odd * 4 >= sample) ||
		    (nul_odd == 0 && nul_even * 4 >= sample))
			s->what = "UTF-16 text without a byte-order mark; save it as CSV (UTF-8)";
		else
			s->what = "binary data";
		return;
	}
	if (ctrl * 100 > sample) {
		s->what = "binary data";
		return;
	}
	s->fmt = SHEET_FMT_CSV;
	s->what = "a CSV or text file";
}

/* Fills *s with everything the bytes tell about the file. */
static void sniff(const unsigned char *buf, size_t len, struct sniff *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->fmt = SHEET_FMT_UNKNOWN;
	s->what = "binary data";
	if (!buf || !len) {
		s->fmt = SHEET_FMT_CSV;
		s->what = "an empty file";
		return;
	}
	if (len >= 8 && !memcmp(buf, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)) {
		sniff_ole(buf, len, s);
		return;
	}
	if (len >= 4 && (!memcmp(buf, "PK\x03\x04", 4) || !memcmp(buf, "PK\x05\x06", 4) ||
			!memcmp(buf, "PK\x07\x08", 4))) {
		sniff_zip(buf, len, s);
		return;
	}
	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		if (len >= magics[i].n && !memcmp(buf, magics[i].bytes, magics[i].n)) {
			s->what = magics[i].what;
			return;
		}
	}
	if (len >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4)) {
		s->what = "a WebP image";
		return;
	}
	sniff_text(buf, len, s);
}

enum sheet_format sheet_sniff(const unsigned char *buf, size_t len, const char **what)
{
	struct sniff s;

	sniff(buf, len, &s);
	if (what)
		*what = s.what;
	return s.fmt;
}

size_t sheet_utf8_put(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

int sheet_zip_ratio_exceeded(uint64_t inflated, uint64_t compressed)
{
	return inflated > SHEET_ZIP_RATIO_FLOOR && inflated / SHEET_ZIP_RATIO > compressed;
}

enum sheet_status sheet_read(const unsigned char *buf, size_t len,
			     const struct sheet_limits *lim,
			     struct sheet_grid *grid, char *err, size_t errlen)
{
	struct sniff s;
	char dummy[1];

	memset(grid, 0, sizeof(*grid));
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	sniff(buf, len, &s);
	if (s.damaged) {
		snprintf(err, errlen, "This file looks like %s, but it is damaged and "
			 "cannot be opened (%s). Save it again from your spreadsheet "
			 "program, or save it as CSV (UTF-8), and upload that.",
			 s.what, s.detail);
		return SHEET_UNREADABLE;
	}
	if (s.encrypted) {
		snprintf(err, errlen, "This file is %s: kiln cannot open "
			 "password-protected files. Save a copy without the password "
			 "(or as CSV, UTF-8) and upload that.", s.what);
		return SHEET_UNREADABLE;
	}
	switch (s.fmt) {
	case SHEET_FMT_CSV:
		return sheet_read_csv(buf, len, lim, grid, err, errlen);
	case SHEET_FMT_ODS:
		return sheet_read_ods(buf, len, lim, grid, err, errlen);
	case SHEET_FMT_XLS:
		return sheet_read_xls(buf, len, lim, grid, err, errlen);
	case SHEET_FMT_XLSX:
		return sheet_read_xlsx(buf, len, lim, grid, err, errlen);
	default:
		snprintf(err, errlen, "This file is not a spreadsheet kiln can read: it "
			 "looks like %s. kiln reads .csv, .xls, .xlsx and .ods files; "
			 "CSV (UTF-8) is the safest to save as.", s.what);
		return SHEET_UNSUPPORTED;
	}
}

/* ---- the grid ------------------------------------------------------------ */

/* Is text s (n bytes of UTF-8) empty or white space only (sheet_cell_blank())? */
static int text_blank(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
			i++;
		else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] == 0xA0)
			i += 2;         /* U+00A0 NO-BREAK SPACE */
		else
			return 0;
	}
	return 1;
}

int sheet_cell_blank(const struct sheet_cell *cell)
{
	if (cell->type != SHEET_CELL_TEXT)
		return 0;
	if (cell->text && (unsigned char)cell->text[0] > ' ' && (unsigned char)cell->text[0] != 0xC2)
		return 0;               /* ink at once: no need to measure it */
	return !cell->text || text_blank(cell->text, strlen(cell->text));
}

/* One block of a grid's text pool; blocks are chained, the newest first. */
struct sheet_pool {
	struct sheet_pool *next;
	size_t used, cap;
	char data[];
};

#define POOL_BLOCK ((size_t)64 << 10)

/* A copy of the n bytes at s, NUL-terminated, in the grid's pool; NULL on ENOMEM. */
static char *pool_dup(struct sheet_grid *grid, const char *s, size_t n)
{
	struct sheet_pool *b = grid->pool;
	char *d;

	if (!b || b->cap - b->used < n + 1) {
		size_t cap = n + 1 > POOL_BLOCK ? n + 1 : POOL_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		if (grid->pool && cap > POOL_BLOCK) {   /* a big one: keep filling the current block */
			b->next = grid->pool->next;
			grid->pool->next = b;
		}
		else {
			b->next = grid->pool;
			grid->pool = b;
		}
	}
	d = b->data + b->used;
	memcpy(d, s, n);
	d[n] = '\0';
	b->used += n + 1;
	return d;
}

char *sheet_grid_text(struct sheet_grid *grid, const char *s, size_t n)
{
	return pool_dup(grid, s, n);
}

/* sheet_grid_add(), or sheet_grid_add_pooled() when pooled is set. */
static int grid_add(struct sheet_grid *grid, const struct sheet_cell *cell, int pooled)
{
	struct sheet_cell c = *cell;
	size_t n = 0;

	if (grid->ncells == grid->cap &&
	    sheet_grid_reserve(grid, grid->cap ? (grid->cap > SIZE_MAX / 2 ? SIZE_MAX : grid->cap * 2) : 64))
		return -1;
	c.text = NULL;
	c.format = NULL;
	if (cell->text && pooled)
		c.text = cell->text;
	else if (cell->text) {
		n = strlen(cell->text);
		c.text = pool_dup(grid, cell->text, n);
		if (!c.text)
			return -1;
	}
	if (cell->format) {
		c.format = pool_dup(grid, cell->format, strlen(cell->format));
		if (!c.format)
			return -1;
	}
	if (grid->counted_row != c.row &&
	    (c.type != SHEET_CELL_TEXT || !text_blank(c.text, pooled && c.text ? strlen(c.text) : n))) {
		grid->counted_row = c.row;
		grid->nrows++;
	}
	grid->cells[grid->ncells++] = c;
	return 0;
}

int sheet_grid_add(struct sheet_grid *grid, const struct sheet_cell *cell)
{
	return grid_add(grid, cell, 0);
}

int sheet_grid_add_pooled(struct sheet_grid *grid, const struct sheet_cell *cell)
{
	return grid_add(grid, cell, 1);
}

int sheet_grid_reserve(struct sheet_grid *grid, size_t n)
{
	struct sheet_cell *v;

	if (n <= grid->cap)
		return 0;
	if (n > SIZE_MAX / sizeof(*v))
		return -1;
	v = realloc(grid->cells, n * sizeof(*v));
	if (!v)
		return -1;
	grid->cells = v;
	grid->cap = n;
	return 0;
}

void sheet_grid_free(struct sheet_grid *grid)
{
	if (!grid)
		return;
	while (grid->pool) {
		struct sheet_pool *b = grid->pool;

		grid->pool = b->next;
		free(b);
	}
	free(grid->cells);
	free(grid->sheet_name);
	sheet_msgs_free(&grid->warnings);
	memset(grid, 0, sizeof(*grid));
}

/* Built by hand, not with snprintf(): readers and the validator call it for every cell. */
void sheet_cell_ref(unsigned row, unsigned col, char *buf, size_t len)
{
	char ref[24], *p = ref + sizeof(ref);   /* built from the end: digits, then letters */
	size_t n;

	if (!buf || !len)
		return;
	do {
		*--p = (char)('0' + row % 10);
		row /= 10;
	} while (row);
	while (col > 0) {                       /* at most 7 letters for 32 bits */
		col--;
		*--p = (char)('A' + col % 26);
		col /= 26;
	}
	n = (size_t)(ref + sizeof(ref) - p);
	if (n > len - 1)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
}

/* ---- messages ------------------------------------------------------------ */

/* strdup() that passes NULL through; sets *fail on ENOMEM. */
static char *dup_or_null(const char *s, int *fail)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*fail = 1;
	return d;
}

int sheet_msgs_add(struct sheet_msgs *m, unsigned row, const char *column,
		   const char *cell, const char *value, const char *hint,
		   const char *fmt, ...)
{
	struct sheet_msg msg;
	va_list ap;
	int n, fail = 0;

	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct sheet_msg *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			return -1;
		m->v = v;
		m->cap = cap;
	}
	memset(&msg, 0, sizeof(msg));
	msg.row = row;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	msg.message = malloc((size_t)n + 1);
	if (!msg.message)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg.message, (size_t)n + 1, fmt, ap);
	va_end(ap);
	msg.column = dup_or_null(column, &fail);
	msg.cell = dup_or_null(cell, &fail);
	msg.value = dup_or_null(value, &fail);
	msg.hint = dup_or_null(hint, &fail);
	if (fail) {
		free(msg.message);
		free(msg.column);
		free(msg.cell);
		free(msg.value);
		free(msg.hint);
		return -1;
	}
	m->v[m->n++] = msg;
	return 0;
}

void sheet_msgs_free(struct sheet_msgs *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++) {
		free(m->v[i].column);
		free(m->v[i].cell);
		free(m->v[i].value);
		free(m->v[i].message);
		free(m->v[i].hint);
	}
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- validated rows -------------------------------------------------------- */

void sheet_fields_free(struct sheet_fields *f)
{
	if (!f)
		return;
	free(f->prompt);
	free(f->negative_prompt);
	free(f->color_palette);
	f->prompt = NULL;
	f->negative_prompt = NULL;
	f->color_palette = NULL;
}

int sheet_fields_copy(struct sheet_fields *dst, const struct sheet_fields *src)
{
	int fail = 0;

	*dst = *src;
	dst->prompt = dup_or_null(src->prompt, &fail);
	dst->negative_prompt = dup_or_null(src->negative_prompt, &fail);
	dst->color_palette = dup_or_null(src->color_palette, &fail);
	if (fail) {
		sheet_fields_free(dst);
		return -1;
	}
	return 0;
}

void sheet_batch_free(struct sheet_batch *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->nrows; i++)
		sheet_fields_free(&b->rows[i].f);
	free(b->rows);
	sheet_msgs_free(&b->errors);
	sheet_msgs_free(&b->warnings);
	memset(b, 0, sizeof(*b));
}

/* ---- templates -------------------------------------------------------------- */

/*
 * The example prompts are also listed in validate.c (example_prompts[]),
 * which warns about an upload that still holds them; the unit tests check
 * that both agree.
 */
static const char template_simple[] =
	"prompt,visibility,aspect_ratio\r\n"
	"\"Example row, delete it: a watercolor fox curled up asleep in autumn "
	"leaves, soft morning light\",public,16:9\r\n"
	"\"Example row, delete it: a minimalist logo of a mountain and a rising "
	"sun, flat vector\",private,1:1\r\n";

static const char template_full[] =
	"prompt,visibility,aspect_ratio,magic_prompt,model,seed_number,rendering,"
	"negative_prompt,style,color_palette,num_images\r\n"
	"\"Example row, delete it: a watercolor fox curled up asleep in autumn "
	"leaves, soft morning light\",public,16:9,on,2.0,12345,default,"
	"\"blurry, text, watermark\",general,#CBA324 #F86C14 #C71E71,4\r\n"
	"\"Example row, delete it: a minimalist logo of a mountain and a rising "
	"sun, flat vector\",private,1:1,off,2.0,,turbo,\"photo, gradients\","
	"design,pastel,2\r\n";

const char *sheet_template_csv(const char *name)
{
	if (!name)
		return NULL;
	if (!strcmp(name, "simple.csv") || !strcmp(name, "simple"))
		return template_simple;
	if (!strcmp(name, "full.csv") || !strcmp(name, "full"))
		return template_full;
	return NULL;
}

/* ---- what the workbook readers share ------------------------------------- */

void sheet_utf8_cut(const char *s, char *out, size_t outlen)
{
	size_t n = strlen(s);

	if (n < outlen) {
		memcpy(out, s, n + 1);
		return;
	}
	n = outlen - 4;
	while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(out, s, n);
	memcpy(out + n, "\xE2\x80\xA6", 4);
}

void sheet_list_names(const char *const *names, size_t shown, size_t total, char *buf,
		      size_t len)
{
	char one[SHEET_NAME_SHOWN + 4];
	size_t i, o = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (shown > SHEET_NAMES_LISTED)
		shown = SHEET_NAMES_LISTED;
	for (i = 0; i < shown && o < len; i++) {
		sheet_utf8_cut(names[i], one, sizeof(one));
		snprintf(buf + o, len - o, "%s\"%s\"", i == 0 ? "" :
			 i + 1 == total ? " and " : ", ", one);
		o += strlen(buf + o);
	}
	if (total > shown && o < len)
		snprintf(buf + o, len - o, " and %zu more", total - shown);
}

int sheet_warn_other_sheets(struct sheet_grid *grid, const char *name, size_t nsheets,
			    const char *const *hidden, size_t nhidden)
{
	char shown[SHEET_NAME_SHOWN + 4], names[(SHEET_NAME_SHOWN + 8) * SHEET_NAMES_LISTED + 64];
	char more[96] = "";
	size_t others = nsheets - 1 - nhidden;

	if (nsheets < 2)
		return 0;
	sheet_utf8_cut(name, shown, sizeof(shown));
	if (!nhidden)
		return sheet_msgs_add(&grid->warnings, 0, NULL, NULL, name,
				      "If the batch is on another sheet, move it to the first "
				      "sheet or delete the sheets it does not need.",
				      "The workbook has %zu sheets; kiln read only \"%s\", the "
				      "first visible sheet.", nsheets, shown);
	sheet_list_names(hidden, nhidden, nhidden, names, sizeof(names));
	if (others)
		snprintf(more, sizeof(more), "; the workbook's %zu other sheet%s %s not read",
			 others, others == 1 ? "" : "s", others == 1 ? "was" : "were");
	return sheet_msgs_add(&grid->warnings, 0, NULL, NULL, name,
			      "If the batch is on another sheet, move it to the first visible "
			      "sheet or delete the sheets it does not need.",
			      "kiln read the sheet \"%s\", the first visible one of the "
			      "workbook's %zu sheets; the hidden sheet%s %s before it %s "
			      "skipped%s.", shown, nsheets, nhidden == 1 ? "" : "s", names,
			      nhidden == 1 ? "was" : "were", more);
}

void sheet_read_begin(struct sheet_grid *grid, char **err, size_t *errlen, char *dummy,
		      const struct sheet_limits **lim, struct sheet_limits *deflim)
{
	memset(grid, 0, sizeof(*grid));
	if (!*err || !*errlen) {
		*err = dummy;
		*errlen = 1;
	}
	(*err)[0] = '\0';
	if (!*lim) {
		sheet_limits_default(deflim);
		*lim = deflim;
	}
}
