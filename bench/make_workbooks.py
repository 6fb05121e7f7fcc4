"""
make_workbooks.py — writes a fixture of the workbook benchmark: a batch with
every column of spreadsheet.md as .xls (xlwt, BIFF8) or as .xlsx the way
openpyxl writes it (write mode: inline strings, non-ASCII as character
references).  The rows are those of bench/make_xlsx.c (the .xlsx as Excel
lays it out) and close to bench_sheet.c's CSV: non-ASCII prompts, quotes and
commas in the text, palettes, seeds and image counts as numbers (as a user
typing them gets).  Each prompt is different, so the shared strings grow
with the rows.

    make_workbooks.py xls|xlsx FILE ROWS     header + ROWS rows
"""
import sys

import openpyxl
import xlwt

HEADER = ["prompt", "visibility", "aspect_ratio", "magic_prompt", "model", "seed_number",
          "rendering", "negative_prompt", "style", "color_palette", "num_images"]
RATIOS = ["1:1", "16:9", "9:16", "4:3", "3:4", "2:3"]
STYLES = ["auto", "general", "realistic", "design", "3d", "anime"]
SUBJECTS = ["Crème brûlée sticker", "Ein Fuchs im Schnee, Aquarell", "猫の水彩画、桜の下",
            "Ναός στο ηλιοβασίλεμα", "Café à Montréal, l'hiver"]


def rows(n):
    for i in range(n):
        yield [SUBJECTS[i % len(SUBJECTS)] + ' number %d, with "quotes" and a comma' % i,
               "public" if i % 2 else "Private", RATIOS[i % 6], "on" if i % 3 else "off",
               "2.0", i * 7919, "turbo", "blurry, low resolution, text", STYLES[i % 6],
               "#CBA324 #F86C14 #C71E71" if i % 4 else "pastel", 4]


def write_xlsx(path, n):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "batch"
    ws.append(HEADER)
    for r in rows(n):
        ws.append(r)
    wb.save(path)


def write_xls(path, n):
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("batch")
    for c, v in enumerate(HEADER):
        ws.write(0, c, v)
    for i, r in enumerate(rows(n), 1):
        for c, v in enumerate(r):
            ws.write(i, c, v)
    wb.save(path)


def main():
    kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"xls": write_xls, "xlsx": write_xlsx}[kind](path, n)


main()
