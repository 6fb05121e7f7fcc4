-- 0003_events.sql — batch events (the /v1/events stream) and the durable
-- webhook outbox.
--
-- An event is written in the same transaction as the state change that
-- causes it (store/store_events.c), so no change is ever committed without
-- its event, and a crash loses neither.  `id` is AUTOINCREMENT: ids only grow
-- and are never reused, even after old events are pruned, so a client's
-- Last-Event-ID always means "everything after this".  `data` is the JSON
-- object sent as the event's `data:` and as a webhook's body.
--
-- Retention: events older than events.retention_days (7 by default) are
-- deleted by the webhook thread's hourly housekeeping, except those whose
-- webhook is still being delivered; finished outbox rows go at the same age.

CREATE TABLE events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id TEXT NOT NULL,
	batch_id   TEXT NOT NULL,
	type       TEXT NOT NULL CHECK (type IN ('batch.created', 'batch.started', 'batch.progress',
	                                         'batch.stopped', 'batch.completed', 'batch.failed')),
	data       TEXT NOT NULL,                  -- JSON object
	at         INTEGER NOT NULL                -- ms since the epoch
);
CREATE INDEX events_account ON events(account_id, id);
CREATE INDEX events_at ON events(at);

-- One row per webhook delivery (a terminal event of a batch started with a
-- webhook_url), written with its event; the delivery thread works through
-- the pending ones, so a delivery survives a restart.
CREATE TABLE webhook_outbox (
	seq          INTEGER PRIMARY KEY,
	event_id     INTEGER NOT NULL,
	batch_id     TEXT NOT NULL,
	type         TEXT NOT NULL,
	url          TEXT NOT NULL,
	body         TEXT NOT NULL,
	state        TEXT NOT NULL DEFAULT 'pending'
	             CHECK (state IN ('pending', 'delivered', 'failed')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      INTEGER NOT NULL,             -- ms: the next attempt is due
	created_at   INTEGER NOT NULL,
	delivered_at INTEGER,
	last_status  INTEGER,                      -- HTTP status of the last attempt (0: none)
	last_error   TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_at) WHERE state = 'pending';
