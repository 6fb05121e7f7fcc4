"""
workbook_reference.py — the outside references of bench_workbook.c: the same
workbook read by openpyxl (read-only mode, cached values, every cell value
of the first sheet) or by xlrd (every cell of sheet 0), again and again for
about two seconds of this process's CPU time, from bytes already in memory
as kiln reads them; the figure is the median run, as bench_workbook.c
counts.  Neither validates anything.

    workbook_reference.py openpyxl|xlrd FILE

Prints one line, tab-separated, as bench_workbook.c does:

    <reader> <fmt>  <rows/s>  <ms per file>  <peak RSS MB>  (<runs> runs, <rows> rows, <MB> RSS before)

ms per file is the median run and rows/s the file's rows over it; rows
are the data rows read (the header not counted); peak RSS is
resource.getrusage()'s ru_maxrss of this process, which reads one file only.
"""
import io
import os
import resource
import statistics
import sys
import time


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def read_openpyxl(data):
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    ws = wb.worksheets[0]
    rows = 0
    for row in ws.iter_rows(values_only=True):
        for _ in row:
            pass
        rows += 1
    wb.close()
    return rows


def read_xlrd(data):
    import xlrd
    wb = xlrd.open_workbook(file_contents=data)
    sh = wb.sheet_by_index(0)
    for r in range(sh.nrows):
        for _ in sh.row_values(r):
            pass
    wb.release_resources()
    return sh.nrows


def main():
    reader, path = sys.argv[1], sys.argv[2]
    read = {"openpyxl": read_openpyxl, "xlrd": read_xlrd}[reader]
    with open(path, "rb") as f:
        data = f.read()
    __import__(reader)
    base = peak_rss_mb()
    runs = []
    t0 = time.process_time()
    while True:
        t = time.process_time()
        rows = read(data) - 1
        runs.append(time.process_time() - t)
        if time.process_time() - t0 >= 2.0:
            break
    ms = statistics.median(runs) * 1e3
    fmt = os.path.splitext(path)[1].lstrip(".")
    print("%s %s\t%.0f\t%.2f\t%.1f\t(%d runs, %d rows, %.1f MB RSS before the first read)"
          % (reader, fmt, rows / ms * 1e3, ms, peak_rss_mb(), len(runs), rows, base))


main()
