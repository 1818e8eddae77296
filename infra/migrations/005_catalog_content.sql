-- Each workflow version's content as the exact canonical JSON its
-- content_hash is the SHA-256 of (docs/decisions.md, "Snapshot load hashes
-- the stored content"). A function loading its snapshot hashes these bytes
-- instead of re-encoding every document, which was half of its start-up.
-- Rows saved before this migration have none until the catalog loader runs
-- again; until then snapshots compute it from document, the slower way.
ALTER TABLE catalog.workflows ADD COLUMN content text;
