-- 0001_init.sql — accounts, the credits ledger, batches, rows and images.
--
-- Times are milliseconds since the epoch (UTC); the API formats them.
-- Every state column is checked against the states of api.md.
-- The credits of an account are always: available + reserved + charged =
-- the sum of its grants; every change is one ledger line, so a balance can
-- be recomputed from the ledger (store_ledger_check()).

CREATE TABLE accounts (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	token_hash    TEXT UNIQUE,            -- hex SHA-256 of the bearer token
	is_admin      INTEGER NOT NULL DEFAULT 0,
	credits_available INTEGER NOT NULL DEFAULT 0,
	credits_reserved  INTEGER NOT NULL DEFAULT 0,
	credits_charged   INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

CREATE TABLE ledger (
	seq        INTEGER PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts(id),
	kind       TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'release')),
	amount     INTEGER NOT NULL,
	batch_id   TEXT,
	image_id   TEXT,
	at         INTEGER NOT NULL
);
CREATE INDEX ledger_account ON ledger(account_id, seq);

CREATE TABLE batches (
	seq              INTEGER PRIMARY KEY AUTOINCREMENT,
	id               TEXT NOT NULL UNIQUE,
	account_id       TEXT NOT NULL REFERENCES accounts(id),
	name             TEXT NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('draft', 'queued', 'running', 'stopping',
	                                               'stopped', 'completed', 'failed')),
	format           TEXT NOT NULL,
	engine           TEXT NOT NULL,
	nrows            INTEGER NOT NULL,
	images_total     INTEGER NOT NULL,
	images_done      INTEGER NOT NULL DEFAULT 0,
	images_failed    INTEGER NOT NULL DEFAULT 0,
	cost_per_image   INTEGER NOT NULL,
	credits_reserved INTEGER NOT NULL DEFAULT 0,   -- held now for images not yet settled
	credits_charged  INTEGER NOT NULL DEFAULT 0,
	warnings         TEXT NOT NULL DEFAULT '[]',   -- JSON array of the upload's warnings
	webhook_url      TEXT,
	error            TEXT,                         -- why a batch failed
	idempotency_key  TEXT,
	created_at       INTEGER NOT NULL,
	started_at       INTEGER,
	finished_at      INTEGER,
	run_started_at   INTEGER,                      -- last start or resume, for the ETA
	run_done_base    INTEGER NOT NULL DEFAULT 0,   -- images settled at that moment
	UNIQUE (account_id, idempotency_key)
);
CREATE INDEX batches_account ON batches(account_id, seq);
CREATE INDEX batches_active ON batches(seq) WHERE state IN ('queued', 'running');

CREATE TABLE batch_rows (
	batch_seq       INTEGER NOT NULL REFERENCES batches(seq) ON DELETE CASCADE,
	row             INTEGER NOT NULL,              -- as the user sees it, header = 1
	prompt          TEXT NOT NULL,
	visibility      TEXT NOT NULL,
	aspect_ratio    TEXT NOT NULL,
	magic_prompt    TEXT NOT NULL,
	model           TEXT NOT NULL,
	seed            INTEGER,                       -- NULL: the engine picks
	rendering       TEXT NOT NULL,
	negative_prompt TEXT NOT NULL,
	style           TEXT NOT NULL,
	color_palette   TEXT,
	num_images      INTEGER NOT NULL,
	PRIMARY KEY (batch_seq, row)
) WITHOUT ROWID;

CREATE TABLE images (
	seq         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	batch_seq   INTEGER NOT NULL REFERENCES batches(seq) ON DELETE CASCADE,
	row         INTEGER NOT NULL,
	idx         INTEGER NOT NULL,                  -- 1..num_images
	state       TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	not_before  INTEGER NOT NULL DEFAULT 0,        -- retry back-off
	error       TEXT,
	staged      INTEGER NOT NULL DEFAULT 0,        -- 1: its file is written; see store_recover()
	seed        INTEGER,
	width       INTEGER,
	height      INTEGER,
	bytes       INTEGER,
	crc32       INTEGER,
	mime        TEXT,
	ext         TEXT,
	ignored     TEXT,
	created_at  INTEGER,                           -- when it was finished
	UNIQUE (batch_seq, row, idx)
);
CREATE INDEX images_work ON images(batch_seq, state, row, idx);
CREATE INDEX images_running ON images(state) WHERE state = 'running';
CREATE INDEX images_done_at ON images(batch_seq, created_at) WHERE state = 'done';
