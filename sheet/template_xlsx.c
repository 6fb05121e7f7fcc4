/*
 * template_xlsx.c — the two batch templates as .xlsx workbooks
 * (GET /v1/templates/simple.xlsx and full.xlsx).
 *
 * DESIGN
 * The columns and the two example rows are not written down twice: the
 * CSV template of the same name (sheet_template_csv()) is read with the CSV
 * reader into a grid, and that grid is written out with libxlsxwriter.  What
 * the workbook adds is what protects a user from the spreadsheet's own
 * traps (../design/spreadsheet.md): every column of the sheet carries the
 * text number format "@" (built-in numFmtId 49), so that 2:3 typed later
 * stays the text "2:3" instead of becoming the time 02:03, and 2.0 stays
 * "2.0"; the example cells are written as strings; the columns with fixed
 * values get a drop-down list (a data validation over rows 2 to 1000, the
 * default max_rows; a value not in the list gets a warning, not a refusal,
 * because kiln itself also accepts other capitalisations); the header row
 * is bold and frozen; widths fit the contents.  The accepted values below
 * follow validate.c's tables; the end-to-end tests check that every value
 * offered in a list is one kiln accepts.
 *
 * libxlsxwriter 1.1.4 (Debian 12) writes only to a named file, so the
 * workbook is written into a private directory made with mkdtemp() (mode
 * 0700, under $TMPDIR or /tmp; libxlsxwriter's own temporary files go there
 * too), read back into memory and removed with the directory.  Nothing is
 * kept between calls; each call makes its own workbook.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "sheet/sheet.h"

#define TEMPLATE_MAX_BYTES (1024 * 1024)  /* a template is a few KiB; more is a bug */

/* A column of the template: its width, and its drop-down list if it has one. */
struct tcol {
	const char *name;
	double width;
	const char *const *list; /* NULL-terminated accepted values, or NULL */
	const char *help;        /* the input message shown in the cell, or NULL */
};

static const char *const l_images[] = { "1", "2", "3", "4", NULL };

static const struct tcol tcols[] = {
	{ "prompt", 70, NULL, NULL },
	{ "visibility", 12, sheet_visibilities, "Required: public or private." },
	{ "aspect_ratio", 14, sheet_ratios, "Empty means 1:1." },
	{ "magic_prompt", 14, sheet_on_off, "Empty means on." },
	{ "model", 9, sheet_models, "Empty means 2.0." },
	{ "seed_number", 14, NULL,
	  "A whole number from 0 to 2147483647; empty lets the engine pick." },
	{ "rendering", 11, sheet_renderings, "Empty means default." },
	{ "negative_prompt", 30, NULL, "What to avoid: keywords separated by commas." },
	{ "style", 11, sheet_styles, "Empty means auto." },
	{ "color_palette", 28, NULL,
	  "Model 2.0 or 3.0 only: up to 5 colours like #CBA324 #F86C14, or one of ember, "
	  "fresh, jungle, magic, melon, mosaic, pastel, ultramarine." },
	{ "num_images", 12, l_images, "Images for this row, 1 to 4; empty means 4." },
};

/* The template column called name, or NULL. */
static const struct tcol *tcol_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(tcols) / sizeof(tcols[0]); i++)
		if (!strcmp(tcols[i].name, name))
			return &tcols[i];
	return NULL;
}

/*
 * Adds the drop-down list (or, for a column without one, only the input
 * message) of column col over the data rows 2..last_row+1; nothing for a
 * column with neither.
 */
static lxw_error add_validation(lxw_worksheet *ws, lxw_col_t col, const struct tcol *tc,
				lxw_row_t last_row)
{
	lxw_data_validation dv;
	char title[33];

	if (!tc->list && !tc->help)
		return LXW_NO_ERROR;
	memset(&dv, 0, sizeof(dv));
	snprintf(title, sizeof(title), "%s", tc->name);
	dv.input_title = title;
	dv.input_message = (char *)tc->help;
	if (tc->list) {
		dv.validate = LXW_VALIDATION_TYPE_LIST;
		dv.value_list = (char **)tc->list;
		dv.error_type = LXW_VALIDATION_ERROR_TYPE_WARNING;
		dv.error_title = title;
		dv.error_message = "kiln does not know this value: pick one from the list.";
	}
	else {
		dv.validate = LXW_VALIDATION_TYPE_ANY;
	}
	return worksheet_data_validation_range(ws, 1, col, last_row, col, &dv);
}

/*
 * Writes the grid of a CSV template as a workbook to path.  Returns 0, or
 * -1 with a message in err.
 */
static int write_workbook(const struct sheet_grid *g, const char *path, char *tmpdir,
			  char *err, size_t errlen)
{
	lxw_workbook_options opt;
	lxw_doc_properties props;
	lxw_workbook *wb;
	lxw_worksheet *ws;
	lxw_format *text, *head;
	struct sheet_limits lim;
	lxw_error e = LXW_NO_ERROR;
	size_t i;

	sheet_limits_default(&lim);
	memset(&opt, 0, sizeof(opt));
	opt.tmpdir = tmpdir;
	wb = workbook_new_opt(path, &opt);
	if (!wb) {
		snprintf(err, errlen, "cannot create the workbook (out of memory?)");
		return -1;
	}
	memset(&props, 0, sizeof(props));
	props.title = "kiln batch";
	props.comments = "One row per prompt; the header is row 1. Delete the two example rows.";
	workbook_set_properties(wb, &props);
	ws = workbook_add_worksheet(wb, "Batch");
	text = workbook_add_format(wb);
	head = workbook_add_format(wb);
	if (!ws || !text || !head) {
		workbook_close(wb);
		snprintf(err, errlen, "cannot create the worksheet (out of memory?)");
		return -1;
	}
	format_set_num_format_index(text, 49);     /* the built-in "@": Text */
	format_set_num_format_index(head, 49);
	format_set_bold(head);
	format_set_bottom(head, LXW_BORDER_THIN);
	format_set_bg_color(head, 0xEDEDED);
	worksheet_freeze_panes(ws, 1, 0);
	/* every cell the header names gets its column's width, format and list */
	for (i = 0; i < g->ncells && g->cells[i].row == 1 && e == LXW_NO_ERROR; i++) {
		const struct sheet_cell *c = &g->cells[i];
		const struct tcol *tc = tcol_find(c->text ? c->text : "");
		lxw_col_t col = (lxw_col_t)(c->col - 1);

		e = worksheet_set_column(ws, col, col, tc ? tc->width : 14, text);
		if (e == LXW_NO_ERROR && tc)
			e = add_validation(ws, col, tc, (lxw_row_t)(lim.max_rows - 1));
	}
	for (i = 0; i < g->ncells && e == LXW_NO_ERROR; i++) {
		const struct sheet_cell *c = &g->cells[i];

		e = worksheet_write_string(ws, (lxw_row_t)(c->row - 1), (lxw_col_t)(c->col - 1),
					   c->text ? c->text : "", c->row == 1 ? head : text);
	}
	if (e != LXW_NO_ERROR) {
		workbook_close(wb);
		snprintf(err, errlen, "cannot write the template: %s", lxw_strerror(e));
		return -1;
	}
	e = workbook_close(wb);
	if (e != LXW_NO_ERROR) {
		snprintf(err, errlen, "cannot write the template: %s", lxw_strerror(e));
		return -1;
	}
	return 0;
}

/* Reads the whole file at path (at most TEMPLATE_MAX_BYTES).  0, or -1 with err. */
static int slurp(const char *path, unsigned char **out, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read the template back: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_size <= 0 || st.st_size > TEMPLATE_MAX_BYTES) {
		close(fd);
		snprintf(err, errlen, "the template written is %lld bytes", (long long)st.st_size);
		return -1;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		snprintf(err, errlen, "cannot read the template back: short read");
		return -1;
	}
	*out = buf;
	*len = got;
	return 0;
}

/* Removes the workbook file (if written) and the private directory. */
static void remove_dir(const char *dir, const char *file)
{
	unlink(file);
	rmdir(dir);
}

int sheet_template_xlsx(const char *name, unsigned char **out, size_t *len,
			char *err, size_t errlen)
{
	struct sheet_limits lim;
	struct sheet_grid g;
	const char *csv, *tmp;
	char base[16], dir[4096], path[4200], dummy[1];
	size_t n;
	int rc;

	*out = NULL;
	*len = 0;
	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	n = name ? strlen(name) : 0;
	if (n > 5 && !strcmp(name + n - 5, ".xlsx"))
		n -= 5;
	if (n == 0 || n >= sizeof(base)) {
		snprintf(err, errlen, "templates are simple.xlsx and full.xlsx");
		return -1;
	}
	memcpy(base, name, n);
	base[n] = '\0';
	csv = strchr(base, '.') ? NULL : sheet_template_csv(base);
	if (!csv) {
		snprintf(err, errlen, "templates are simple.xlsx and full.xlsx");
		return -1;
	}
	sheet_limits_default(&lim);
	if (sheet_read_csv((const unsigned char *)csv, strlen(csv), &lim, &g, err, errlen) !=
	    SHEET_OK) {
		sheet_grid_free(&g);
		return -1;
	}
	tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(dir, sizeof(dir), "%s/kiln-template-XXXXXX", tmp) >= (int)sizeof(dir) ||
	    !mkdtemp(dir)) {
		snprintf(err, errlen, "cannot make a temporary directory under %s: %s", tmp,
			 strerror(errno));
		sheet_grid_free(&g);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s.xlsx", dir, base);
	rc = write_workbook(&g, path, dir, err, errlen);
	sheet_grid_free(&g);
	if (rc == 0)
		rc = slurp(path, out, len, err, errlen);
	remove_dir(dir, path);
	return rc;
}
