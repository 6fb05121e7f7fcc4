-- 0004_ops.sql — facts about the data dir itself, for operations.
--
-- meta holds key/value facts; kilnd writes `kilnd_version` (the version
-- that last opened the data dir) at every start, so that an older kilnd
-- refusing a data dir migrated by a newer one can name the version needed.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
