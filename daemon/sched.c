/*
 * sched.c — the worker pool; see sched.h for the design.
 *
 * For the crash tests, KILN_CRASH_AT=stage:N (or rename:N) in the
 * environment makes kilnd end abruptly, as kill -9 would, at that step of
 * the Nth image made: after its file is staged, or after it is renamed but
 * before it is marked done.  A restart must then finish that image without
 * calling the engine again.
 *
 * A full disk (an image write that fails with ENOSPC or EDQUOT, the store
 * answering SQLITE_FULL, or less than min_free_space left after the image)
 * is not the image's fault: the image goes back to pending without counting
 * an attempt (its temporary file removed, never staged or done), and its
 * batch is paused — stopped, with the error "disk full: …" until it is
 * resumed — so that nothing is failed for want of space and a resume after
 * space is freed finishes it.  While the store itself cannot write, the
 * worker keeps trying every second to put the image back (or until kilnd
 * stops; a restart then requeues it).
 */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <zlib.h>

#include "daemon/engine.h"
#include "daemon/kiln.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/sched.h"
#include "daemon/util.h"
#include "store/store.h"

struct worker {
	struct sched *s;
	struct store *st;
	pthread_t thread;
	unsigned n;
	int64_t batch_seq;       /* the batch it works on, 0 when idle (under s->mu) */
	atomic_int cancel;
};

struct sched {
	struct kiln *k;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;                /* under mu */
	int64_t rr_seq;          /* the batch claimed last: round-robin (under mu) */
	unsigned nworkers;
	struct worker *workers;
	atomic_ullong made;
	int crash_point;         /* KILN_CRASH_AT: 0 none, 1 after stage, 2 after rename */
	unsigned crash_after;    /* ... at the Nth image */
	atomic_uint crash_count;
	int draining;            /* no new claims (under mu) */
	uint64_t watchdog_us;    /* WATCHDOG_USEC, 0 when systemd asks for no watchdog */
	pthread_t ticker;        /* sends WATCHDOG=1 (only when watchdog_us) */
	pthread_cond_t tick_cv;
};

enum { CRASH_NONE, CRASH_STAGE, CRASH_RENAME };

/* Ends the process at once when KILN_CRASH_AT names this point and image. */
static void crash_point(struct sched *s, int point)
{
	if (s->crash_point == point && atomic_fetch_add(&s->crash_count, 1) + 1 == s->crash_after) {
		log_warn("KILN_CRASH_AT: ending the process now, as kill -9 would");
		_exit(86);
	}
}

/* Monotonic seconds with microseconds, to time engine calls. */
static double mono_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The retry back-off after a transient engine fault: 1 s, 2 s, 4 s, ... at most 60 s. */
static int64_t backoff_ms(unsigned attempts)
{
	int64_t ms = 1000;

	for (unsigned i = 1; i < attempts && ms < 60000; i++)
		ms *= 2;
	return ms < 60000 ? ms : 60000;
}

/* One image of an engine call: the claimed job's own, or one more of its row. */
struct sched_image {
	int64_t seq;
	const char *id;
	unsigned idx;
	unsigned attempts;       /* including this one */
};

/* Whether kilnd is stopping (no more waiting for space to come back). */
static int quitting(struct sched *s)
{
	int q;

	pthread_mutex_lock(&s->mu);
	q = s->quit;
	pthread_mutex_unlock(&s->mu);
	return q;
}

/*
 * Puts a running image back to pending after a full disk, trying again
 * every second while the store cannot write either.
 */
static void requeue_full(struct worker *w, const struct sched_image *one, char *state)
{
	while (store_image_requeue(w->st, one->seq, util_now_ms(), state) == STORE_ERROR &&
	       store_disk_full(w->st) && !quitting(w->s))
		sleep(1);
}

/* Pauses the job's batch for a full disk (see the design note), and ends its other calls. */
static void pause_full(struct worker *w, const struct store_job *job, const char *why)
{
	char msg[1400];

	snprintf(msg, sizeof(msg), "%s; free space there, then resume the batch", why);
	log_error("batch %s paused: %s", job->batch_id, msg);
	while (store_batch_pause(w->st, job->batch_seq, msg, util_now_ms()) == STORE_ERROR &&
	       store_disk_full(w->st) && !quitting(w->s))
		sleep(1);
	sched_cancel_batch(w->s, job->batch_seq);
}

/*
 * Makes an engine's image durable and settles it (see sched.h).  Returns 0,
 * -1 with a message in err when the file could not be written, or -2 when
 * the disk is full (err says so).
 */
static int persist(struct worker *w, const struct store_job *job, const struct sched_image *one,
		   const struct engine_image *img, char *state, char *err, size_t errlen)
{
	struct kiln *k = w->s->k;
	char dir[1200], tmp[1500], dst[1500];
	struct store_result r;
	int rc;

	if (kiln_batch_dir(k, job->batch_id, dir, sizeof(dir)) < 0 ||
	    kiln_image_path(k, job->batch_id, one->id, img->ext, dst, sizeof(dst)) < 0 ||
	    kiln_image_tmp_path(k, job->batch_id, one->id, img->ext, tmp, sizeof(tmp)) < 0) {
		snprintf(err, errlen, "image path too long");
		return -1;
	}
	if (kiln_disk_short(k, img->len, err, errlen))
		return -2;
	if (util_mkdir_p(dir, 0750) < 0 || util_write_synced(tmp, img->data, img->len, 0640) < 0) {
		int e = errno;

		if (util_errno_full(e)) {
			kiln_disk_full_message(k, err, errlen);
			return -2;
		}
		snprintf(err, errlen, "cannot write the image: %s", strerror(e));
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.seed = img->seed;
	r.width = img->width;
	r.height = img->height;
	r.bytes = (int64_t)img->len;
	r.crc32 = (uint32_t)crc32(0L, img->data, (uInt)img->len);
	r.mime = img->mime;
	r.ext = img->ext;
	r.ignored = img->ignored;
	if (store_image_stage(w->st, one->seq, &r) != STORE_OK) {
		unlink(tmp);
		if (store_disk_full(w->st)) {
			kiln_disk_full_message(k, err, errlen);
			return -2;
		}
		snprintf(err, errlen, "cannot record the image");
		return -1;
	}
	crash_point(w->s, CRASH_STAGE);
	if (util_rename_durable(tmp, dst, dir) < 0) {
		int e = errno;

		unlink(tmp);
		if (util_errno_full(e)) {
			kiln_disk_full_message(k, err, errlen);
			return -2;
		}
		snprintf(err, errlen, "cannot move the image into place: %s", strerror(e));
		return -1;
	}
	crash_point(w->s, CRASH_RENAME);
	rc = store_image_done(w->st, one->seq, util_now_ms(), state);
	if (rc != STORE_OK) {
		if (store_disk_full(w->st)) {
			/* not done, and it will be made again: no uncounted file under its name */
			unlink(dst);
			kiln_disk_full_message(k, err, errlen);
			return -2;
		}
		snprintf(err, errlen, "cannot mark the image done");
		return -1;
	}
	return 0;
}

/* Settles one image of a call by its outcome (not ENGINE_FATAL: see run_job()). */
static void settle(struct worker *w, const struct store_job *job, const struct sched_image *one,
		   enum engine_status es, const char *err, char *state)
{
	struct kiln *k = w->s->k;
	int64_t now = util_now_ms();

	switch (es) {
	case ENGINE_OK:
		atomic_fetch_add(&w->s->made, 1);
		metrics_image(k->metrics, 1);
		log_debug("image %s of batch %s row %u #%u done", one->id, job->batch_id, job->row,
			  one->idx);
		break;
	case ENGINE_CANCELLED:
	case ENGINE_FATAL:
		store_image_requeue(w->st, one->seq, now, state);
		break;
	case ENGINE_RETRY:
		if (one->attempts < k->cfg.max_attempts) {
			log_warn("image %s of batch %s: %s (attempt %u, will retry)", one->id,
				 job->batch_id, err, one->attempts);
			store_image_retry(w->st, one->seq, now + backoff_ms(one->attempts), err);
			break;
		}
		/* out of attempts */
		/* fall through */
	case ENGINE_FAIL:
		log_warn("image %s of batch %s failed: %s", one->id, job->batch_id, err);
		if (store_image_fail(w->st, one->seq, err, now, state) == STORE_OK)
			metrics_image(k->metrics, 0);
		break;
	}
}

/*
 * Generates a claimed image, and the more images of its row claimed with it
 * (for an engine that makes several per call), in one engine call; settles
 * each, whatever the engine says.
 */
static void run_job(struct worker *w, struct store_job *job, const struct store_job_image *more,
		    unsigned nmore)
{
	struct kiln *k = w->s->k;
	struct sched_image one[ENGINE_MAX_PER_CALL];
	struct engine_item items[ENGINE_MAX_PER_CALL];
	struct engine_image img[ENGINE_MAX_PER_CALL];
	struct engine_request req;
	enum engine_status es;
	char err[512] = "", state[12] = "";
	unsigned i, n = 1 + nmore;
	double t0;

	one[0].seq = job->image_seq;
	one[0].id = job->image_id;
	one[0].idx = job->idx;
	one[0].attempts = job->attempts;
	for (i = 0; i < nmore; i++) {
		one[i + 1].seq = more[i].image_seq;
		one[i + 1].id = more[i].image_id;
		one[i + 1].idx = more[i].idx;
		one[i + 1].attempts = more[i].attempts;
	}
	for (i = 0; i < n; i++) {
		items[i].image_id = one[i].id;
		items[i].index = (int)one[i].idx;
	}
	memset(&req, 0, sizeof(req));
	memset(img, 0, sizeof(img));
	req.image_id = job->image_id;
	req.fields = &job->f;
	req.index = (int)job->idx;
	req.seed = job->f.seed;
	req.count = n;
	req.items = items;
	t0 = mono_seconds();
	es = engine_generate(&k->engine, &req, &w->cancel, img, err, sizeof(err));
	metrics_engine_call(k->metrics, mono_seconds() - t0, es);
	if (es == ENGINE_FATAL) {
		int64_t now = util_now_ms();

		log_error("batch %s failed: the engine cannot work: %s", job->batch_id, err);
		for (i = 0; i < n; i++)
			store_image_requeue(w->st, one[i].seq, now, state);
		store_batch_fail(w->st, job->batch_seq, err, now);
		/* the batch's other calls in flight end now, not one by one */
		sched_cancel_batch(w->s, job->batch_seq);
		strcpy(state, "failed");
	} else {
		char full[1200] = "";

		for (i = 0; i < n; i++) {
			enum engine_status st = es;
			char ierr[1200];
			int pr = 0;

			snprintf(ierr, sizeof(ierr), "%s", err);
			if (es == ENGINE_OK && img[i].status != ENGINE_OK) {
				st = img[i].status;
				snprintf(ierr, sizeof(ierr), "%s", img[i].error);
			}
			if (st == ENGINE_OK && full[0] == '\0')
				pr = persist(w, job, &one[i], &img[i], state, ierr, sizeof(ierr));
			if (pr == -2)
				snprintf(full, sizeof(full), "%s", ierr);
			if (st == ENGINE_OK && full[0]) {
				/* not made for want of space: pending again, no attempt counted */
				requeue_full(w, &one[i], state);
				continue;
			}
			if (pr < 0)
				st = ENGINE_RETRY;
			settle(w, job, &one[i], st, ierr, state);
		}
		if (full[0]) {
			pause_full(w, job, full);
			state[0] = '\0';
		}
	}
	if (strcmp(state, "completed") == 0 || strcmp(state, "stopped") == 0 ||
	    strcmp(state, "failed") == 0) {
		log_info("batch %s %s", job->batch_id, state);
		malloc_trim(0);
	}
	for (i = 0; i < n; i++)
		engine_image_free(&img[i]);
}

/*
 * Lowers the calling worker thread's priority by worker_nice: on Linux a
 * nice value belongs to a thread (setpriority(PRIO_PROCESS, tid)), so the
 * HTTP threads keep kilnd's own.  Generating is batch work and API latency
 * is what people feel: under a burst of requests the scheduler then runs
 * the HTTP threads first, while idle cores still go to the workers in full.
 * Only ever raised (no privilege needed); capped at 19.
 */
static void worker_lower_priority(unsigned by)
{
	pid_t tid = gettid();
	int now, want;

	if (by == 0)
		return;
	errno = 0;
	now = getpriority(PRIO_PROCESS, (id_t)tid);
	if (now == -1 && errno != 0)
		return;
	want = now + (int)by > 19 ? 19 : now + (int)by;
	if (want > now && setpriority(PRIO_PROCESS, (id_t)tid, want) != 0)
		log_warn("worker: cannot set its nice value to %d: %s", want, strerror(errno));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct sched *s = w->s;

	pthread_setname_np(pthread_self(), "kilnd-worker");     /* for top -H, ps -L and the tests */
	worker_lower_priority(s->k->cfg.worker_nice);
	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		struct store_job job;
		struct timespec until;
		int rc = s->draining ? STORE_NONE : store_claim(w->st, s->rr_seq, util_now_ms(), &job);

		if (rc == STORE_OK) {
			struct store_job_image more[ENGINE_MAX_PER_CALL - 1];
			unsigned max = engine_max_per_call(&s->k->engine, &job.f), nmore = 0;

			if (max > 1 && job.f.num_images > 1 &&
			    store_claim_row_more(w->st, &job, util_now_ms(), max - 1, more,
						 &nmore) != STORE_OK)
				nmore = 0;
			s->rr_seq = job.batch_seq;
			w->batch_seq = job.batch_seq;
			atomic_store(&w->cancel, 0);
			pthread_mutex_unlock(&s->mu);
			run_job(w, &job, more, nmore);
			sheet_fields_free(&job.f);
			pthread_mutex_lock(&s->mu);
			w->batch_seq = 0;
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&s->cv, &s->mu, &until);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* The watchdog ticker: WATCHDOG=1 every half period, after taking the scheduler's mutex. */
static void *ticker_main(void *arg)
{
	struct sched *s = arg;
	int64_t period_ms = (int64_t)(s->watchdog_us / 2000);

	if (period_ms < 1)
		period_ms = 1;
	pthread_mutex_lock(&s->mu);
	while (!s->quit) {
		struct timespec until;
		int64_t at;

		sd_notify(0, "WATCHDOG=1");
		clock_gettime(CLOCK_REALTIME, &until);
		at = (int64_t)until.tv_nsec / 1000000 + period_ms;
		until.tv_sec += at / 1000;
		until.tv_nsec = (long)(at % 1000) * 1000000;
		pthread_cond_timedwait(&s->tick_cv, &s->mu, &until);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* store_recover()'s check: the staged file is at its name, or can be renamed there. */
static int recover_file_ok(void *cls, const char *batch_id, const char *image_id,
			   const char *ext, int64_t bytes)
{
	struct kiln *k = cls;
	char dir[1200], tmp[1500], dst[1500];
	struct stat sb;

	if (kiln_batch_dir(k, batch_id, dir, sizeof(dir)) < 0 ||
	    kiln_image_path(k, batch_id, image_id, ext, dst, sizeof(dst)) < 0 ||
	    kiln_image_tmp_path(k, batch_id, image_id, ext, tmp, sizeof(tmp)) < 0)
		return 0;
	if (stat(dst, &sb) == 0)
		return sb.st_size == bytes;
	if (stat(tmp, &sb) == 0 && sb.st_size == bytes)
		return util_rename_durable(tmp, dst, dir) == 0;
	return 0;
}

/*
 * Removes the temporary files (".<name>.tmp") a crash left in the batches'
 * directories: writes never staged, or staged ones store_recover() did not
 * adopt (it renames those it adopts first).  Only before the workers start.
 * Returns how many were removed.
 */
static unsigned sweep_tmp(const struct kiln *k)
{
	char dir[1200], path[1500];
	struct dirent *e, *f;
	unsigned n = 0;
	DIR *top = opendir(k->images_dir), *d;

	if (!top)
		return 0;
	while ((e = readdir(top)) != NULL) {
		if (e->d_name[0] == '.' || kiln_batch_dir(k, e->d_name, dir, sizeof(dir)) < 0)
			continue;
		d = opendir(dir);
		if (!d)
			continue;
		while ((f = readdir(d)) != NULL) {
			size_t len = strlen(f->d_name);

			if (f->d_name[0] != '.' || len < 6 || strcmp(f->d_name + len - 4, ".tmp") != 0)
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, f->d_name) < (int)sizeof(path) &&
			    unlink(path) == 0)
				n++;
		}
		closedir(d);
	}
	closedir(top);
	return n;
}

int sched_recover(struct kiln *k, char *err, size_t errlen)
{
	struct store *st = store_pool_get(k->pool);
	unsigned adopted = 0, requeued = 0, swept;
	int rc;

	if (!st) {
		snprintf(err, errlen, "cannot open the store");
		return -1;
	}
	rc = store_recover(st, util_now_ms(), recover_file_ok, k, &adopted, &requeued);
	store_pool_put(k->pool, st);
	if (rc != STORE_OK) {
		snprintf(err, errlen, "cannot recover the images left running");
		return -1;
	}
	if (adopted || requeued)
		log_info("recovered after an unclean stop: %u image(s) were finished, %u will be"
			 " made again", adopted, requeued);
	swept = sweep_tmp(k);
	if (swept)
		log_info("removed %u temporary file(s) of image writes a crash cut short", swept);
	return 0;
}

struct sched *sched_start(struct kiln *k, char *err, size_t errlen)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->k = k;
	s->nworkers = k->cfg.workers;
	{
		const char *crash = getenv("KILN_CRASH_AT");

		if (crash && strncmp(crash, "stage:", 6) == 0) {
			s->crash_point = CRASH_STAGE;
			s->crash_after = (unsigned)strtoul(crash + 6, NULL, 10);
		} else if (crash && strncmp(crash, "rename:", 7) == 0) {
			s->crash_point = CRASH_RENAME;
			s->crash_after = (unsigned)strtoul(crash + 7, NULL, 10);
		}
	}
	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	if (!s->workers) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->tick_cv, NULL);
	if (sd_watchdog_enabled(0, &s->watchdog_us) <= 0)
		s->watchdog_us = 0;
	for (unsigned i = 0; i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];

		w->s = s;
		w->n = i;
		w->st = store_pool_get(k->pool);
		if (!w->st) {
			snprintf(err, errlen, "cannot open the store for worker %u", i);
			goto fail;
		}
	}
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0) {
			snprintf(err, errlen, "cannot start worker %u", i);
			pthread_mutex_lock(&s->mu);
			s->quit = 1;
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->mu);
			for (unsigned j = 0; j < i; j++)
				pthread_join(s->workers[j].thread, NULL);
			goto fail;
		}
	}
	if (s->watchdog_us) {
		if (pthread_create(&s->ticker, NULL, ticker_main, s) != 0) {
			log_error("cannot start the watchdog thread; systemd will not get WATCHDOG=1");
			s->watchdog_us = 0;
		} else {
			log_info("systemd watchdog: WATCHDOG=1 every %llu ms",
				 (unsigned long long)(s->watchdog_us / 2000));
		}
	}
	return s;
fail:
	for (unsigned i = 0; i < s->nworkers; i++)
		store_pool_put(k->pool, s->workers[i].st);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->tick_cv);
	free(s->workers);
	free(s);
	return NULL;
}

void sched_wake(struct sched *s)
{
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void sched_cancel_batch(struct sched *s, int64_t batch_seq)
{
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++) {
		if (s->workers[i].batch_seq == batch_seq)
			atomic_store(&s->workers[i].cancel, 1);
	}
	pthread_mutex_unlock(&s->mu);
}

uint64_t sched_images_made(struct sched *s)
{
	return atomic_load(&s->made);
}

void sched_drain(struct sched *s)
{
	pthread_mutex_lock(&s->mu);
	s->draining = 1;
	pthread_mutex_unlock(&s->mu);
}

unsigned sched_busy(struct sched *s)
{
	unsigned n = 0;

	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < s->nworkers; i++)
		n += s->workers[i].batch_seq != 0;
	pthread_mutex_unlock(&s->mu);
	return n;
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->quit = 1;
	for (unsigned i = 0; i < s->nworkers; i++)
		atomic_store(&s->workers[i].cancel, 1);
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->tick_cv);
	pthread_mutex_unlock(&s->mu);
	if (s->watchdog_us)
		pthread_join(s->ticker, NULL);
	for (unsigned i = 0; i < s->nworkers; i++) {
		pthread_join(s->workers[i].thread, NULL);
		store_pool_put(s->k->pool, s->workers[i].st);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->tick_cv);
	free(s->workers);
	free(s);
}
