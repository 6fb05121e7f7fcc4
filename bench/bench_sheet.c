/*
 * bench_sheet.c — validation throughput of a 999-row CSV, the biggest batch
 * a user may upload, beside a reference in the same run.
 *
 * The file has every column of the full template, with quoting, non-ASCII
 * prompts, palettes and seeds.  kiln's number is sheet_read() then
 * sheet_validate(), repeated for about two seconds.  The reference is a
 * floor: one pass that only counts the separators and line ends of the same
 * bytes with memchr-speed code (what any reader must at least do).  Prints
 * one line per measurement: name, rows/s, MB/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sheet/sheet.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The 999-row batch, as a user's spreadsheet program would save it. */
static char *make_csv(size_t *len)
{
	static const char *const ratios[] = { "1:1", "16:9", "9:16", "4:3", "3:4", "2:3" };
	static const char *const styles[] = { "auto", "general", "realistic", "design", "3d", "anime" };
	size_t cap = 1 << 20, n = 0;
	char *buf = malloc(cap);

	n += (size_t)snprintf(buf + n, cap - n, "prompt,visibility,aspect_ratio,magic_prompt,model,"
			      "seed_number,rendering,negative_prompt,style,color_palette,num_images\r\n");
	for (int i = 0; i < 999; i++) {
		n += (size_t)snprintf(buf + n, cap - n,
				      "\"Crème brûlée sticker number %d,"
				      " with \"\"quotes\"\" and a comma\","
				      "%s,%s,%s,2.0,%d,turbo,\"blurry, low resolution, text\",%s,%s,4\r\n",
				      i, i % 2 ? "public" : "Private", ratios[i % 6], i % 3 ? "on" : "off",
				      i * 7919, styles[i % 6],
				      i % 4 ? "#CBA324 #F86C14 #C71E71" : "pastel");
	}
	*len = n;
	return buf;
}

int main(void)
{
	struct sheet_limits lim;
	size_t len, iters = 0, rows = 0;
	char *csv = make_csv(&len);
	char err[256];
	double t0, t, floor_t;
	size_t seps = 0, floor_iters = 0;

	sheet_limits_default(&lim);
	t0 = now();
	do {
		struct sheet_grid g;
		struct sheet_batch b;

		if (sheet_read((const unsigned char *)csv, len, &lim, &g, err, sizeof(err)) != SHEET_OK) {
			fprintf(stderr, "read: %s\n", err);
			return 1;
		}
		if (sheet_validate(&g, &lim, &b) != 0) {
			fprintf(stderr, "validation found errors\n");
			return 1;
		}
		rows += b.nrows;
		sheet_batch_free(&b);
		sheet_grid_free(&g);
		iters++;
		t = now() - t0;
	} while (t < 2.0);
	printf("kiln read+validate\t%.0f rows/s\t%.1f MB/s\t(%zu bytes, %zu runs)\n",
	       rows / t, len * iters / t / 1e6, len, iters);

	t0 = now();
	do {
		for (size_t i = 0; i < len; i++)
			seps += csv[i] == ',' || csv[i] == '\n' || csv[i] == '"';
		floor_iters++;
		floor_t = now() - t0;
	} while (floor_t < 1.0);
	printf("floor: count separators\t%.0f rows/s\t%.1f MB/s\t(%zu)\n",
	       999.0 * floor_iters / floor_t, len * floor_iters / floor_t / 1e6, seps % 7);
	free(csv);
	return 0;
}
