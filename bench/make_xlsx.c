/*
 * make_xlsx.c — writes the workbook benchmark's .xlsx fixture with
 * libxlsxwriter, laid out as Excel saves a workbook: text in the shared
 * strings table, numbers in the cells.  The rows are those of
 * bench/make_workbooks.py (which writes the .xls, and the .xlsx as openpyxl
 * lays it out, with inline strings): every column of spreadsheet.md,
 * non-ASCII prompts, quotes and commas in the text, palettes, seeds and
 * image counts as numbers; each prompt different.
 *
 *   make_xlsx FILE ROWS        header + ROWS rows
 */
#include <stdio.h>
#include <stdlib.h>

#include <xlsxwriter.h>

static const char *const header[] = {
	"prompt", "visibility", "aspect_ratio", "magic_prompt", "model", "seed_number",
	"rendering", "negative_prompt", "style", "color_palette", "num_images"
};
static const char *const ratios[] = { "1:1", "16:9", "9:16", "4:3", "3:4", "2:3" };
static const char *const styles[] = { "auto", "general", "realistic", "design", "3d", "anime" };
static const char *const subjects[] = {
	"Crème brûlée sticker", "Ein Fuchs im Schnee, Aquarell", "猫の水彩画、桜の下",
	"Ναός στο ηλιοβασίλεμα", "Café à Montréal, l'hiver"
};

/* Writes row i (0-based, below the header) of the batch. */
static lxw_error write_row(lxw_worksheet *ws, lxw_row_t r, int i)
{
	char prompt[160];
	lxw_error e = LXW_NO_ERROR;

	snprintf(prompt, sizeof(prompt), "%s number %d, with \"quotes\" and a comma", subjects[i % 5], i);
	e = e ? e : worksheet_write_string(ws, r, 0, prompt, NULL);
	e = e ? e : worksheet_write_string(ws, r, 1, i % 2 ? "public" : "Private", NULL);
	e = e ? e : worksheet_write_string(ws, r, 2, ratios[i % 6], NULL);
	e = e ? e : worksheet_write_string(ws, r, 3, i % 3 ? "on" : "off", NULL);
	e = e ? e : worksheet_write_string(ws, r, 4, "2.0", NULL);
	e = e ? e : worksheet_write_number(ws, r, 5, (double)i * 7919, NULL);
	e = e ? e : worksheet_write_string(ws, r, 6, "turbo", NULL);
	e = e ? e : worksheet_write_string(ws, r, 7, "blurry, low resolution, text", NULL);
	e = e ? e : worksheet_write_string(ws, r, 8, styles[i % 6], NULL);
	e = e ? e : worksheet_write_string(ws, r, 9, i % 4 ? "#CBA324 #F86C14 #C71E71" : "pastel", NULL);
	e = e ? e : worksheet_write_number(ws, r, 10, 4, NULL);
	return e;
}

int main(int argc, char **argv)
{
	lxw_workbook *wb;
	lxw_worksheet *ws;
	lxw_error e = LXW_NO_ERROR;
	int rows;

	if (argc != 3 || (rows = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: %s FILE ROWS\n", argv[0]);
		return 2;
	}
	wb = workbook_new(argv[1]);
	ws = wb ? workbook_add_worksheet(wb, "batch") : NULL;
	if (!ws) {
		fprintf(stderr, "%s: cannot create the workbook\n", argv[1]);
		return 1;
	}
	for (lxw_col_t c = 0; c < 11 && !e; c++)
		e = worksheet_write_string(ws, 0, c, header[c], NULL);
	for (int i = 0; i < rows && !e; i++)
		e = write_row(ws, (lxw_row_t)i + 1, i);
	if (e) {
		fprintf(stderr, "%s: %s\n", argv[1], lxw_strerror(e));
		workbook_close(wb);
		return 1;
	}
	e = workbook_close(wb);
	if (e) {
		fprintf(stderr, "%s: %s\n", argv[1], lxw_strerror(e));
		return 1;
	}
	return 0;
}
