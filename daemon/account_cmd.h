/*
 * account_cmd.h — `kilnd account add|list|credit|token|limits`: the admin's account
 * routes, offline, straight on the store of a data dir.
 *
 * DESIGN
 * One entry point, called by main() when argv[1] is "account", before any
 * thread or listener exists.  It opens <data_dir>/kiln.db (data_dir from
 * --data-dir, else --config FILE, else the default), applies the
 * migrations kilnd would apply, and calls the same store functions as the
 * HTTP routes, so the ledger rules are the same.  It works while kilnd runs
 * on that data dir (SQLite's locking; a new token or grant takes effect on
 * kilnd's next request).  Exit status: 0 done, 1 refused (no such account,
 * name taken, not enough credits to take back), 2 usage or store errors.
 */
#ifndef KILN_ACCOUNT_CMD_H
#define KILN_ACCOUNT_CMD_H

/* Runs `account` with argv[0] = "account"; returns the process exit status. */
int account_cmd_main(int argc, char **argv);

#endif
