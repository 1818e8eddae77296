-- The Merkle tree over the ledger (docs/integrity.md §7): leaves are the
-- events' hashes in ledger order (ledger_seq, ledger_pos). The collector's
-- committer only sequences (audit.ledger); one integrator at a time, off the
-- commit path, appends each new batch's events to the tree, stores its tiles
-- here and signs C2SP checkpoints of it. Full tiles and every checkpoint are
-- also published to the Object Lock bucket, which is what makes them
-- evidence: rows here can be rewritten by whoever owns the database.

-- Where each ledger batch's events start in the tree, written as the batch
-- is integrated: event (seq, pos) is leaf first_leaf + pos.
CREATE TABLE audit.tree_batches (
  seq        bigint PRIMARY KEY CHECK (seq > 0),
  first_leaf bigint NOT NULL UNIQUE CHECK (first_leaf >= 0)
);
CREATE TRIGGER tree_batches_append_only BEFORE UPDATE OR DELETE ON audit.tree_batches
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER tree_batches_no_truncate BEFORE TRUNCATE ON audit.tree_batches
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, INSERT ON audit.tree_batches TO auditfn_app;

-- C2SP tlog-tiles: tile (level, idx) holds the hashes of the tree's nodes at
-- height 8·level, indices 256·idx … 256·idx+255, concatenated (32 bytes
-- each). A partial tile grows until it holds 256; a full one never changes.
CREATE TABLE audit.tree_tiles (
  level  smallint NOT NULL CHECK (level >= 0),
  idx    bigint   NOT NULL CHECK (idx >= 0),
  hashes bytea    NOT NULL CHECK (length(hashes) BETWEEN 32 AND 8192 AND length(hashes) % 32 = 0),
  PRIMARY KEY (level, idx)
);
CREATE FUNCTION audit.tree_tiles_grow_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND length(NEW.hashes) > length(OLD.hashes)
     AND substring(NEW.hashes FROM 1 FOR length(OLD.hashes)) = OLD.hashes
     AND NEW.level = OLD.level AND NEW.idx = OLD.idx THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'tree tiles only grow: % on tile rejected', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER tree_tiles_grow_only BEFORE UPDATE OR DELETE ON audit.tree_tiles
  FOR EACH ROW EXECUTE FUNCTION audit.tree_tiles_grow_only();
CREATE TRIGGER tree_tiles_no_truncate BEFORE TRUNCATE ON audit.tree_tiles
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, INSERT, UPDATE ON audit.tree_tiles TO auditfn_app;

-- The integrator's position: the tree holds `size` leaves, the events of
-- every batch up to `seq`; `frontier` is its compact range (the roots of
-- its perfect subtrees, left to right), from which the next append goes on.
-- `published` is the size of the newest checkpoint in the bucket, with
-- every full tile below it.
CREATE TABLE audit.tree_head (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  size      bigint  NOT NULL CHECK (size >= 0),
  seq       bigint  NOT NULL CHECK (seq >= 0),
  frontier  bytea   NOT NULL CHECK (length(frontier) % 32 = 0),
  published bigint  NOT NULL DEFAULT 0 CHECK (published >= 0)
);
INSERT INTO audit.tree_head (size, seq, frontier) VALUES (0, 0, '');
CREATE FUNCTION audit.tree_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.size >= OLD.size AND NEW.seq >= OLD.seq AND NEW.published >= OLD.published THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'the tree head only moves forward: % rejected', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER tree_head_forward_only BEFORE UPDATE OR DELETE ON audit.tree_head
  FOR EACH ROW EXECUTE FUNCTION audit.tree_head_forward_only();
CREATE TRIGGER tree_head_no_truncate BEFORE TRUNCATE ON audit.tree_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, UPDATE ON audit.tree_head TO auditfn_app;

-- Every signed checkpoint (a C2SP signed note of the tree's size and root),
-- one per size.
CREATE TABLE audit.tree_checkpoints (
  size      bigint      PRIMARY KEY CHECK (size > 0),
  root      bytea       NOT NULL CHECK (length(root) = 32),
  note      bytea       NOT NULL,
  signed_at timestamptz NOT NULL
);
CREATE TRIGGER tree_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit.tree_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER tree_checkpoints_no_truncate BEFORE TRUNCATE ON audit.tree_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, INSERT ON audit.tree_checkpoints TO auditfn_app;
