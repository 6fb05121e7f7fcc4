/*
 * backup.h — `kilnd backup FILE` and `kilnd restore FILE`: a consistent
 * copy of a data dir, taken while kilnd runs, and its way back.
 *
 * DESIGN
 * A backup is one zip file:
 *
 *   kiln.db                          a snapshot of the store (SQLite online backup)
 *   admin.token                      the admin's token, when the data dir has one
 *   images/<batch>/<image>.<ext>     the file of every image done in that snapshot
 *
 * The snapshot is taken first (store_backup(): all pages under one read
 * transaction), then the image files that the *snapshot* says are done are
 * copied.  That is consistent because an image file is immutable once its
 * image is done: it was fsynced and renamed into place before the done
 * mark was committed, and nothing writes it again.  The one change that can
 * happen meanwhile is a batch deleted after the snapshot, taking its files
 * with it; the backup then takes a new snapshot (up to three times) rather
 * than carry a store that names files it lacks.  Images done after the
 * snapshot are not in it, and the restored kilnd makes them again (their
 * batch is still queued or running in the snapshot).
 *
 * restore extracts a backup into a data dir that is empty or missing, and
 * refuses any other: it never merges or overwrites.  Only the names above
 * are accepted (ids are hex, no other path can be written), the store's
 * integrity is checked, and every image file is checked against the size
 * and CRC-32 the store recorded when it was made.  On any failure what was
 * extracted is removed again.
 */
#ifndef KILN_BACKUP_H
#define KILN_BACKUP_H

/* `kilnd backup [--config FILE | --data-dir DIR] FILE`; argv[0] is "backup".  Exit status. */
int backup_main(int argc, char **argv);

/* `kilnd restore [--config FILE | --data-dir DIR] FILE`; argv[0] is "restore".  Exit status. */
int restore_main(int argc, char **argv);

#endif
