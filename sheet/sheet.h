/*
 * sheet.h — the spreadsheet module: from uploaded bytes to typed batch rows.
 *
 * DESIGN
 * Reading is two steps with a plain struct in between, as
 * ../design/spreadsheet.md describes:
 *
 *   bytes --sheet_read()--> struct sheet_grid --sheet_validate()--> struct sheet_batch
 *
 * sheet_read() sniffs the format from the bytes (never from a name) and hands
 * them to one reader (csv.c today; xls, xlsx and ods later), each of which
 * fills the same cell grid: a sparse list of non-blank cells in row-major
 * order, each with its stored type and value.  Readers know nothing of the
 * batch columns.  sheet_validate() knows nothing of file formats: it turns a
 * grid into rows with every default applied, and collects every error and
 * warning at once, each naming the row, the column, the A1 cell, the value
 * as read, what is wrong and what would be accepted.
 *
 * Everything a function returns is owned by the caller and released with the
 * matching *_free().  No function keeps state between calls; all are safe to
 * call from several threads at once.
 */
#ifndef KILN_SHEET_H
#define KILN_SHEET_H

#include <stddef.h>
#include <stdint.h>

/* ---- limits ------------------------------------------------------------ */

/*
 * How the .xlsx reader parses the worksheet and the shared strings: its
 * own scanner, falling back to expat for a part it does not fully
 * understand (AUTO, the default), or expat alone (EXPAT).  The two must
 * give the same answer on every input; tests and the differential fuzzer
 * compare them.
 */
enum sheet_xml_path {
	SHEET_XML_AUTO = 0,
	SHEET_XML_EXPAT
};

struct sheet_limits {
	unsigned max_rows;       /* rows per file, header included (default 1000) */
	unsigned max_cols;       /* columns a reader accepts before refusing (default 256) */
	size_t max_cell_bytes;   /* longest cell text accepted (default 32768) */
	size_t max_cells;        /* non-blank cells a reader accepts (default 200000) */
	enum sheet_xml_path xml_path; /* .xlsx only (default SHEET_XML_AUTO) */
};

/* Fills *lim with the defaults above. */
void sheet_limits_default(struct sheet_limits *lim);

/* ---- the cell grid ------------------------------------------------------ */

enum sheet_cell_type {
	SHEET_CELL_TEXT,         /* text: UTF-8 in .text, exactly as stored */
	SHEET_CELL_NUMBER,       /* number (dates and times too): .number */
	SHEET_CELL_BOOL,         /* boolean: .number is 0 or 1 */
	SHEET_CELL_ERROR         /* formula error: .text is "#N/A", "#DIV/0!", ... */
};

struct sheet_cell {
	unsigned row;            /* 1-based, as a spreadsheet shows it */
	unsigned col;            /* 1-based: A = 1 */
	enum sheet_cell_type type;
	char *text;              /* TEXT and ERROR; NULL otherwise */
	double number;           /* NUMBER and BOOL */
	char *format;            /* number format of a date or time cell, else NULL */
};

/* Problems and warnings share one shape: the API's "details" entries. */
struct sheet_msg {
	unsigned row;            /* 1-based row; 0 when about the whole file */
	char *column;            /* column name ("aspect_ratio"), or NULL */
	char *cell;              /* A1 reference ("C7"), or NULL */
	char *value;             /* the value as read (text), or NULL */
	char *message;           /* what is wrong, one sentence, starts with the cell */
	char *hint;              /* what would be accepted / what to do, or NULL */
};

struct sheet_msgs {
	struct sheet_msg *v;
	size_t n, cap;
};

/*
 * Appends one message to *m: copies column, cell, value and hint (any may be
 * NULL) and formats the message from fmt.  Returns 0, or -1 on ENOMEM (then
 * *m is unchanged).
 */
int sheet_msgs_add(struct sheet_msgs *m, unsigned row, const char *column,
		   const char *cell, const char *value, const char *hint,
		   const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Frees every message and the array; *m is left empty and reusable. */
void sheet_msgs_free(struct sheet_msgs *m);

struct sheet_grid {
	struct sheet_cell *cells; /* non-blank cells, sorted by row then col */
	size_t ncells, cap;
	unsigned nrows;           /* non-blank rows in the sheet: sheet_grid_add()
				     counts the rows it stores that have a non-blank
				     cell (sheet_cell_blank()); a reader that stops
				     storing past lim->max_rows adds the non-blank rows
				     it only counted, so the validator can say how
				     long the file is without holding every cell */
	unsigned counted_row;     /* the row sheet_grid_add() counted last */
	char *sheet_name;         /* the worksheet read (NULL for CSV) */
	unsigned xml_fast_parts;  /* .xlsx: parts read by the fast scanner, not expat */
	struct sheet_pool *pool;  /* the cells' texts and formats (sheet_grid_add()) */
	struct sheet_msgs warnings; /* reader warnings (Windows-1252 fallback, sheets skipped) */
};

struct sheet_pool;            /* sheet.c: blocks of text owned by one grid */

enum sheet_format {
	SHEET_FMT_UNKNOWN = 0,
	SHEET_FMT_CSV,
	SHEET_FMT_XLS,
	SHEET_FMT_XLSX,
	SHEET_FMT_ODS
};

/* Outcome of sheet_read(). */
enum sheet_status {
	SHEET_OK = 0,
	SHEET_UNSUPPORTED,       /* not one of the four formats (HTTP 415) */
	SHEET_UNREADABLE,        /* one of them, but damaged, encrypted or too large (HTTP 422) */
	SHEET_NOMEM
};

/*
 * Guesses the format from the first bytes.  On SHEET_FMT_UNKNOWN, *what (if
 * not NULL) is set to a short static description of what the bytes look like
 * ("a PDF document", "a PNG image", "binary data"), for the error message.
 * (*what is set for the four formats too: "an Excel workbook (.xlsx)", ...;
 * a password-protected workbook is reported as its format, and sheet_read()
 * refuses it.)
 */
enum sheet_format sheet_sniff(const unsigned char *buf, size_t len, const char **what);

/* "csv", "xls", "xlsx", "ods" or "unknown". */
const char *sheet_format_name(enum sheet_format fmt);

/*
 * Reads the first visible worksheet of the file in buf into *grid.
 * On failure returns the status and writes a human message (what the file is,
 * what to do) into err.  *grid is always initialised and must be freed.
 */
enum sheet_status sheet_read(const unsigned char *buf, size_t len,
			     const struct sheet_limits *lim,
			     struct sheet_grid *grid, char *err, size_t errlen);

/* The CSV reader itself (sheet_read() calls it for SHEET_FMT_CSV). */
enum sheet_status sheet_read_csv(const unsigned char *buf, size_t len,
				 const struct sheet_limits *lim,
				 struct sheet_grid *grid, char *err, size_t errlen);

/*
 * The workbook readers (xlsx.c, ods.c, xls.c), called by sheet_read() for
 * their sniffed format, with the same contract: the first visible worksheet
 * into *grid (a warning naming it when other sheets were skipped), or an
 * error message saying what is wrong and what to do.
 */
enum sheet_status sheet_read_xlsx(const unsigned char *buf, size_t len,
				  const struct sheet_limits *lim,
				  struct sheet_grid *grid, char *err, size_t errlen);
enum sheet_status sheet_read_ods(const unsigned char *buf, size_t len,
				 const struct sheet_limits *lim,
				 struct sheet_grid *grid, char *err, size_t errlen);
enum sheet_status sheet_read_xls(const unsigned char *buf, size_t len,
				 const struct sheet_limits *lim,
				 struct sheet_grid *grid, char *err, size_t errlen);

/*
 * What every reader does first: empties *grid, points *err at a buffer to
 * write to (dummy, one byte, when the caller gave none) and clears it, and
 * points *lim at the defaults (written into *deflim) when it is NULL.
 */
void sheet_read_begin(struct sheet_grid *grid, char **err, size_t *errlen, char *dummy,
		      const struct sheet_limits **lim, struct sheet_limits *deflim);

void sheet_grid_free(struct sheet_grid *grid);

/*
 * Appends a cell (row-major order is the caller's duty); returns 0 or -1 on
 * ENOMEM.  The grid keeps its own copies of cell->text and cell->format (in
 * its pool, a few large blocks rather than an allocation per cell; freed
 * with the grid), and counts a row in grid->nrows at its first non-blank
 * cell.
 */
int sheet_grid_add(struct sheet_grid *grid, const struct sheet_cell *cell);

/*
 * sheet_grid_add() for a cell whose text (when not NULL) is already in the
 * grid's pool, from sheet_grid_text(): the text is used as is, not copied
 * (the .xlsx reader's shared strings, copied once each however many cells
 * use them); the format is copied.  Returns 0 or -1 on ENOMEM.
 */
int sheet_grid_add_pooled(struct sheet_grid *grid, const struct sheet_cell *cell);

/*
 * Makes room for n cells in all (a reader's estimate, e.g. an .xlsx
 * worksheet's <dimension>), so that the cells are not copied as the array
 * grows: fewer pages touched.  Only a hint: sheet_grid_add() still grows
 * the array past it, and a failure (-1) changes nothing.  Returns 0 or -1.
 */
int sheet_grid_reserve(struct sheet_grid *grid, size_t n);

/*
 * Copies n bytes of text into the grid's pool, NUL-terminated, for a
 * cell's text set after sheet_grid_add() (the .xlsx reader's shared
 * strings read after the worksheet); freed with the grid.  NULL on ENOMEM.
 */
char *sheet_grid_text(struct sheet_grid *grid, const char *s, size_t n);

/*
 * Is the cell blank: a text cell that is empty or holds only white space
 * (spaces, tabs, line breaks, U+00A0)?  Such a cell is stored as read but
 * counts nowhere: a row of them is a blank row, skipped and not counted
 * towards lim->max_rows.  Numbers, booleans and errors are never blank.
 */
int sheet_cell_blank(const struct sheet_cell *cell);

/*
 * The zip readers' second bomb guard, beside their cap on inflated bytes:
 * 1 when a member that has inflated to `inflated` bytes from `compressed`
 * bytes is past SHEET_ZIP_RATIO_FLOOR and more than SHEET_ZIP_RATIO times
 * its compressed size.  Real sheet XML shrinks 5 to 70 times (the corpus's
 * large_strings.xlsx, 65 times); deflate's limit is about 1030.
 */
#define SHEET_ZIP_RATIO 250
#define SHEET_ZIP_RATIO_FLOOR (32ULL << 20)
int sheet_zip_ratio_exceeded(uint64_t inflated, uint64_t compressed);

/*
 * What the workbook readers share about the sheet they chose.  A message
 * lists at most SHEET_NAMES_LISTED names, each cut to SHEET_NAME_SHOWN
 * bytes.
 */
#define SHEET_NAMES_LISTED 5
#define SHEET_NAME_SHOWN 64

/* Copies s into out (outlen bytes, at least 8), cut at a character boundary with "…". */
void sheet_utf8_cut(const char *s, char *out, size_t outlen);

/*
 * Writes "\"a\", \"b\" and \"c\"" into buf: the first `shown` of names (at most
 * SHEET_NAMES_LISTED), then " and N more" when total is larger.
 */
void sheet_list_names(const char *const *names, size_t shown, size_t total, char *buf,
		      size_t len);

/*
 * The warning a workbook reader adds when the workbook (nsheets sheets)
 * has others than the one it read (name): the nhidden hidden sheets
 * before it were skipped (hidden holds the first min(nhidden,
 * SHEET_NAMES_LISTED) names), the rest not read.  Nothing for a workbook
 * of one sheet.  Returns 0, or -1 on ENOMEM.
 */
int sheet_warn_other_sheets(struct sheet_grid *grid, const char *name, size_t nsheets,
			    const char *const *hidden, size_t nhidden);

/* Writes code point cp as UTF-8 at o (room for 4 bytes); returns the bytes written. */
size_t sheet_utf8_put(char *o, uint32_t cp);

/*
 * Length of the longest strictly valid UTF-8 prefix of s (no overlong forms,
 * no surrogates, nothing above U+10FFFF); n when all of s is valid.
 */
size_t sheet_utf8_valid(const unsigned char *s, size_t n);

/* Writes the A1 name of a cell ("C7", "AA12") into buf (at least 16 bytes). */
void sheet_cell_ref(unsigned row, unsigned col, char *buf, size_t len);

/* ---- validated rows ------------------------------------------------------ */

/*
 * One batch row with every default applied.  Enumerated values are their
 * canonical lower-case spelling from spreadsheet.md ("public", "16:9", "on",
 * "2.0", "turbo", "3d"); prompt and negative prompt are as written, trimmed.
 */
struct sheet_fields {
	char *prompt;
	char visibility[8];      /* "public" | "private" */
	char aspect_ratio[8];    /* "1:1", "16:9", ... */
	char magic_prompt[4];    /* "on" | "off" */
	char model[4];           /* "2.0" | "1.0" | "0.2" | "3.0" | "2a" */
	int64_t seed;            /* 0..2147483647, or -1 when none was given */
	char rendering[8];       /* "default" | "turbo" | "quality" */
	char *negative_prompt;   /* "" when none */
	char style[12];          /* "auto" | "general" | "realistic" | "design" | "3d" | "anime" */
	char *color_palette;     /* NULL, a preset ("pastel") or hex values ("#CBA324 #F86C14") upper-case */
	int num_images;          /* 1..4 */
};

struct sheet_row {
	unsigned row;            /* the row number the user sees (header = 1) */
	struct sheet_fields f;
};

struct sheet_batch {
	struct sheet_row *rows;
	size_t nrows;
	unsigned images_total;   /* sum of num_images */
	struct sheet_msgs errors;
	struct sheet_msgs warnings; /* the grid's reader warnings come first */
};

/*
 * Validates the grid against the columns of spreadsheet.md.  Always fills
 * *out (rows that are valid, every error and warning); returns the number of
 * errors (0: the batch is valid) or -1 on ENOMEM.  An empty sheet or one
 * with no data rows is an error.
 */
int sheet_validate(const struct sheet_grid *grid, const struct sheet_limits *lim,
		   struct sheet_batch *out);

void sheet_batch_free(struct sheet_batch *b);

/* Deep copy of one row's fields (for the store and the engines). */
int sheet_fields_copy(struct sheet_fields *dst, const struct sheet_fields *src);
void sheet_fields_free(struct sheet_fields *f);

/*
 * The accepted values of the columns with fixed values, NULL-terminated,
 * in their canonical spelling (validate.c; the .xlsx templates offer them
 * in drop-down lists): visibility, magic_prompt, rendering, style,
 * aspect_ratio, model, and the color_palette presets.
 */
extern const char *const sheet_visibilities[], *const sheet_on_off[], *const sheet_renderings[],
	*const sheet_styles[], *const sheet_ratios[], *const sheet_models[], *const sheet_presets[];

/* The template files: "simple.csv" or "full.csv"; NULL for an unknown name. */
const char *sheet_template_csv(const char *name);

/*
 * The same templates as .xlsx workbooks ("simple.xlsx" or "full.xlsx", also
 * "simple"/"full"), made with libxlsxwriter from the CSV template's rows:
 * every column formatted as text, drop-down lists for the columns with fixed
 * values, a bold frozen header.  On success *out (malloc'd, the caller frees)
 * holds *len bytes and 0 is returned; -1 with a message in err for an
 * unknown name or a failure to write.
 */
int sheet_template_xlsx(const char *name, unsigned char **out, size_t *len,
			char *err, size_t errlen);

#endif
