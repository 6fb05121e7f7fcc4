/*
 * inspect.h — `kilnd inspect FILE`: what kiln reads from a spreadsheet,
 * printed as JSON lines, without starting the daemon.
 *
 * DESIGN
 * One entry point, called by main() when argv[1] is "inspect", before any
 * configuration, store or thread exists.  It reads the file (bounded), runs
 * the same sheet_read() and sheet_validate() as an upload, and prints one
 * JSON line per non-blank row of the worksheet read, then one {"report": …}
 * line; the cell format is the corpus oracles' (../design/spreadsheet.md,
 * "Tools").  Exit status: 0 a valid batch, 1 an invalid one, 2 a file that
 * cannot be read at all (the reason on stderr, nothing on stdout).
 */
#ifndef KILN_INSPECT_H
#define KILN_INSPECT_H

/*
 * Runs `inspect` with argv[0] = "inspect" and its own options and FILE
 * after it.  Returns the process exit status (0, 1 or 2).
 */
int inspect_main(int argc, char **argv);

#endif
