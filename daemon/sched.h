/*
 * sched.h — the scheduler and its worker pool.
 *
 * DESIGN
 * cfg.workers threads, each with its own store connection, loop: claim the
 * next image (store_claim(), round-robin over the active batches so that a
 * small batch started beside a big one is not kept waiting) and, when the
 * engine makes several images per call (engine_max_per_call()), the other
 * pending images of its row (store_claim_row_more()); generate them through
 * the engine in one call, make each durable, settle each.  Claims happen under the
 * scheduler's mutex, which also guards each worker's current batch, so that
 * sched_cancel_batch() reaches every worker busy with a stopped batch: the
 * engine sees its cancel flag within 50 ms and the image goes back to
 * pending.  An engine that reports itself unusable (ENGINE_FATAL: a refused
 * key) fails the batch and cancels its other calls in flight at once.  A
 * worker with nothing to do sleeps on a condition variable until
 * sched_wake() (a batch was started or resumed) or a one-second tick (retry
 * back-offs coming due).
 *
 * Durability of one image, in order: bytes to <image>.png.tmp, fsync;
 * store_image_stage() records size and CRC; rename to <image>.png and fsync
 * of the directory; store_image_done() marks it done and charges its credit
 * in one transaction.  sched_recover() (at start-up, before the workers)
 * finishes what a crash interrupted between those steps.
 *
 * Shutdown (SIGTERM) is in two steps: sched_drain() stops the workers
 * claiming new images, main.c waits while sched_busy() says engine calls are
 * in flight (up to shutdown_timeout), then sched_stop() cancels what is left
 * (those images go back to pending and are made after a restart).
 *
 * The systemd watchdog: when the service manager asks for one (WATCHDOG_USEC,
 * sd_watchdog_enabled()), a ticker thread of the scheduler sends WATCHDOG=1
 * every half period, each time after taking the scheduler's mutex, so a
 * deadlocked scheduler stops the pings and systemd restarts kilnd.  An
 * engine call that hangs is not the watchdog's business: engines bound their
 * calls with their own timeouts.
 */
#ifndef KILN_SCHED_H
#define KILN_SCHED_H

#include <stddef.h>
#include <stdint.h>

struct kiln;
struct sched;

/*
 * Finishes or requeues the images a crash left running (see store_recover());
 * call once before sched_start().  Returns 0 or -1 with a message in err.
 */
int sched_recover(struct kiln *k, char *err, size_t errlen);

/* Starts the workers; NULL with a message in err on failure. */
struct sched *sched_start(struct kiln *k, char *err, size_t errlen);

/* Wakes idle workers: there is new work. */
void sched_wake(struct sched *s);

/* Cancels the engine calls in flight for a batch (after it was stopped). */
void sched_cancel_batch(struct sched *s, int64_t batch_seq);

/* Images generated since start (for logs and the benchmark). */
uint64_t sched_images_made(struct sched *s);

/* Stops claiming new images (shutdown); calls in flight go on. */
void sched_drain(struct sched *s);

/* The number of workers with an engine call in flight. */
unsigned sched_busy(struct sched *s);

/* Cancels every call in flight, waits for the workers and frees everything. */
void sched_stop(struct sched *s);

#endif
