-- Witness cosignatures of the tree's checkpoints (docs/integrity.md §7,
-- Witnesses): the collector pushes each new checkpoint to the witnesses of
-- its policy (C2SP tlog-witness) and keeps each cosignature line a witness
-- returns, one per checkpoint and witness key. The cosigned note is the
-- checkpoint's note with these lines appended (tlog.Latest). Append-only:
-- a witness that answers late adds its line, none is ever replaced.
CREATE TABLE audit.tree_cosignatures (
  size        bigint      NOT NULL REFERENCES audit.tree_checkpoints (size),
  witness     text        NOT NULL, -- the key: <name>+<key hash, 8 hex digits>
  line        text        NOT NULL CHECK (line LIKE '— %' AND right(line, 1) = E'\n'),
  received_at timestamptz NOT NULL,
  PRIMARY KEY (size, witness)
);
CREATE TRIGGER tree_cosignatures_append_only BEFORE UPDATE OR DELETE ON audit.tree_cosignatures
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER tree_cosignatures_no_truncate BEFORE TRUNCATE ON audit.tree_cosignatures
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, INSERT ON audit.tree_cosignatures TO auditfn_app;
