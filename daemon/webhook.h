/*
 * webhook.h — webhook deliveries: the URL guard, the signature, the
 * delivery thread working through the store's durable outbox.
 *
 * DESIGN
 * A delivery is a row of webhook_outbox, written in the transaction that
 * writes the terminal event of a batch started with a webhook_url (see
 * store_event_emit()), so it survives a crash or a restart.  Four threads
 * ("lanes") each take the due rows of their share (seq % 4, so no row is
 * ever taken twice and a slow receiver holds up a quarter of the others at
 * most), POST each body with libcurl, and record the attempt: delivered on
 * a 2xx, else retried after 1 s, 2 s, 4 s, ... (at most 10 minutes apart)
 * until webhooks.retry_seconds have passed since the event, then given up.
 * A lane sleeps until its next row is due or webhooks_wake() (a commit
 * wrote a delivery).
 *
 * Server-side request forgery: the host of a URL is resolved and every
 * address checked; loopback, private, link-local, shared (CGNAT),
 * multicast, reserved and unspecified ranges of IPv4 and IPv6 (and IPv4
 * inside IPv6) are refused unless webhooks.allow_private is set.  The
 * check runs when a batch is started (the client gets a 400 saying why) and
 * again at each delivery, and curl is pinned to the address that was
 * checked (CURLOPT_RESOLVE) with proxies and redirects off, so a DNS answer
 * that changes between the check and the connection cannot reach an inside
 * address.
 *
 * Signature headers (key: webhook_secret, or <data_dir>/webhook.secret made
 * at first start when the config has none):
 *   X-Kiln-Signature: sha256=<hex HMAC-SHA256(key, body)>
 *   X-Kiln-Timestamp: <unix seconds of this attempt>
 *   X-Kiln-Timestamp-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>
 * and X-Kiln-Event (the type), X-Kiln-Event-Id, X-Kiln-Delivery (the same
 * on every retry of one delivery, for de-duplication).
 */
#ifndef KILN_WEBHOOK_H
#define KILN_WEBHOOK_H

#include <stddef.h>

struct kiln;
struct config;
struct webhooks;

/* Loads the signing key and starts the delivery thread; NULL with a message in err. */
struct webhooks *webhooks_start(struct kiln *k, char *err, size_t errlen);

/* Wakes the delivery thread: a delivery was written. */
void webhooks_wake(struct webhooks *w);

/* Ends the thread (a delivery in flight is abandoned and retried after a restart). */
void webhooks_stop(struct webhooks *w);

/*
 * Checks a webhook URL as a client gives it: http or https, a host, no user
 * name or password, and every address the host resolves to allowed by the
 * config.  A host that cannot be resolved now passes (DNS may be down for a
 * moment; each delivery checks again).  Returns 0, or -1 with a message for
 * the client in err.
 */
int webhooks_check_url(const struct config *cfg, const char *url, char *err, size_t errlen);

/* The hex HMAC-SHA256 of data under key into out[65]. */
void webhooks_hmac_hex(const char *key, const void *data, size_t len, char *out);

#endif
