-- The audit store: an append-only, day-partitioned event table, the global
-- exactly-once key table and the hash-chain ledger. See docs/integrity.md.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'auditfn_app') THEN
    CREATE ROLE auditfn_app LOGIN;
  END IF;
END $$;

CREATE SCHEMA audit;
GRANT USAGE ON SCHEMA audit TO auditfn_app;

-- Rejects every UPDATE, DELETE and TRUNCATE: the audit trail is append-only
-- in the database itself, whoever the caller is. Only dropping a whole,
-- verified-archived partition (archive/) removes rows.
CREATE FUNCTION audit.reject_mutation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit tables are append-only: % on %.% rejected', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TABLE audit.audit_events (
  event_id       uuid        NOT NULL,
  event_time     timestamptz NOT NULL,
  event_date     date        NOT NULL,
  event_type     text        NOT NULL,
  event_category text        NOT NULL,
  event_action   text        NOT NULL,
  event_outcome  text        NOT NULL,
  source         text        NOT NULL,
  subject        text        NOT NULL,
  correlation_id text        NOT NULL,
  actor_type     text        NOT NULL,
  actor_id       text        NOT NULL,
  resource_type  text        NOT NULL,
  resource_id    text        NOT NULL,
  namespace      text        NOT NULL,
  cluster_id     text        NOT NULL,
  workflow_id    text        NOT NULL,
  trace_parent   text        NOT NULL,
  event_data     jsonb       NOT NULL,
  received_at    timestamptz NOT NULL,
  -- integrity columns: the ledger batch that committed the row, the row's
  -- position in it and SHA-256 of the row's canonical bytes.
  ledger_seq     bigint      NOT NULL,
  ledger_pos     integer     NOT NULL,
  event_hash     bytea       NOT NULL CHECK (length(event_hash) = 32),
  CHECK (event_date = (event_time AT TIME ZONE 'UTC')::date)
) PARTITION BY RANGE (event_date);

CREATE INDEX audit_events_correlation_idx ON audit.audit_events (correlation_id, event_time);
CREATE INDEX audit_events_type_idx        ON audit.audit_events (event_type, event_time);
CREATE INDEX audit_events_resource_idx    ON audit.audit_events (resource_id, event_time);
CREATE INDEX audit_events_workflow_idx    ON audit.audit_events (workflow_id, event_time) WHERE workflow_id <> '';
CREATE INDEX audit_events_time_idx        ON audit.audit_events (event_time);
CREATE INDEX audit_events_ledger_idx      ON audit.audit_events (ledger_seq, ledger_pos);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit.audit_events
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit.audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();

GRANT SELECT, INSERT ON audit.audit_events TO auditfn_app;

-- Every (source, id) ever accepted, kept after its day is archived, so a
-- redelivery is recognised however late it comes.
CREATE TABLE audit.event_keys (
  event_id   uuid NOT NULL,
  source     text NOT NULL,
  event_date date NOT NULL,
  PRIMARY KEY (event_id, source)
);
CREATE TRIGGER event_keys_append_only BEFORE UPDATE OR DELETE ON audit.event_keys
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER event_keys_no_truncate BEFORE TRUNCATE ON audit.event_keys
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, INSERT ON audit.event_keys TO auditfn_app;

-- One row per committed batch; batch_hash chains to the previous row.
CREATE TABLE audit.ledger (
  seq           bigint      PRIMARY KEY CHECK (seq > 0),
  prev_hash     bytea       NOT NULL CHECK (length(prev_hash) = 32),
  event_count   integer     NOT NULL CHECK (event_count > 0),
  events_digest bytea       NOT NULL CHECK (length(events_digest) = 32),
  committed_at  timestamptz NOT NULL,
  batch_hash    bytea       NOT NULL CHECK (length(batch_hash) = 32)
);
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON audit.ledger
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON audit.ledger
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT, INSERT ON audit.ledger TO auditfn_app;

-- Creates the day partition for d if it is missing. SECURITY DEFINER so the
-- application role, which may not create tables, never fails an insert for
-- want of a partition. Statement triggers are not cloned to partitions, so
-- the TRUNCATE guard is added to each partition here.
CREATE FUNCTION audit.ensure_partition(d date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit AS $$
DECLARE
  part text := format('audit_events_%s', to_char(d, 'YYYYMMDD'));
BEGIN
  IF to_regclass(format('audit.%I', part)) IS NOT NULL THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('audit.ensure_partition'));
  IF to_regclass(format('audit.%I', part)) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.audit_events FOR VALUES FROM (%L) TO (%L)',
                 part, d, d + 1);
  EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON audit.%I FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation()',
                 part);
END $$;
REVOKE ALL ON FUNCTION audit.ensure_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.ensure_partition(date) TO auditfn_app;
