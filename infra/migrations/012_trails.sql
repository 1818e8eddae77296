-- The trail index (docs/integrity.md §9): a sparse Merkle map from each
-- correlation id to what its events are in the tree (count, newest leaf,
-- rolling hash), updated by the integrator in the transaction that appends
-- the leaves and signs the checkpoint committing to its root. Its nodes are
-- content-addressed (SHA-256 digest → node, as pokt-network/smt writes
-- them); the integrator deletes the nodes no longer reachable, so the rows
-- are the map of the newest checkpoint. They are derived data, not
-- evidence: a reader checks what it reads against the signed root, and the
-- whole verify rebuilds the map from the events.
CREATE TABLE audit.trail_nodes (
  digest bytea PRIMARY KEY CHECK (length(digest) = 32),
  node   bytea NOT NULL
);
GRANT SELECT, INSERT, DELETE ON audit.trail_nodes TO auditfn_app;

-- The map's root and the last ledger batch it holds (an installation that
-- built its tree before this migration indexes those batches first).
ALTER TABLE audit.tree_head
  ADD COLUMN trails    bytea  NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000' CHECK (length(trails) = 32),
  ADD COLUMN trail_seq bigint NOT NULL DEFAULT 0 CHECK (trail_seq >= 0);

CREATE OR REPLACE FUNCTION audit.tree_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.size >= OLD.size AND NEW.seq >= OLD.seq AND NEW.published >= OLD.published
     AND NEW.trail_seq >= OLD.trail_seq THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the tree head only moves forward: % rejected', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
