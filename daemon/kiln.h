/*
 * kiln.h — the daemon context: everything kilnd's parts share, in one struct
 * that main.c builds and passes explicitly to the scheduler and the API.
 *
 * DESIGN
 * There are no hidden globals in kilnd: a module gets the context as its
 * first argument and takes what it needs from it.  The context also owns
 * the layout of the data dir, so that one function says where an image
 * lives:
 *
 *   <data_dir>/kiln.db                   the store (WAL: kiln.db-wal, -shm)
 *   <data_dir>/admin.token               the admin's token, mode 0600
 *   <data_dir>/images/<batch>/<image>.png  finished images
 *   <data_dir>/images/<batch>/<image>.thumb.png  their thumbnails, made on first request
 */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/engine.h"
#include "sheet/sheet.h"
#include "store/store.h"

struct sched;
struct api_server;
struct api_events;
struct metrics;
struct webhooks;

struct kiln {
	struct config cfg;
	struct sheet_limits limits;
	struct store_pool *pool;     /* connections for the HTTP threads */
	struct engine engine;
	struct sched *sched;
	struct api_server *api;
	char db_path[1100];
	char images_dir[1100];
	char admin_id[33];
	int64_t started_at;          /* ms, for /healthz */
	/* metrics, the event hub, webhook delivery */
	struct metrics *metrics;     /* in-memory counters for /metrics */
	struct api_events *events;   /* the event streams' hub */
	struct webhooks *webhooks;   /* the delivery thread */
};

/* <images_dir>/<batch_id> into buf; 0, or -1 if it does not fit. */
int kiln_batch_dir(const struct kiln *k, const char *batch_id, char *buf, size_t len);

/* <images_dir>/<batch_id>/<image_id>.<ext> into buf; 0 or -1. */
int kiln_image_path(const struct kiln *k, const char *batch_id, const char *image_id,
		    const char *ext, char *buf, size_t len);

/* The temporary name of that file while it is written; 0 or -1. */
int kiln_image_tmp_path(const struct kiln *k, const char *batch_id, const char *image_id,
			const char *ext, char *buf, size_t len);

/* Removes a batch's image directory and everything in it (after a delete). */
void kiln_remove_batch_files(const struct kiln *k, const char *batch_id);

/*
 * A new bearer token: "kiln_" and 64 hex digits (32 random bytes) into
 * token[80], and its hex SHA-256, the only form the store keeps, into
 * hash[65].  0, or -1 when no randomness could be had.
 */
int kiln_token_new(char *token, char *hash);

/* Writes <data_dir>/admin.token (mode 0600) durably; 0 or -1 (errno set). */
int kiln_write_admin_token(const char *data_dir, const char *token);

/* <images_dir>/<batch_id>/<image_id>.thumb.png, the cached thumbnail; 0 or -1. */
int kiln_thumb_path(const struct kiln *k, const char *batch_id, const char *image_id,
		    char *buf, size_t len);

/*
 * 1 when writing need more bytes to the data dir would leave less than
 * min_free_space free on its filesystem (a full disk), with a message
 * saying so in msg (the caller adds what to do); else 0 (also when it
 * cannot be told).
 */
int kiln_disk_short(const struct kiln *k, uint64_t need, char *msg, size_t len);

/* The message of a batch paused by a full disk, for the data dir of k, into msg. */
void kiln_disk_full_message(const struct kiln *k, char *msg, size_t len);

#endif
