/*
 * xls.c — the .xls reader: Excel 5.0/95 (BIFF5) and Excel 97-2003 (BIFF8)
 * workbooks to a grid of typed cells.
 *
 * DESIGN
 * An .xls is an OLE2 compound file (a small FAT file system) that holds a
 * "Workbook" (BIFF8) or "Book" (BIFF5) stream of records.  Reading is four
 * bounded passes over bytes already in memory:
 *
 *   1. The compound file: the FAT (its sectors listed from the header's
 *      DIFAT and the DIFAT chain, its entries read in place in the upload,
 *      not copied), the directory, and the workbook stream: read in place in
 *      the upload when its sectors follow one another (as Excel, LibreOffice
 *      and xlwt write it), else copied out of its sector chain (or out of
 *      the mini stream when it is small).  A chain
 *      visits each sector of the file at most once, so a loop in a FAT ends
 *      the walk with "damaged"; a stream is never longer than the file.
 *   2. The workbook globals: BOF, FILEPASS (encrypted: refused, "password-
 *      protected"), CODEPAGE, FORMAT and XF (which cells are dates or times,
 *      and their number-format code), BOUNDSHEET (the sheets, their order,
 *      kind and visibility) and the shared strings (SST and its CONTINUE
 *      records, across which a string may break), decoded once to keep 2
 *      bits a string: empty, blank or with ink, what pass 3 needs.
 *   3. The first visible worksheet is chosen (with a warning naming it and
 *      the sheets skipped when the workbook has more), and its substream is
 *      walked once to find its non-blank rows, in a 65536-bit map (BIFF rows
 *      are 16-bit): that fixes the last row stored, the max_rows-th
 *      non-blank one, as csv.c does.  The walk also notes which shared
 *      strings the LABELSST cells use until the (max_rows + 1)-th non-blank
 *      row: when the rows come in order, as programs write them, that is
 *      every string of the rows stored; when they do not, a walk of the
 *      LABELSST records alone notes them (up to max_cells + 1 cells: pass 4
 *      refuses the file past that).  One more walk of the SST, up to the
 *      last of them, decodes just these (the others are skipped, not
 *      decoded) into a table by index, each once.
 *   4. A second walk keeps the cells up to that row, in an array sized at
 *      once from the first walk (the sheet's cells a row, times the rows
 *      kept); they are sorted into row-major order when they are not in it
 *      already (records need not come in it; a later record for the same
 *      cell wins) and added to the grid.  Non-blank rows past it are only
 *      counted in grid->nrows.  What the reader allocates beyond the rows
 *      kept is then 2 bits a shared string, 16 bytes an SST CONTINUE
 *      record (about 8 KB of strings each) and 4 bytes a FAT sector (one a
 *      128 sectors): from the bench's 999-row to its 9,999-row batch the
 *      heap's peak grows from 1,600,504 to 1,606,146 bytes (valgrind
 *      --tool=massif, the upload left out; it grew by 75,264 when the FAT
 *      was copied and each shared string's place kept in 8 bytes).
 *
 * Cells are reported as stored.  NUMBER, RK and MULRK give the double they
 * hold (a NaN or an infinity, which no spreadsheet program writes, refuses
 * the file as damaged, as xlsx.c and ods.c do); dates and times stay the
 * serial in the workbook's own date system (1900 or 1904, as the oracles
 * have it), the time a fraction of the day,
 * with `format` set to the number-format code of the cell's XF when that
 * code is a date or a time, decided by xlrd's rule (the corpus oracles come
 * from xlrd): built-in codes 14-22, 27-36, 45-47, 50-58 and 71-81 when the
 * file does not spell them out, otherwise the code's own letters (y m d h s
 * outside quotes, escapes and brackets, and not outnumbered by 0 # ?).
 * LABEL, RSTRING and LABELSST give text: BIFF8 text is UTF-16 or its
 * one-byte form; BIFF5 text is decoded with the workbook's code page
 * through iconv(3) (10000 and 32768 are Mac Roman, "MACINTOSH" to glibc;
 * 32769 and 1200 are Windows-1252; a code page iconv does not know is read
 * as Windows-1252 with a warning; a byte the code page does not define
 * becomes U+FFFD).  BOOLERR gives a boolean or an error ("#DIV/0!").
 * FORMULA gives its cached result: a number, a boolean, an error, or the
 * text of the STRING record that follows it; an empty string is blank.
 * Charts embedded in the sheet (BOF ... EOF inside it) are skipped.  Not
 * handled: BIFF2-4 files (refused, saying so), dialog sheets (read as
 * worksheets, as xlrd does), and the locale-dependent built-in date formats
 * (27-36, 50-58, 71-81), whose cells get the code "yyyy-mm-dd".
 *
 * Why not freexl, the library ../design/architecture.md names for .xls?
 * Measured on the corpus with Debian 12's freexl 1.0.6: freexl_open()
 * fails on 7 of the 17 readable .xls files (the three Mac Roman BIFF5
 * files, because it asks iconv for "MacRoman", which glibc does not know;
 * and the files from Apple Numbers, Gnumeric, Quattro Pro and PHPExcel),
 * and says FREEXL_OK with a NULL handle when it does.  On the others it
 * drops formula cells (it has no FORMULA support), reports booleans and
 * error cells alike as the integers 0 and 1, cannot tell hidden sheets or
 * chart sheets from worksheets, has no format codes, opens paths only (no
 * buffer API), allocates rows x columns cells for every sheet up front (up
 * to 256 MiB each) and turns each date into text with a loop that runs once
 * per day of the serial: one date cell holding 2e9 cost 2.3 s.  What kiln
 * needs from BIFF is the small part above, so it is read here, bounded,
 * from the upload's bytes, with no state outside the call (an iconv
 * handle per read), so reads on several threads at once are safe.
 *
 * Limits (struct sheet_limits): in the rows stored, a value beyond column
 * max_cols, more than max_cells cells, a text longer than max_cell_bytes,
 * or more than XLS_TEXT_BUDGET bytes of text in all (shared strings can be
 * referenced many times) refuse the file with SHEET_UNREADABLE and a
 * message naming the cell.  DIMENSIONS records are neither trusted nor
 * needed: only the cell records present cost time, so a sheet that claims
 * 65536 x 256 cells costs what its bytes cost.  Time and memory are linear
 * in the size of the upload.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* strdup() even under -std=c11 */
#endif
#include <errno.h>
#include <iconv.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheet/sheet.h"

#define XLS_TEXT_BUDGET ((size_t)64 * 1024 * 1024)  /* text bytes stored, all cells */
#define BIFF_ROWS 65536u                            /* rows a BIFF5/8 sheet can have */
#define MAX_REGSECT 0xFFFFFFFAu                     /* larger sector ids are markers */
#define FREESECT 0xFFFFFFFFu
#define SKIPPED_NAMED 5                             /* sheets named in the warning */

/* BIFF record types (MS-XLS 2.3) */
enum {
	R_FORMULA = 0x0006, R_EOF = 0x000A, R_FILEPASS = 0x002F, R_CONTINUE = 0x003C,
	R_CODEPAGE = 0x0042, R_BOUNDSHEET = 0x0085, R_MULRK = 0x00BD, R_RSTRING = 0x00D6,
	R_XF = 0x00E0, R_SST = 0x00FC, R_LABELSST = 0x00FD, R_NUMBER = 0x0203,
	R_LABEL = 0x0204, R_BOOLERR = 0x0205, R_STRING = 0x0207, R_ARRAY = 0x0221,
	R_TABLE = 0x0236, R_RK = 0x027E, R_FORMAT = 0x041E, R_SHRFMLA = 0x04BC,
	R_BOF = 0x0809
};

/* ---- small helpers --------------------------------------------------------- */

static unsigned rd16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The IEEE 754 double stored little-endian at p. */
static double rd_double(const unsigned char *p)
{
	uint64_t u = (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/* An RK number (MS-XLS 2.5.217): a 30-bit integer or the top of a double, maybe / 100. */
static double rk_value(uint32_t rk)
{
	double d;

	if (rk & 2) {
		int32_t i = (int32_t)(rk & 0xFFFFFFFCu) / 4;

		d = (double)i;
	}
	else {
		uint64_t u = (uint64_t)(rk & 0xFFFFFFFCu) << 32;

		memcpy(&d, &u, sizeof(d));
	}
	return (rk & 1) ? d / 100 : d;
}

/* A growing UTF-8 string; nomem is sticky, so callers check it once at the end. */
struct sbuf {
	char *p;
	size_t n, cap;
	int nomem;
};

/* Appends n bytes to b (always NUL-terminated when not nomem). */
static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (n == 1 && b->n + 2 <= b->cap) {     /* one character, room for it: most calls */
		b->p[b->n++] = *s;
		b->p[b->n] = '\0';
		return;
	}
	if (b->nomem || !n)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *p;

		while (cap < b->n + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->nomem = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* Appends code point cp as UTF-8; U+0000 is dropped (cell texts are C strings). */
static void sb_cp(struct sbuf *b, uint32_t cp)
{
	char o[4];

	if (cp == 0)
		return;
	if (cp < 0x80) {
		o[0] = (char)cp;
		sb_put(b, o, 1);
	}
	else if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		sb_put(b, o, 2);
	}
	else if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		sb_put(b, o, 3);
	}
	else {
		o[0] = (char)(0xF0 | cp >> 18);
		o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[3] = (char)(0x80 | (cp & 0x3F));
		sb_put(b, o, 4);
	}
}

/* UTF-16 code units to UTF-8, a high surrogate kept until its partner comes. */
struct utf16 {
	struct sbuf *out;
	unsigned hi;
};

/* Adds one UTF-16 code unit; an unpaired surrogate becomes U+FFFD. */
static void u16_put(struct utf16 *u, unsigned unit)
{
	if (u->hi) {
		if (unit >= 0xDC00 && unit <= 0xDFFF) {
			sb_cp(u->out, 0x10000 + ((uint32_t)(u->hi - 0xD800) << 10) + (unit - 0xDC00));
			u->hi = 0;
			return;
		}
		sb_cp(u->out, 0xFFFD);
		u->hi = 0;
	}
	if (unit >= 0xD800 && unit <= 0xDBFF)
		u->hi = unit;
	else if (unit >= 0xDC00 && unit <= 0xDFFF)
		sb_cp(u->out, 0xFFFD);
	else
		sb_cp(u->out, unit);
}

static void u16_end(struct utf16 *u)
{
	if (u->hi)
		sb_cp(u->out, 0xFFFD);
	u->hi = 0;
}

/* ---- the compound file ------------------------------------------------------ */

struct cfb {
	const unsigned char *buf;
	size_t len;
	size_t ssz;              /* sector size: 512 or 4096 */
	size_t msz;              /* mini sector size: 64 */
	uint32_t nsect;          /* sectors (whole or cut short) after the header */
	uint32_t *difat;         /* the FAT's sectors, in order (looked up in place) */
	uint32_t ndifat;         /* entries of difat: enough for nsect sectors */
	unsigned pershift;       /* log2 of the FAT entries a sector holds */
	uint32_t mini_cutoff;
	char why[160];           /* what is damaged, for the message */
};

/*
 * The FAT entry of sector i (the sector after it in its chain), read in
 * place from the idx-th FAT sector, idx = i / (ssz / 4): FREESECT when i
 * is not a sector of the file, when the FAT has no idx-th sector, or when
 * that sector is past the end of the file or cut short before the entry.
 */
static uint32_t fat_next(const struct cfb *f, uint32_t i)
{
	uint32_t idx = i >> f->pershift, s;
	size_t off;

	if (i >= f->nsect || idx >= f->ndifat)
		return FREESECT;
	s = f->difat[idx];
	if (s >= f->nsect)
		return FREESECT;
	off = ((size_t)s + 1) * f->ssz + 4 * (size_t)(i & ((1u << f->pershift) - 1));
	if (off + 4 > f->len)
		return FREESECT;
	return rd32(f->buf + off);
}

/* Notes FAT sector s as the idx-th of the FAT, when the file has sectors it maps. */
static void fat_add(struct cfb *f, uint32_t s, uint32_t idx)
{
	if (idx < f->ndifat)
		f->difat[idx] = s;
}

/*
 * Sets up f for the compound file in buf and lists its FAT's sectors: those
 * the header lists, then those of the DIFAT chain, as many as the sectors
 * of the file need (4 bytes a FAT sector; the FAT's entries are not copied
 * but read in place by fat_next()).  Returns 0, -1 when damaged (f->why
 * says how) or -2 on ENOMEM.
 */
static int cfb_open(struct cfb *f, const unsigned char *buf, size_t len)
{
	unsigned shift, mshift;
	uint32_t per, idx = 0, d, steps, k;

	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	if (len < 512 || memcmp(buf, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8)) {
		snprintf(f->why, sizeof(f->why), "it is not an OLE2 compound file");
		return -1;
	}
	shift = rd16(buf + 30);
	mshift = rd16(buf + 32);
	if ((shift != 9 && shift != 12) || mshift < 6 || mshift >= shift) {
		snprintf(f->why, sizeof(f->why), "its compound-file header is invalid");
		return -1;
	}
	f->ssz = (size_t)1 << shift;
	f->msz = (size_t)1 << mshift;
	f->mini_cutoff = rd32(buf + 56);
	if (len <= f->ssz) {
		snprintf(f->why, sizeof(f->why), "it ends after its header");
		return -1;
	}
	if ((len - f->ssz + f->ssz - 1) / f->ssz > 0x7FFFFFFFu) {
		snprintf(f->why, sizeof(f->why), "it is too large");
		return -1;
	}
	f->nsect = (uint32_t)((len - f->ssz + f->ssz - 1) / f->ssz);
	per = (uint32_t)(f->ssz / 4);
	f->pershift = shift - 2;
	f->ndifat = (f->nsect + per - 1) / per;
	f->difat = malloc((size_t)f->ndifat * sizeof(*f->difat));
	if (!f->difat)
		return -2;
	for (k = 0; k < f->ndifat; k++)
		f->difat[k] = FREESECT;
	for (k = 0; k < 109; k++) {
		uint32_t s = rd32(buf + 76 + 4 * k);

		if (s < MAX_REGSECT)
			fat_add(f, s, idx++);
	}
	d = rd32(buf + 68);
	for (steps = 0; d < f->nsect && steps < f->nsect && (uint64_t)idx * per < f->nsect; steps++) {
		size_t off = ((size_t)d + 1) * f->ssz;

		if (off + f->ssz > len)
			break;
		for (k = 0; k + 1 < per; k++) {
			uint32_t s = rd32(buf + off + 4 * (size_t)k);

			if (s < MAX_REGSECT)
				fat_add(f, s, idx++);
		}
		d = rd32(buf + off + f->ssz - 4);
	}
	return 0;
}

static void cfb_close(struct cfb *f)
{
	free(f->difat);
	f->difat = NULL;
}

/*
 * Copies the stream that starts at sector start, size bytes long (SIZE_MAX:
 * to the end of its chain), out of the file into a new buffer *out of
 * *outlen bytes (fewer than size when the chain ends early).  Returns 0,
 * -1 when the chain leaves the file or loops (f->why says so) or -2 on
 * ENOMEM.
 */
static int cfb_read(struct cfb *f, uint32_t start, size_t size, unsigned char **out,
		    size_t *outlen)
{
	size_t cap = (size_t)f->nsect * f->ssz, n = 0, bcap;
	unsigned char *seen, *b;
	uint32_t s = start;

	if (size < cap)
		cap = size;
	/* a chain read to its end (the directory) is short: the buffer grows with it */
	bcap = cap < ((size_t)64 << 10) || size != SIZE_MAX ? cap : (size_t)64 << 10;
	seen = calloc((size_t)f->nsect / 8 + 1, 1);
	b = malloc(bcap ? bcap : 1);
	if (!seen || !b) {
		free(seen);
		free(b);
		return -2;
	}
	while (n < cap && s < MAX_REGSECT) {
		size_t off, k;

		if (bcap - n < f->ssz && bcap < cap) {
			unsigned char *nb;

			bcap = bcap * 2 < cap ? bcap * 2 : cap;
			nb = realloc(b, bcap);
			if (!nb) {
				free(seen);
				free(b);
				return -2;
			}
			b = nb;
		}
		if (s >= f->nsect || (seen[s / 8] & (1u << (s % 8)))) {
			snprintf(f->why, sizeof(f->why), s >= f->nsect ?
				 "a sector chain points outside the file" :
				 "a sector chain loops back on itself");
			free(seen);
			free(b);
			return -1;
		}
		seen[s / 8] |= (unsigned char)(1u << (s % 8));
		off = ((size_t)s + 1) * f->ssz;
		k = f->ssz;
		if (k > cap - n)
			k = cap - n;
		if (k > f->len - off)
			k = f->len - off;
		memcpy(b + n, f->buf + off, k);
		n += k;
		s = fat_next(f, s);
	}
	free(seen);
	*out = b;
	*outlen = n;
	return 0;
}

/*
 * The stream that starts at sector start, size bytes long, where it lies in
 * the file when its sectors follow one another there (as every writer
 * measured lays out the workbook stream): no copy is needed then.  NULL
 * when the chain jumps, loops, ends early or leaves the file (cfb_read()
 * copies it, or says what is wrong).
 */
static const unsigned char *cfb_in_place(const struct cfb *f, uint32_t start, size_t size)
{
	size_t need = (size + f->ssz - 1) / f->ssz, k;
	uint32_t s = start;

	if (!size || start >= f->nsect || need > f->nsect - start ||
	    ((size_t)start + 1) * f->ssz + size > f->len)
		return NULL;
	for (k = 0; k + 1 < need; k++, s++)
		if (fat_next(f, s) != s + 1)
			return NULL;
	return f->buf + ((size_t)start + 1) * f->ssz;
}

/*
 * Copies a stream of size bytes that lives in the mini stream (root, rlen
 * bytes) from mini sector start, following the mini FAT (mf, nmf entries).
 * Same returns as cfb_read().
 */
static int cfb_read_mini(struct cfb *f, const unsigned char *root, size_t rlen,
			 const unsigned char *mf, size_t nmf, uint32_t start, size_t size,
			 unsigned char **out, size_t *outlen)
{
	size_t n = 0;
	unsigned char *seen, *b;
	uint32_t s = start;

	if (size > rlen)
		size = rlen;
	seen = calloc(nmf / 8 + 1, 1);
	b = malloc(size ? size : 1);
	if (!seen || !b) {
		free(seen);
		free(b);
		return -2;
	}
	while (n < size && s < MAX_REGSECT) {
		size_t off = (size_t)s * f->msz, k;

		if (s >= nmf || off >= rlen || (seen[s / 8] & (1u << (s % 8)))) {
			snprintf(f->why, sizeof(f->why), "the mini-stream chain of the "
				 "workbook is broken");
			free(seen);
			free(b);
			return -1;
		}
		seen[s / 8] |= (unsigned char)(1u << (s % 8));
		k = f->msz;
		if (k > size - n)
			k = size - n;
		if (k > rlen - off)
			k = rlen - off;
		memcpy(b + n, root + off, k);
		n += k;
		s = rd32(mf + 4 * (size_t)s);
	}
	free(seen);
	*out = b;
	*outlen = n;
	return 0;
}

/* Does the directory entry name (UTF-16LE, nbytes with its NUL) equal s, ignoring case? */
static int dir_name_is(const unsigned char *d, unsigned nbytes, const char *s)
{
	size_t n = strlen(s), i;

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
 * Finds the workbook stream ("Workbook", else "Book") of the compound file:
 * *in_place when it lies whole in the file (cfb_in_place()), else copied
 * into *wb (the caller frees it).  *wblen is its length; *book5 is set when
 * it is a "Book" stream.  Returns 0, -1 when damaged or without a workbook
 * (f->why), -2 on ENOMEM.
 */
static int cfb_workbook(struct cfb *f, const unsigned char **in_place, unsigned char **wb,
			size_t *wblen, int *book5)
{
	unsigned char *dir = NULL, *root = NULL, *mf = NULL;
	size_t dlen, rlen = 0, mflen = 0, e;
	uint32_t wstart = 0, rstart = 0;
	uint64_t wsize = 0, rsize = 0;
	int found = 0, haveroot = 0, rc;

	rc = cfb_read(f, rd32(f->buf + 48), SIZE_MAX, &dir, &dlen);
	if (rc)
		return rc;
	for (e = 0; e + 128 <= dlen; e += 128) {
		const unsigned char *d = dir + e;
		unsigned nl = rd16(d + 64);
		uint64_t size = rd32(d + 120);

		if (f->ssz == 4096)
			size |= (uint64_t)rd32(d + 124) << 32;
		if (nl < 2 || nl > 64)
			continue;
		if (d[66] == 5 && !haveroot) {
			haveroot = 1;
			rstart = rd32(d + 116);
			rsize = size;
		}
		else if (d[66] == 2 && (dir_name_is(d, nl, "Workbook") ||
					(dir_name_is(d, nl, "Book") && found != 8))) {
			found = dir_name_is(d, nl, "Book") ? 5 : 8;
			wstart = rd32(d + 116);
			wsize = size;
		}
	}
	free(dir);
	if (!found) {
		snprintf(f->why, sizeof(f->why), "it holds no workbook stream");
		return -1;
	}
	*book5 = found == 5;
	if (wsize > f->len)
		wsize = f->len;
	*in_place = NULL;
	if (wsize >= f->mini_cutoff || !haveroot) {
		*in_place = cfb_in_place(f, wstart, (size_t)wsize);
		if (*in_place) {
			*wblen = (size_t)wsize;
			return 0;
		}
		return cfb_read(f, wstart, (size_t)wsize, wb, wblen);
	}

	/* a small stream lives in the mini stream, the root entry's data */
	rc = cfb_read(f, rstart, rsize > f->len ? f->len : (size_t)rsize, &root, &rlen);
	if (!rc)
		rc = cfb_read(f, rd32(f->buf + 60), SIZE_MAX, &mf, &mflen);
	if (!rc)
		rc = cfb_read_mini(f, root, rlen, mf, mflen / 4, wstart, (size_t)wsize, wb, wblen);
	free(root);
	free(mf);
	return rc;
}

/* ---- the workbook ----------------------------------------------------------- */

struct sheetent {
	uint32_t off;            /* its BOF in the workbook stream */
	unsigned vis;            /* 0 visible, 1 hidden, 2 very hidden */
	unsigned kind;           /* 0 worksheet, 1 macro sheet, 2 chart, 6 VB module */
	char *name;
};

struct fmtent {
	unsigned ifmt;
	char *code;
};

struct span {
	const unsigned char *p;
	size_t n;
};

/* The reader's state for one file. */
struct xls {
	const struct sheet_limits *lim;
	struct sheet_grid *grid;
	char *err;
	size_t errlen;
	const unsigned char *wb; /* the workbook stream: in the upload, or wbcopy */
	unsigned char *wbcopy;   /* its copy, when its sectors are scattered */
	size_t wblen;
	int biff;                /* 5 or 8 */
	unsigned codepage;       /* BIFF5 text */
	iconv_t cd;              /* for codepage; (iconv_t)-1 when none */
	unsigned cd_cp;          /* the code page cd was opened for; 0 when not tried */
	int cp_fallback;         /* the code page was unknown: read as Windows-1252 */
	struct fmtent *fmts;
	size_t nfmts, capfmts;
	unsigned *xf;            /* number-format index of each XF */
	size_t nxf, capxf;
	const char **xfdate;     /* the date/time format code of each XF, or NULL */
	unsigned char *sststate; /* shared strings: enum sst_state, 2 bits each */
	size_t nsst;
	struct span *sstspans;   /* the SST record and its CONTINUE records */
	size_t nsstspans;
	struct kept *kept;       /* the strings the rows kept use, decoded again, each once */
	size_t nkept, capkept;   /* (an open-addressing table by index, capkept a power of 2) */
	uint32_t *want;          /* the strings of the LABELSST cells of the rows kept */
	size_t nwant, capwant;   /* (noted by pass 1 or the walk between, into x->kept then) */
	uint32_t wantmax;        /* the highest index of a string wanted in x->kept */
	struct sheetent *sheets;
	size_t nsheets, capsheets;
	struct span *spans;      /* scratch: a record and its CONTINUE records */
	size_t capspans;
	int nomem;
};

/* What a shared string is, for the walks over the sheet. */
enum sst_state {
	SST_TEXT = 0,            /* text with ink */
	SST_BLANK,               /* white space only */
	SST_EMPTY                /* "": no cell at all */
};

/* The state of shared string i (2 bits a string in x->sststate). */
static enum sst_state sst_state(const unsigned char *v, size_t i)
{
	return (enum sst_state)(v[i / 4] >> (2 * (i % 4)) & 3);
}

/* A shared string decoded again for the rows kept. */
struct kept {
	uint32_t idx;
	int used;                /* 0: an empty slot */
	char *text;              /* NULL: wanted, not decoded yet */
};

/* One BIFF record of the workbook stream. */
struct rec {
	unsigned type;
	const unsigned char *p;  /* its data */
	size_t n;
	size_t next;             /* offset of the record after it */
};

/*
 * The record at offset pos of the workbook stream.  Returns 0, or -1 at
 * the end of the stream or when the record is cut short.
 */
static int rec_at(const struct xls *x, size_t pos, struct rec *r)
{
	if (pos > x->wblen || x->wblen - pos < 4)
		return -1;
	r->type = rd16(x->wb + pos);
	r->n = rd16(x->wb + pos + 2);
	if (r->n > x->wblen - pos - 4)
		return -1;
	r->p = x->wb + pos + 4;
	r->next = pos + 4 + r->n;
	return 0;
}

/*
 * Gathers record r and the CONTINUE records right after it into x->spans.
 * Returns the number of spans, or 0 on ENOMEM (x->nomem set).
 */
static size_t gather(struct xls *x, const struct rec *r)
{
	struct rec c;
	size_t n = 0, pos = r->next;

	for (;;) {
		if (n == x->capspans) {
			size_t cap = x->capspans ? x->capspans * 2 : 16;
			struct span *v = realloc(x->spans, cap * sizeof(*v));

			if (!v) {
				x->nomem = 1;
				return 0;
			}
			x->spans = v;
			x->capspans = cap;
		}
		if (!n) {
			x->spans[0].p = r->p;
			x->spans[0].n = r->n;
		}
		else {
			x->spans[n].p = c.p;
			x->spans[n].n = c.n;
			pos = c.next;
		}
		n++;
		if (rec_at(x, pos, &c) || c.type != R_CONTINUE)
			return n;
	}
}

/* A reading position in a record and its CONTINUE records. */
struct cursor {
	const struct span *s;
	size_t ns, i, pos;
};

/* Moves past used-up spans; returns 0 when a byte is available, -1 at the end. */
static int cur_ready(struct cursor *c)
{
	while (c->i < c->ns && c->pos >= c->s[c->i].n) {
		c->i++;
		c->pos = 0;
	}
	return c->i < c->ns ? 0 : -1;
}

static int cur_u8(struct cursor *c, unsigned *v)
{
	if (cur_ready(c))
		return -1;
	*v = c->s[c->i].p[c->pos++];
	return 0;
}

static int cur_u16(struct cursor *c, unsigned *v)
{
	unsigned lo, hi;

	if (cur_u8(c, &lo) || cur_u8(c, &hi))
		return -1;
	*v = lo | hi << 8;
	return 0;
}

static int cur_u32(struct cursor *c, uint32_t *v)
{
	unsigned lo, hi;

	if (cur_u16(c, &lo) || cur_u16(c, &hi))
		return -1;
	*v = (uint32_t)lo | (uint32_t)hi << 16;
	return 0;
}

/* Skips n bytes; returns 0, or -1 when the data ends first. */
static int cur_skip(struct cursor *c, size_t n)
{
	while (n) {
		size_t k;

		if (cur_ready(c))
			return -1;
		k = c->s[c->i].n - c->pos;
		if (k > n)
			k = n;
		c->pos += k;
		n -= k;
	}
	return 0;
}

/*
 * Reads a BIFF8 unicode string at the cursor (XLUnicodeString, or with
 * short_len its one-byte-length form; rich-text runs and phonetic data
 * skipped), appending it to out as UTF-8.  Where the characters break
 * across records, the next record starts with a fresh option byte (MS-XLS
 * 2.5.293).  Returns 0, or -1 when the data ends first (out keeps what was
 * read).  With out NULL the string is skipped, its characters not decoded.
 */
static int cur_ustring(struct cursor *c, int short_len, struct sbuf *out)
{
	unsigned cch, flags, crun = 0, t;
	uint32_t cbext = 0;
	struct utf16 u = { out, 0 };
	size_t left;

	if (short_len ? cur_u8(c, &cch) : cur_u16(c, &cch))
		return -1;
	if (cur_u8(c, &flags))
		return -1;
	if ((flags & 0x08) && cur_u16(c, &crun))
		return -1;
	if ((flags & 0x04) && cur_u32(c, &cbext))
		return -1;
	left = cch;
	while (left) {
		const unsigned char *p;
		size_t avail, k, j;

		if (c->i < c->ns && c->pos >= c->s[c->i].n) {
			c->i++;
			c->pos = 0;
			if (cur_u8(c, &t)) {
				u16_end(&u);
				return -1;
			}
			flags = (flags & ~1u) | (t & 1u);
			continue;
		}
		if (c->i >= c->ns) {
			u16_end(&u);
			return -1;
		}
		p = c->s[c->i].p + c->pos;
		avail = c->s[c->i].n - c->pos;
		if (flags & 1) {
			k = avail / 2 < left ? avail / 2 : left;
			if (!k) {
				c->pos = c->s[c->i].n;   /* an odd byte at the end of a record */
				continue;
			}
			for (j = 0; out && j < k; j++)
				u16_put(&u, rd16(p + 2 * j));
			c->pos += 2 * k;
		}
		else {
			k = avail < left ? avail : left;
			for (j = 0; out && j < k; j++)
				u16_put(&u, p[j]);
			c->pos += k;
		}
		left -= k;
	}
	u16_end(&u);
	return cur_skip(c, (size_t)crun * 4 + cbext);
}

/* The iconv(3) name of a BIFF code page (MS-XLS 2.4.52), into buf. */
static const char *cp_name(unsigned cp, char *buf, size_t len)
{
	switch (cp) {
	case 367:
		return "ASCII";
	case 0:
	case 1200:               /* "UTF-16" in a BIFF5 file: its bytes are Latin-1 */
	case 32769:              /* Windows-1252 as Excel 2.x-4.x (and Quattro Pro) label it */
		return "CP1252";
	case 10000:
	case 32768:
		return "MACINTOSH";
	case 10007:
		return "MAC-CYRILLIC";
	case 10029:
		return "MAC-CENTRALEUROPE";
	case 10079:
		return "MAC-IS";
	default:
		snprintf(buf, len, "CP%u", cp);
		return buf;
	}
}

/*
 * Decodes n bytes of text in the workbook's code page (BIFF5), appending
 * UTF-8 to out.  A byte the code page does not define becomes U+FFFD.
 */
static void decode_cp(struct xls *x, const unsigned char *s, size_t n, struct sbuf *out)
{
	char name[16], obuf[1024];

	if (x->cd_cp != x->codepage + 1) {
		if (x->cd != (iconv_t)-1)
			iconv_close(x->cd);
		x->cd = iconv_open("UTF-8", cp_name(x->codepage, name, sizeof(name)));
		if (x->cd == (iconv_t)-1) {
			x->cp_fallback = 1;
			x->cd = iconv_open("UTF-8", "CP1252");
		}
		x->cd_cp = x->codepage + 1;
	}
	if (x->cd == (iconv_t)-1) {
		size_t i;

		for (i = 0; i < n; i++)
			sb_cp(out, s[i]);      /* no iconv at all: Latin-1 */
		return;
	}
	iconv(x->cd, NULL, NULL, NULL, NULL);
	while (n) {
		char *ip = (char *)s, *op = obuf;
		size_t il = n, ol = sizeof(obuf), r;
		int e;

		r = iconv(x->cd, &ip, &il, &op, &ol);
		e = errno;
		sb_put(out, obuf, (size_t)(op - obuf));
		if (r == (size_t)-1 && e == E2BIG && il < n) {
			s += n - il;
			n = il;
			continue;
		}
		s += n - il;
		n = il;
		if (r == (size_t)-1 && n) {
			sb_cp(out, 0xFFFD);
			s++;
			n--;
			iconv(x->cd, NULL, NULL, NULL, NULL);
		}
	}
}

/*
 * Reads the text of a LABEL or RSTRING record's string (at p, n bytes;
 * BIFF5: a 16-bit length and code-page bytes; BIFF8: an XLUnicodeString).
 * Also the STRING record's, with its CONTINUE records in spans.
 */
static void read_text(struct xls *x, const struct span *spans, size_t ns, struct sbuf *out)
{
	if (x->biff == 8) {
		struct cursor c = { spans, ns, 0, 0 };

		(void)cur_ustring(&c, 0, out);
		return;
	}
	if (spans[0].n >= 2) {
		size_t cch = rd16(spans[0].p);

		if (cch > spans[0].n - 2)
			cch = spans[0].n - 2;  /* a length the record cannot hold: keep what is there */
		decode_cp(x, spans[0].p + 2, cch, out);
	}
}

/* xlrd's standard format strings (formatting.py), for codes a file does not spell out. */
static const char *builtin_code(unsigned ifmt)
{
	static const char *const codes[] = {
		[0x00] = "General", [0x01] = "0", [0x02] = "0.00", [0x03] = "#,##0",
		[0x04] = "#,##0.00", [0x09] = "0%", [0x0a] = "0.00%", [0x0b] = "0.00E+00",
		[0x0c] = "# ?/?", [0x0d] = "# ?\?/?\?", [0x0e] = "m/d/yy", [0x0f] = "d-mmm-yy",
		[0x10] = "d-mmm", [0x11] = "mmm-yy", [0x12] = "h:mm AM/PM",
		[0x13] = "h:mm:ss AM/PM", [0x14] = "h:mm", [0x15] = "h:mm:ss",
		[0x16] = "m/d/yy h:mm", [0x2d] = "mm:ss", [0x2e] = "[h]:mm:ss",
		[0x2f] = "mm:ss.0", [0x30] = "##0.0E+0", [0x31] = "@",
	};

	return ifmt < sizeof(codes) / sizeof(codes[0]) ? codes[ifmt] : NULL;
}

/* Is built-in number format ifmt a date or time (xlrd's std_format_code_types)? */
static int builtin_is_date(unsigned ifmt)
{
	return (ifmt >= 14 && ifmt <= 22) || (ifmt >= 27 && ifmt <= 36) ||
	       (ifmt >= 45 && ifmt <= 47) || (ifmt >= 50 && ifmt <= 58) ||
	       (ifmt >= 71 && ifmt <= 81);
}

/*
 * Is the format code a date or time?  xlrd's is_date_format_string():
 * drop quoted text, the character after \ _ *, the characters $-+/(): and
 * space, then bracketed parts; "General", "@" and the two scientific
 * formats are not; otherwise count y m d h s against 0 # ?.  Returns 1,
 * 0, or -1 on ENOMEM.
 */
static int code_is_date(const char *fmt)
{
	size_t n = strlen(fmt), k = 0, j = 0, i;
	int state = 0, inb = 0;
	unsigned dates = 0, nums = 0;
	char *s = malloc(n + 1);

	if (!s)
		return -1;
	for (i = 0; i < n; i++) {
		char ch = fmt[i];

		if (state == 1) {
			state = ch == '"' ? 0 : 1;
			continue;
		}
		if (state == 2) {
			state = 0;
			continue;
		}
		if (ch == '"')
			state = 1;
		else if (ch == '\\' || ch == '_' || ch == '*')
			state = 2;
		else if (!strchr("$-+/(): ", ch))
			s[k++] = ch;
	}
	for (i = 0; i < k; i++) {
		/* xlrd: re.sub(r'\[[^]]*\]', '', s): a "[" with no "]" after it stays */
		if (!inb && s[i] == '[' && memchr(s + i, ']', k - i)) {
			inb = 1;
			continue;
		}
		if (inb) {
			inb = s[i] != ']';
			continue;
		}
		s[j++] = s[i];
	}
	s[j] = '\0';
	if (!strcmp(s, "0.00E+00") || !strcmp(s, "##0.0E+0") || !strcmp(s, "General") ||
	    !strcmp(s, "GENERAL") || !strcmp(s, "general") || !strcmp(s, "@")) {
		free(s);
		return 0;
	}
	for (i = 0; i < j; i++) {
		if (s[i] && strchr("ymdhsYMDHS", s[i]))
			dates++;
		else if (s[i] && strchr("0#?", s[i]))
			nums++;
	}
	free(s);
	return dates > nums;
}

/* A FORMAT record's number and place, for map_date_xfs(): sorted by number, then place. */
struct fmtkey {
	unsigned ifmt;
	signed char date;        /* its code shows a date or a time: 1, 0, or -1 not judged yet */
	size_t pos;              /* in x->fmts */
};

static int cmp_fmtkey(const void *a, const void *b)
{
	const struct fmtkey *p = a, *q = b;

	if (p->ifmt != q->ifmt)
		return p->ifmt < q->ifmt ? -1 : 1;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* The last FORMAT record of number ifmt in k (n, sorted by cmp_fmtkey()), or NULL. */
static struct fmtkey *last_fmt(struct fmtkey *k, size_t n, unsigned ifmt)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {               /* the first entry past ifmt */
		size_t mid = lo + (hi - lo) / 2;

		if (k[mid].ifmt <= ifmt)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && k[lo - 1].ifmt == ifmt ? &k[lo - 1] : NULL;
}

/*
 * Fills x->xfdate: the date/time format code of each XF, or NULL.  The
 * FORMAT records are sorted by number (16-bit: the last record of a number
 * wins) and each code is judged once, so a file of many XF and FORMAT
 * records costs n log n time, and memory in proportion to its FORMAT
 * records (not a table of every 16-bit number).  Returns 0 or -1 on ENOMEM.
 */
static int map_date_xfs(struct xls *x)
{
	struct fmtkey *k;
	size_t i;
	int rc = 0;

	if (!x->nxf)
		return 0;
	x->xfdate = calloc(x->nxf, sizeof(*x->xfdate));
	k = malloc((x->nfmts ? x->nfmts : 1) * sizeof(*k));
	if (!x->xfdate || !k) {
		free(k);
		return -1;
	}
	for (i = 0; i < x->nfmts; i++) {
		k[i].ifmt = x->fmts[i].ifmt & 0xFFFF;
		k[i].date = -1;
		k[i].pos = i;
	}
	qsort(k, x->nfmts, sizeof(*k), cmp_fmtkey);
	for (i = 0; i < x->nxf && !rc; i++) {
		unsigned ifmt = x->xf[i] & 0xFFFF;
		struct fmtkey *f = last_fmt(k, x->nfmts, ifmt);

		if (f) {
			if (f->date < 0) {
				int d = code_is_date(x->fmts[f->pos].code);

				if (d < 0)
					rc = -1;
				f->date = (signed char)(d > 0);
			}
			if (f->date > 0)
				x->xfdate[i] = x->fmts[f->pos].code;
		}
		else if (builtin_is_date(ifmt)) {
			x->xfdate[i] = builtin_code(ifmt);
			if (!x->xfdate[i])
				x->xfdate[i] = "yyyy-mm-dd";  /* a locale's date (CJK, Thai) */
		}
	}
	free(k);
	return rc;
}

/* Writes the standard "damaged" message and returns SHEET_UNREADABLE. */
static enum sheet_status damaged(struct xls *x, const char *why)
{
	snprintf(x->err, x->errlen, "This .xls file is damaged and cannot be read (%s). "
		 "Open it in your spreadsheet program, save it again (or as CSV, UTF-8) "
		 "and upload that.", why);
	return SHEET_UNREADABLE;
}

/* Appends an entry to an array of elements of size sz; returns it, or NULL on ENOMEM. */
static void *grow(void **v, size_t *n, size_t *cap, size_t sz)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		void *p = realloc(*v, c * sz);

		if (!p)
			return NULL;
		*v = p;
		*cap = c;
	}
	return (char *)*v + (*n)++ * sz;
}

/*
 * Reads the shared-string table from the SST record and its CONTINUE
 * records (spans).  Never allocates more entries than the data could hold
 * (three bytes a string at least), whatever count the record claims.
 */
static enum sheet_status read_sst(struct xls *x, const struct span *spans, size_t ns)
{
	struct cursor c = { spans, ns, 0, 8 };
	struct sbuf b = { NULL, 0, 0, 0 };
	size_t total = 0, i, cap;
	uint32_t count;

	if (x->sststate || spans[0].n < 8)
		return SHEET_OK;
	for (i = 0; i < ns; i++)
		total += spans[i].n;
	count = rd32(spans[0].p + 4);
	cap = total / 3 + 1;
	if (count < cap)
		cap = count;
	x->sststate = calloc(cap / 4 + 1, 1);
	x->sstspans = malloc(ns * sizeof(*spans));
	if (!x->sststate || !x->sstspans)
		return SHEET_NOMEM;
	memcpy(x->sstspans, spans, ns * sizeof(*spans));
	x->nsstspans = ns;
	c.s = x->sstspans;
	for (i = 0; i < cap; i++) {
		struct sheet_cell cell;
		enum sst_state state;
		int rc;

		b.n = 0;                /* one buffer for every string: each is looked at, then dropped */
		rc = cur_ustring(&c, 0, &b);
		if (b.nomem) {
			free(b.p);
			return SHEET_NOMEM;
		}
		if (!b.n && rc)
			break;
		memset(&cell, 0, sizeof(cell));
		cell.type = SHEET_CELL_TEXT;
		cell.text = b.p;
		state = !b.n ? SST_EMPTY : sheet_cell_blank(&cell) ? SST_BLANK : SST_TEXT;
		x->sststate[i / 4] |= (unsigned char)(state << (2 * (i % 4)));
		x->nsst = i + 1;
		if (rc)
			break;
	}
	free(b.p);
	return SHEET_OK;
}

/* The slot of string idx in the table of kept strings (empty if not there). */
static struct kept *kept_slot(struct kept *t, size_t cap, uint32_t idx)
{
	size_t h = (idx * 2654435761u) & (cap - 1);

	while (t[h].used && t[h].idx != idx)
		h = (h + 1) & (cap - 1);
	return &t[h];
}

/*
 * Adds shared string idx to x->kept, with its text (taken over), or with
 * NULL to note it as wanted (sst_decode() decodes it); a string already
 * there keeps its entry.  Returns 0, or -1 on ENOMEM (text freed).
 */
static int kept_put(struct xls *x, uint32_t idx, char *text)
{
	struct kept *k;
	size_t j;

	if (2 * (x->nkept + 1) > x->capkept) {          /* at most half full */
		size_t cap = x->capkept ? x->capkept * 2 : 1024;
		struct kept *t = calloc(cap, sizeof(*t));

		if (!t) {
			free(text);
			return -1;
		}
		for (j = 0; j < x->capkept; j++)
			if (x->kept[j].used)
				*kept_slot(t, cap, x->kept[j].idx) = x->kept[j];
		free(x->kept);
		x->kept = t;
		x->capkept = cap;
	}
	k = kept_slot(x->kept, x->capkept, idx);
	if (k->used && (k->text || !text)) {
		free(text);
		return 0;
	}
	if (!k->used)
		x->nkept++;
	k->idx = idx;
	k->used = 1;
	k->text = text;
	if (idx > x->wantmax)
		x->wantmax = idx;
	return 0;
}

/*
 * Decodes again the shared strings noted as wanted in x->kept, up to index
 * upto: one walk of the SST from its start, as read_sst() made it; the
 * strings not wanted are skipped, not decoded.  Returns SHEET_OK or
 * SHEET_NOMEM.
 */
static enum sheet_status sst_decode(struct xls *x, uint32_t upto)
{
	struct cursor c = { x->sstspans, x->nsstspans, 0, 8 };
	size_t i;

	for (i = 0; i <= upto && i < x->nsst; i++) {
		struct kept *k = kept_slot(x->kept, x->capkept, (uint32_t)i);
		struct sbuf b = { NULL, 0, 0, 0 };

		if (!k->used || k->text) {
			cur_ustring(&c, 0, NULL);
			continue;
		}
		cur_ustring(&c, 0, &b);
		if (b.nomem || !b.p) {
			free(b.p);
			return SHEET_NOMEM;
		}
		k->text = b.p;
	}
	return SHEET_OK;
}

/*
 * Shared string i for a kept cell: from x->kept, which the walk before the
 * second one filled with the strings of the rows kept (noted and decoded
 * now, with a walk of its own, if it is not there); NULL on ENOMEM.
 */
static const char *sst_text(struct xls *x, size_t i)
{
	struct kept *k;

	if (x->capkept) {
		k = kept_slot(x->kept, x->capkept, (uint32_t)i);
		if (k->text)
			return k->text;
	}
	if (kept_put(x, (uint32_t)i, NULL) || sst_decode(x, (uint32_t)i) != SHEET_OK)
		return NULL;
	return kept_slot(x->kept, x->capkept, (uint32_t)i)->text;
}

/*
 * Reads a sheet or format name: BIFF8 ShortXLUnicodeString or
 * XLUnicodeString (short_len), BIFF5 a length byte and code-page bytes.
 * Returns a new string ("" when the record is too short) or NULL on ENOMEM.
 */
static char *read_name(struct xls *x, const unsigned char *p, size_t n, int short_len)
{
	struct sbuf b = { NULL, 0, 0, 0 };

	if (x->biff == 8) {
		struct span s = { p, n };
		struct cursor c = { &s, 1, 0, 0 };

		(void)cur_ustring(&c, short_len, &b);
	}
	else if (n >= 1) {
		size_t cch = p[0];

		if (cch > n - 1)
			cch = n - 1;
		decode_cp(x, p + 1, cch, &b);
	}
	if (b.nomem) {
		free(b.p);
		return NULL;
	}
	return b.p ? b.p : strdup("");
}

/* Step 2 (see DESIGN): the workbook globals, from the first BOF to its EOF. */
static enum sheet_status read_globals(struct xls *x, int book5)
{
	struct rec r;
	size_t pos;

	if (rec_at(x, 0, &r) || (r.type & 0xFF) != 0x09)
		return damaged(x, "its workbook stream does not start with a BOF record");
	if (r.type != R_BOF) {
		snprintf(x->err, x->errlen, "This .xls file is an Excel 4.0 (or older) "
			 "worksheet; kiln reads .xls files from Excel 5.0 on. Save it as "
			 ".xlsx (or as CSV, UTF-8) and upload that.");
		return SHEET_UNREADABLE;
	}
	x->biff = r.n >= 2 && rd16(r.p) == 0x0600 ? 8 :
		  r.n >= 2 && rd16(r.p) == 0x0500 ? 5 : book5 ? 5 : 8;
	x->codepage = x->biff == 8 ? 1200 : 1252;
	for (pos = r.next; !rec_at(x, pos, &r); pos = r.next) {
		switch (r.type) {
		case R_EOF:
		case R_BOF:
			return SHEET_OK;
		case R_FILEPASS:
			snprintf(x->err, x->errlen, "This .xls file is password-protected "
				 "(encrypted): kiln cannot open password-protected files. Save "
				 "a copy without the password (or as CSV, UTF-8) and upload "
				 "that.");
			return SHEET_UNREADABLE;
		case R_CODEPAGE:
			if (r.n >= 2)
				x->codepage = rd16(r.p);
			break;
		case R_FORMAT:
			if (r.n >= 3) {
				struct fmtent *f = grow((void **)&x->fmts, &x->nfmts, &x->capfmts,
							sizeof(*f));

				if (!f)
					return SHEET_NOMEM;
				f->ifmt = rd16(r.p);
				f->code = read_name(x, r.p + 2, r.n - 2, 0);
				if (!f->code) {
					x->nfmts--;
					return SHEET_NOMEM;
				}
			}
			break;
		case R_XF:
			if (r.n >= 4) {
				unsigned *f = grow((void **)&x->xf, &x->nxf, &x->capxf, sizeof(*f));

				if (!f)
					return SHEET_NOMEM;
				*f = rd16(r.p + 2);
			}
			break;
		case R_BOUNDSHEET:
			if (r.n >= 7) {
				struct sheetent *s = grow((void **)&x->sheets, &x->nsheets,
							  &x->capsheets, sizeof(*s));

				if (!s)
					return SHEET_NOMEM;
				s->off = rd32(r.p);
				s->vis = r.p[4] & 3;
				s->kind = r.p[5];
				s->name = read_name(x, r.p + 6, r.n - 6, 1);
				if (!s->name) {
					x->nsheets--;
					return SHEET_NOMEM;
				}
			}
			break;
		case R_SST: {
			size_t ns = gather(x, &r);
			enum sheet_status st;

			if (!ns)
				return SHEET_NOMEM;
			st = read_sst(x, x->spans, ns);
			if (st != SHEET_OK)
				return st;
			break;
		}
		default:
			break;
		}
	}
	return SHEET_OK;           /* a stream cut short: read what is there */
}

/* ---- the worksheet ----------------------------------------------------------- */

/* A cell found by a walk, before it goes into the grid. */
struct xcell {
	unsigned row, col;       /* 1-based */
	size_t seq;              /* record order, for a stable sort */
	enum sheet_cell_type type;
	double num;
	const char *text;        /* TEXT and ERROR: owned, or borrowed from the SST */
	char *owned;
	const char *fmt;         /* date/time format code, borrowed */
};

/* A walk over the chosen sheet: pass 1 maps its non-blank rows, pass 2 keeps cells. */
struct walk {
	struct xls *x;
	int store;               /* pass 2 */
	int collect;             /* between the passes: the shared strings pass 2 needs */
	unsigned marked;         /* pass 1: the non-blank rows found so far */
	unsigned lastrow;        /* pass 1: the row of the last cell (0-based) */
	int unordered;           /* pass 1: a cell came in a row above the one before */
	int spec_full;           /* pass 1: it noted too many strings to trust the note */
	unsigned cutoff;         /* pass 2: rows up to this one (1-based) are kept */
	unsigned char *rows;     /* pass 1: BIFF_ROWS bits, the non-blank rows */
	struct xcell *v;
	size_t n, cap;
	size_t nall;             /* pass 1: the cells of every row, to size v for pass 2 */
	size_t textbytes;
	int pending;             /* a FORMULA whose text is in the STRING record next */
	unsigned prow, pcol, pxf;
};

/* The error text of a BOOLERR or FORMULA error code (MS-XLS 2.5.10). */
static const char *error_text(unsigned code)
{
	switch (code) {
	case 0x00:
		return "#NULL!";
	case 0x07:
		return "#DIV/0!";
	case 0x0F:
		return "#VALUE!";
	case 0x17:
		return "#REF!";
	case 0x1D:
		return "#NAME?";
	case 0x24:
		return "#NUM!";
	case 0x2A:
		return "#N/A";
	case 0x2B:
		return "#GETTING_DATA";
	default:
		return "#ERROR!";
	}
}

/* The date/time format code of XF xf, or NULL. */
static const char *date_fmt(const struct xls *x, unsigned xf)
{
	return xf < x->nxf && x->xfdate ? x->xfdate[xf] : NULL;
}

/* Frees what the walk kept. */
static void walk_free(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->v[i].owned);
	free(w->v);
	w->v = NULL;
	w->n = w->cap = 0;
}

/* Notes shared string i as one a kept cell uses; -1 on ENOMEM. */
static int want_add(struct xls *x, uint32_t i)
{
	uint32_t *v = grow((void **)&x->want, &x->nwant, &x->capwant, sizeof(*v));

	if (!v)
		return -1;
	*v = i;
	return 0;
}

/* Pass 1: notes that a cell of row row0 came, for the order of the rows. */
static void note_row(struct walk *w, unsigned row0)
{
	if (row0 < w->lastrow)
		w->unordered = 1;
	w->lastrow = row0;
}

/*
 * Takes one cell (row and col 0-based as in the record; c->owned is the
 * walk's to free): pass 1 marks its row when it is not blank; pass 2 keeps
 * it when its row is stored, after checking the limits.
 */
static enum sheet_status put_cell(struct walk *w, unsigned row0, unsigned col0, struct xcell *c)
{
	const struct sheet_limits *lim = w->x->lim;
	struct sheet_cell view;
	struct xcell *d;
	char ref[16];
	size_t tl = 0;

	c->row = row0 + 1;
	c->col = col0 + 1;
	if (c->type == SHEET_CELL_TEXT && (!c->text || !c->text[0])) {
		free(c->owned);
		return SHEET_OK;           /* an empty text is no cell */
	}
	memset(&view, 0, sizeof(view));
	view.type = c->type;
	view.text = (char *)c->text;
	if (!w->store) {
		note_row(w, row0);
		if (!sheet_cell_blank(&view) && !(w->rows[row0 / 8] & (1u << (row0 % 8)))) {
			w->rows[row0 / 8] |= (unsigned char)(1u << (row0 % 8));
			w->marked++;
		}
		w->nall++;
		free(c->owned);
		return SHEET_OK;
	}
	if (c->row > w->cutoff) {
		free(c->owned);
		return SHEET_OK;
	}
	sheet_cell_ref(c->row, c->col, ref, sizeof(ref));
	if (c->text)
		tl = strlen(c->text);
	if (c->col > lim->max_cols) {
		free(c->owned);
		snprintf(w->x->err, w->x->errlen, "Cell %s holds a value in column %u; kiln "
			 "reads at most %u columns. Remove what lies right of the batch's "
			 "columns.", ref, c->col, lim->max_cols);
		return SHEET_UNREADABLE;
	}
	if (tl > lim->max_cell_bytes) {
		free(c->owned);
		snprintf(w->x->err, w->x->errlen, "Cell %s holds %zu bytes of text; kiln "
			 "accepts at most %zu in one cell.", ref, tl, lim->max_cell_bytes);
		return SHEET_UNREADABLE;
	}
	if (w->n >= lim->max_cells) {
		free(c->owned);
		snprintf(w->x->err, w->x->errlen, "The sheet holds more than %zu non-blank "
			 "cells (the limit is reached at %s); kiln reads at most that many.",
			 lim->max_cells, ref);
		return SHEET_UNREADABLE;
	}
	if (tl > XLS_TEXT_BUDGET - w->textbytes) {
		free(c->owned);
		snprintf(w->x->err, w->x->errlen, "The sheet holds more than %zu MiB of "
			 "text in the rows kiln reads (the limit is reached at %s).",
			 XLS_TEXT_BUDGET >> 20, ref);
		return SHEET_UNREADABLE;
	}
	w->textbytes += tl;
	d = grow((void **)&w->v, &w->n, &w->cap, sizeof(*d));
	if (!d) {
		free(c->owned);
		return SHEET_NOMEM;
	}
	c->seq = w->n;
	*d = *c;
	return SHEET_OK;
}

/* Puts a number cell (dates and times too: fmt from its XF). */
static enum sheet_status put_number(struct walk *w, unsigned row0, unsigned col0, unsigned xf,
				    double d)
{
	struct xcell c;

	if (!isfinite(d)) {                /* Excel writes #NUM! instead; so does no other program */
		char ref[16], why[80];

		sheet_cell_ref(row0 + 1u, col0 + 1u, ref, sizeof(ref));
		snprintf(why, sizeof(why), "cell %s holds a number that is not finite", ref);
		return damaged(w->x, why);
	}
	memset(&c, 0, sizeof(c));
	c.type = SHEET_CELL_NUMBER;
	c.num = d;
	c.fmt = date_fmt(w->x, xf);
	return put_cell(w, row0, col0, &c);
}

/* Puts a boolean (err 0) or an error cell (err 1) with value v. */
static enum sheet_status put_boolerr(struct walk *w, unsigned row0, unsigned col0, unsigned v,
				     int err)
{
	struct xcell c;

	memset(&c, 0, sizeof(c));
	if (err) {
		c.type = SHEET_CELL_ERROR;
		c.text = error_text(v);
	}
	else {
		c.type = SHEET_CELL_BOOL;
		c.num = v ? 1 : 0;
	}
	return put_cell(w, row0, col0, &c);
}

/* Puts a text cell from a decoded buffer (taking it over). */
static enum sheet_status put_text(struct walk *w, unsigned row0, unsigned col0, struct sbuf *b)
{
	struct xcell c;

	if (b->nomem) {
		free(b->p);
		return SHEET_NOMEM;
	}
	memset(&c, 0, sizeof(c));
	c.type = SHEET_CELL_TEXT;
	c.text = c.owned = b->p;
	return put_cell(w, row0, col0, &c);
}

/* One cell record of the sheet at depth 1 (r is not a CONTINUE). */
static enum sheet_status cell_record(struct walk *w, const struct rec *r)
{
	struct xls *x = w->x;
	const unsigned char *p = r->p;
	struct sbuf b = { NULL, 0, 0, 0 };
	enum sheet_status st = SHEET_OK;
	size_t k, ns;

	if (w->collect && r->type != R_LABELSST)
		return SHEET_OK;
	switch (r->type) {
	case R_NUMBER:
		if (r->n >= 14)
			st = put_number(w, rd16(p), rd16(p + 2), rd16(p + 4), rd_double(p + 6));
		break;
	case R_RK:
		if (r->n >= 10)
			st = put_number(w, rd16(p), rd16(p + 2), rd16(p + 4), rk_value(rd32(p + 6)));
		break;
	case R_MULRK:
		for (k = 0; r->n >= 6 && k < (r->n - 6) / 6 && st == SHEET_OK; k++)
			st = put_number(w, rd16(p), rd16(p + 2) + (unsigned)k, rd16(p + 4 + 6 * k),
					rk_value(rd32(p + 6 + 6 * k)));
		break;
	case R_LABEL:
	case R_RSTRING:
		if (r->n >= 8) {
			struct span s = { p + 6, r->n - 6 };

			read_text(x, &s, 1, &b);
			st = put_text(w, rd16(p), rd16(p + 2), &b);
		}
		break;
	case R_LABELSST:
		if (r->n >= 10) {
			uint32_t i = rd32(p + 6);
			struct xcell c;

			if (i >= x->nsst) {
				char ref[16], why[96];

				sheet_cell_ref(rd16(p) + 1u, rd16(p + 2) + 1u, ref, sizeof(ref));
				snprintf(why, sizeof(why), "cell %s refers to shared string %lu, "
					 "which the file does not hold", ref, (unsigned long)i);
				return damaged(x, why);
			}
			if (sst_state(x->sststate, i) == SST_EMPTY)
				break;             /* no cell */
			if (w->collect) {
				/* one more than pass 2 can keep: put_cell() refuses the next */
				if (rd16(p) + 1u <= w->cutoff && x->nwant <= x->lim->max_cells) {
					if (want_add(x, i))
						return SHEET_NOMEM;
				}
				break;
			}
			if (!w->store)
				note_row(w, rd16(p));
			if (!w->store && w->marked <= x->lim->max_rows) {
				/*
				 * pass 1 notes the strings of the cells that come before the
				 * (max_rows + 1)-th non-blank row: when the rows come in order
				 * (as programs write them; note_row() checks), they include
				 * those of the rows kept, and no walk between the passes is
				 * needed
				 */
				if (x->nwant > x->lim->max_cells) {
					w->spec_full = 1;
				}
				else if (want_add(x, i)) {
					return SHEET_NOMEM;
				}
			}
			if (sst_state(x->sststate, i) == SST_BLANK && !w->store)
				break;             /* a blank row stays blank */
			if (!w->store) {
				memset(&c, 0, sizeof(c));
				c.type = SHEET_CELL_TEXT;
				c.text = "x";      /* a stand-in with ink: the row is not blank */
				st = put_cell(w, rd16(p), rd16(p + 2), &c);
				break;
			}
			if (rd16(p) + 1u > w->cutoff)
				break;             /* past the rows kept: put_cell() would drop it */
			memset(&c, 0, sizeof(c));
			c.type = SHEET_CELL_TEXT;
			c.text = sst_text(x, i);
			if (!c.text)
				return SHEET_NOMEM;
			st = put_cell(w, rd16(p), rd16(p + 2), &c);
		}
		break;
	case R_BOOLERR:
		if (r->n >= 8)
			st = put_boolerr(w, rd16(p), rd16(p + 2), p[6], p[7] != 0);
		break;
	case R_FORMULA:
		if (r->n < 14)
			break;
		if (rd16(p + 12) != 0xFFFF) {
			st = put_number(w, rd16(p), rd16(p + 2), rd16(p + 4), rd_double(p + 6));
			break;
		}
		switch (p[6]) {
		case 0:                    /* text: in the STRING record that follows */
			w->pending = 1;
			w->prow = rd16(p);
			w->pcol = rd16(p + 2);
			w->pxf = rd16(p + 4);
			break;
		case 1:
		case 2:
			st = put_boolerr(w, rd16(p), rd16(p + 2), p[8], p[6] == 2);
			break;
		default:                   /* 3: an empty string, a blank cell */
			break;
		}
		break;
	case R_STRING:
		if (!w->pending)
			break;
		w->pending = 0;
		ns = gather(x, r);
		if (!ns)
			return SHEET_NOMEM;
		read_text(x, x->spans, ns, &b);
		st = put_text(w, w->prow, w->pcol, &b);
		break;
	default:
		break;
	}
	return st;
}

/*
 * Walks the substream of the sheet whose BOF is at off: the records at
 * depth 1 (embedded chart substreams skipped) up to its EOF.
 */
static enum sheet_status walk_sheet(struct walk *w, size_t off)
{
	struct xls *x = w->x;
	struct rec r;
	size_t pos;
	unsigned depth = 1;

	if (rec_at(x, off, &r) || r.type != R_BOF)
		return damaged(x, "a sheet's position in the workbook does not hold a "
			       "BOF record");
	w->pending = 0;
	for (pos = r.next; !rec_at(x, pos, &r); pos = r.next) {
		enum sheet_status st;

		if (r.type == R_BOF) {
			depth++;
			continue;
		}
		if (r.type == R_EOF) {
			if (--depth == 0)
				break;
			continue;
		}
		if (depth != 1 || r.type == R_CONTINUE)
			continue;
		if (w->pending && r.type != R_STRING && r.type != R_SHRFMLA &&
		    r.type != R_ARRAY && r.type != R_TABLE)
			w->pending = 0;    /* the STRING record is missing: a blank cell */
		st = cell_record(w, &r);
		if (st != SHEET_OK)
			return st;
	}
	return SHEET_OK;
}

/*
 * Between the two passes: a walk over the sheet's LABELSST records notes
 * the shared strings of the rows kept in x->kept (no more than pass 2 can
 * store, plus one), and one walk of the SST decodes them, so that what
 * stays of the SST beyond them is 2 bits a string.  Returns SHEET_OK, or
 * what the walks returned.
 */
static enum sheet_status collect_sst(struct walk *w, size_t chosen)
{
	struct xls *x = w->x;
	enum sheet_status st;
	size_t i;

	if (w->unordered || w->spec_full) {
		x->nwant = 0;           /* pass 1's note may miss strings: walk for them */
		w->collect = 1;
		st = walk_sheet(w, x->sheets[chosen].off);
		w->collect = 0;
	}
	else
		st = SHEET_OK;
	for (i = 0; st == SHEET_OK && i < x->nwant; i++)
		if (kept_put(x, x->want[i], NULL))
			st = SHEET_NOMEM;
	free(x->want);
	x->want = NULL;
	x->nwant = x->capwant = 0;
	if (st == SHEET_OK && x->nkept)
		st = sst_decode(x, x->wantmax);
	return st;
}

/* Orders kept cells by row, column and record order. */
static int xcell_cmp(const void *a, const void *b)
{
	const struct xcell *p = a, *q = b;

	if (p->row != q->row)
		return p->row < q->row ? -1 : 1;
	if (p->col != q->col)
		return p->col < q->col ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/*
 * Chooses the sheet to read: the first visible worksheet, else (a workbook
 * whose worksheets are all hidden) the first worksheet.  Returns its index
 * or -1 when the workbook has no worksheet.
 */
static long choose_sheet(const struct xls *x)
{
	size_t i;

	for (i = 0; i < x->nsheets; i++)
		if (x->sheets[i].kind == 0 && x->sheets[i].vis == 0)
			return (long)i;
	for (i = 0; i < x->nsheets; i++)
		if (x->sheets[i].kind == 0)
			return (long)i;
	return -1;
}

/* Adds the warning that names the sheet read and the sheets skipped. */
static int warn_sheets(struct xls *x, size_t chosen)
{
	struct sbuf b = { NULL, 0, 0, 0 };
	size_t i, named = 0, others = x->nsheets - 1;
	const struct sheetent *c = &x->sheets[chosen];
	int rc;

	for (i = 0; i < x->nsheets; i++) {
		const struct sheetent *s = &x->sheets[i];
		const char *what = s->kind == 2 ? "chart" : s->kind == 1 ? "macro sheet" :
				   s->kind == 6 ? "Visual Basic module" : NULL;

		if (i == chosen)
			continue;
		if (named == SKIPPED_NAMED) {
			char more[64];

			snprintf(more, sizeof(more), ", and %zu more", others - named);
			sb_put(&b, more, strlen(more));
			break;
		}
		if (named)
			sb_put(&b, ", ", 2);
		sb_put(&b, "\"", 1);
		sb_put(&b, s->name, strlen(s->name));
		sb_put(&b, "\"", 1);
		if (s->vis || what) {
			sb_put(&b, " (", 2);
			if (what)
				sb_put(&b, what, strlen(what));
			if (what && s->vis)
				sb_put(&b, ", ", 2);
			if (s->vis)
				sb_put(&b, s->vis == 1 ? "hidden" : "very hidden",
				       strlen(s->vis == 1 ? "hidden" : "very hidden"));
			sb_put(&b, ")", 1);
		}
		named++;
	}
	if (b.nomem) {
		free(b.p);
		return -1;
	}
	rc = sheet_msgs_add(&x->grid->warnings, 0, NULL, NULL, c->name,
			    "Put the batch on the first sheet, or remove the sheets it does "
			    "not need.",
			    "The workbook has %zu sheets; kiln read only \"%s\", the first %s"
			    "worksheet, and skipped %s.", x->nsheets, c->name,
			    c->vis ? "(hidden) " : "visible ", b.p ? b.p : "the others");
	free(b.p);
	return rc;
}

/* Steps 3 and 4 (see DESIGN): the chosen sheet into the grid. */
static enum sheet_status read_sheet(struct xls *x, size_t chosen)
{
	struct walk w;
	enum sheet_status st;
	unsigned total = 0, stored = 0, r;
	size_t i;

	memset(&w, 0, sizeof(w));
	w.x = x;
	w.rows = calloc(BIFF_ROWS / 8, 1);
	if (!w.rows)
		return SHEET_NOMEM;
	st = walk_sheet(&w, x->sheets[chosen].off);
	if (st == SHEET_OK) {
		for (r = 0; r < BIFF_ROWS; r++) {
			if (!(w.rows[r / 8] & (1u << (r % 8))))
				continue;
			total++;
			if (total <= x->lim->max_rows) {
				stored = total;
				w.cutoff = r + 1;
			}
		}
		/*
		 * room for the cells of the rows kept, at the sheet's cells a row, at
		 * once: the array is not copied as it grows, and no larger than what
		 * the kept rows hold (a row more each for slack; grow() goes on if
		 * the rows kept are fuller than the rest)
		 */
		if (total) {
			size_t est = (size_t)((double)w.nall / total * stored) + stored;

			w.cap = est < x->lim->max_cells ? est : x->lim->max_cells;
			w.v = w.cap ? malloc(w.cap * sizeof(*w.v)) : NULL;
			if (!w.v)
				w.cap = 0;
		}
		if (x->nsst && stored)
			st = collect_sst(&w, chosen);
	}
	if (st == SHEET_OK) {
		w.store = 1;
		st = walk_sheet(&w, x->sheets[chosen].off);
	}
	free(w.rows);
	for (i = 1; i < w.n && xcell_cmp(&w.v[i - 1], &w.v[i]) < 0; i++)
		;                       /* already in order, as programs write them: no sort */
	if (st == SHEET_OK && w.n) {
		if (i < w.n)
			qsort(w.v, w.n, sizeof(*w.v), xcell_cmp);
		sheet_grid_reserve(x->grid, x->grid->ncells + w.n);    /* a hint: no copies as it grows */
	}
	for (i = 0; st == SHEET_OK && i < w.n; i++) {
		struct sheet_cell cell;

		if (i + 1 < w.n && w.v[i + 1].row == w.v[i].row && w.v[i + 1].col == w.v[i].col)
			continue;          /* the same cell again: the later record wins */
		memset(&cell, 0, sizeof(cell));
		cell.row = w.v[i].row;
		cell.col = w.v[i].col;
		cell.type = w.v[i].type;
		cell.number = w.v[i].num;
		cell.text = (char *)w.v[i].text;
		cell.format = w.v[i].type == SHEET_CELL_NUMBER ? (char *)w.v[i].fmt : NULL;
		if (sheet_grid_add(x->grid, &cell))
			st = SHEET_NOMEM;
	}
	walk_free(&w);
	if (st == SHEET_OK && total > stored) {
		unsigned more = total - stored;

		x->grid->nrows = x->grid->nrows > UINT_MAX - more ? UINT_MAX : x->grid->nrows + more;
	}
	return st;
}

/* Frees the reader's state (not the grid). */
static void xls_free(struct xls *x)
{
	size_t i;

	if (x->cd != (iconv_t)-1)
		iconv_close(x->cd);
	for (i = 0; i < x->nfmts; i++)
		free(x->fmts[i].code);
	free(x->fmts);
	free(x->xf);
	free(x->xfdate);
	for (i = 0; i < x->capkept; i++)
		free(x->kept[i].text);
	free(x->kept);
	free(x->sststate);
	free(x->want);
	free(x->sstspans);
	for (i = 0; i < x->nsheets; i++)
		free(x->sheets[i].name);
	free(x->sheets);
	free(x->spans);
	free(x->wbcopy);
}

/* Reads the whole file into x->grid (see DESIGN). */
static enum sheet_status read_xls(struct xls *x, const unsigned char *buf, size_t len)
{
	struct cfb f;
	enum sheet_status st;
	int rc, book5 = 0;
	long chosen;

	rc = cfb_open(&f, buf, len);
	if (!rc) {
		rc = cfb_workbook(&f, &x->wb, &x->wbcopy, &x->wblen, &book5);
		if (!rc && !x->wb)
			x->wb = x->wbcopy;
	}
	cfb_close(&f);
	if (rc == -2)
		return SHEET_NOMEM;
	if (rc)
		return damaged(x, f.why);
	st = read_globals(x, book5);
	if (st != SHEET_OK)
		return st;
	if (x->nomem || map_date_xfs(x))
		return SHEET_NOMEM;
	chosen = choose_sheet(x);
	if (chosen < 0) {
		snprintf(x->err, x->errlen, "This .xls file holds no worksheet (only charts "
			 "or macros). Put the batch on a worksheet, or save it as CSV (UTF-8), "
			 "and upload that.");
		return SHEET_UNREADABLE;
	}
	if (x->sheets[chosen].off >= x->wblen)
		return damaged(x, "a sheet's position lies outside the workbook stream");
	x->grid->sheet_name = strdup(x->sheets[chosen].name);
	if (!x->grid->sheet_name)
		return SHEET_NOMEM;
	if (x->nsheets > 1 && warn_sheets(x, (size_t)chosen))
		return SHEET_NOMEM;
	st = read_sheet(x, (size_t)chosen);
	if (st != SHEET_OK)
		return x->nomem ? SHEET_NOMEM : st;
	if (x->cp_fallback &&
	    sheet_msgs_add(&x->grid->warnings, 0, NULL, NULL, NULL,
			   "Save the file as .xlsx (or as CSV, UTF-8) so that every character "
			   "is read as intended.",
			   "The workbook's code page (%u) is not one kiln can decode; its text "
			   "was read as Windows-1252 (Western European): check that accented "
			   "letters look right.", x->codepage))
		return SHEET_NOMEM;
	return SHEET_OK;
}

enum sheet_status sheet_read_xls(const unsigned char *buf, size_t len,
				 const struct sheet_limits *lim,
				 struct sheet_grid *grid, char *err, size_t errlen)
{
	struct sheet_limits deflim;
	struct xls x;
	enum sheet_status st;
	char dummy[1];

	sheet_read_begin(grid, &err, &errlen, dummy, &lim, &deflim);
	memset(&x, 0, sizeof(x));
	x.lim = lim;
	x.grid = grid;
	x.err = err;
	x.errlen = errlen;
	x.cd = (iconv_t)-1;
	st = read_xls(&x, buf ? buf : (const unsigned char *)"", buf ? len : 0);
	if (st == SHEET_NOMEM)
		snprintf(err, errlen, "Out of memory while reading the .xls file.");
	if (st != SHEET_OK)
		sheet_grid_free(grid);
	xls_free(&x);
	return st;
}
