-- 0002_accounts.sql — accounts made by the admin, the cost of each row, an
-- append-only ledger.
--
-- The cost of one image now depends on its row's model and rendering (the
-- config's cost table), so each row keeps the cost it had when it was
-- uploaded and a batch keeps the total (credits_required); a change of the
-- config never changes what an uploaded batch costs.  Rows and batches made
-- before this migration cost what their batch's cost_per_image said.
--
-- An account may have limits of its own, set by the admin; NULL means the
-- config's.  Account names are unique, so that `kilnd account credit NAME` is not
-- ambiguous.  The ledger cannot be changed or shortened: every balance is
-- recomputed from it (store_ledger_check()), so triggers refuse UPDATE and
-- DELETE on it.

ALTER TABLE batch_rows ADD COLUMN cost INTEGER NOT NULL DEFAULT 0;
UPDATE batch_rows SET cost = (SELECT b.cost_per_image FROM batches b
                              WHERE b.seq = batch_rows.batch_seq);

ALTER TABLE batches ADD COLUMN credits_required INTEGER NOT NULL DEFAULT 0;
UPDATE batches SET credits_required = images_total * cost_per_image;

ALTER TABLE accounts ADD COLUMN token_set_at INTEGER;
-- an account's own limits; NULL: the config's (max_active_batches, ...)
ALTER TABLE accounts ADD COLUMN max_active_batches INTEGER;
ALTER TABLE accounts ADD COLUMN max_queued_images INTEGER;
ALTER TABLE accounts ADD COLUMN max_upload_bytes INTEGER;
UPDATE accounts SET token_set_at = created_at;
CREATE UNIQUE INDEX accounts_name ON accounts(name);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
	SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
	SELECT RAISE(ABORT, 'the ledger is append-only');
END;
