---- tern: disable-tx ----
-- Date-scoped verification looks up the ledger batches committed that day
-- (docs/integrity.md §3). Without this index it read the whole ledger, which
-- gains a row per commit for as long as the system runs. Built concurrently,
-- outside a transaction, so collectors keep committing while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS ledger_committed_at_idx ON audit.ledger (committed_at);
