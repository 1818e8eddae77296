-- The archive as a Trino table (catalog: auditfn_archive.properties).
-- Replace auditfn-archive with the bucket of AUDITFN_S3_BUCKET.
CREATE SCHEMA IF NOT EXISTS auditfn_archive.audit;

-- Columns as audit.audit_events, typed as in the Parquet files
-- (docs/archive.md §2). event_date is the Hive partition column: its value
-- comes from the path audit_events/event_date=YYYY-MM-DD/; the same column
-- inside each file is ignored by Trino (and used by hash recomputation).
-- event_salt is absent from parts archived before it existed: Trino reads
-- it as NULL there, by name.
-- Timestamps are UTC (Parquet isAdjustedToUTC=true); the Hive connector has
-- no "with time zone" column type.
CREATE TABLE IF NOT EXISTS auditfn_archive.audit.audit_events (
  event_id       varchar,
  event_time     timestamp(6),
  event_type     varchar,
  event_category varchar,
  event_action   varchar,
  event_outcome  varchar,
  source         varchar,
  subject        varchar,
  correlation_id varchar,
  actor_type     varchar,
  actor_id       varchar,
  resource_type  varchar,
  resource_id    varchar,
  namespace      varchar,
  cluster_id     varchar,
  workflow_id    varchar,
  trace_parent   varchar,
  event_data     varchar,
  received_at    timestamp(6),
  ledger_seq     bigint,
  ledger_pos     integer,
  event_hash     varbinary,
  event_salt     varbinary,
  event_date     date
)
WITH (
  external_location = 's3://auditfn-archive/audit_events/',
  format = 'PARQUET',
  partitioned_by = ARRAY['event_date']
);

-- Registers the event_date=... directories as partitions; run it again
-- after each compaction (manifests under _manifests/ are hidden from Hive).
CALL auditfn_archive.system.sync_partition_metadata('audit', 'audit_events', 'ADD');

-- Example: one remediation's trail.
-- SELECT event_time, event_type, event_outcome, actor_id
--   FROM auditfn_archive.audit.audit_events
--  WHERE event_date BETWEEN DATE '2026-11-01' AND DATE '2026-11-30'
--    AND correlation_id = 'rr-2026-11-03-0042'
--  ORDER BY event_time;
