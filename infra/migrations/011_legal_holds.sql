-- Legal holds (docs/archive.md "Legal hold"): an auditor's hold on every
-- event of a correlation id. Rows are placements and releases, never
-- updated; a correlation id's hold is its newest row. While it is placed,
-- every archived part holding the correlation id carries an S3 legal hold,
-- so Object Lock keeps it past its retention.
CREATE TABLE audit.legal_holds (
  id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  correlation_id text        NOT NULL CHECK (length(correlation_id) BETWEEN 1 AND 253),
  action         text        NOT NULL CHECK (action IN ('placed', 'released')),
  reason         text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 1024),
  actor          text        NOT NULL CHECK (actor <> ''),
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  -- the id of the audit event that records this row (one per row, whatever
  -- the retries)
  event_id       uuid        NOT NULL UNIQUE
);
CREATE INDEX legal_holds_correlation_idx ON audit.legal_holds (correlation_id, id);
CREATE TRIGGER legal_holds_append_only BEFORE UPDATE OR DELETE ON audit.legal_holds
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER legal_holds_no_truncate BEFORE TRUNCATE ON audit.legal_holds
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();

-- A hold is placed only when none is, released only when one is.
CREATE FUNCTION audit.legal_holds_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, audit AS $$
DECLARE
  prev text;
BEGIN
  SELECT action INTO prev FROM audit.legal_holds WHERE correlation_id = NEW.correlation_id ORDER BY id DESC LIMIT 1;
  IF NEW.action = 'placed' AND prev = 'placed' THEN
    RAISE EXCEPTION 'legal hold on % is already placed', NEW.correlation_id USING ERRCODE = 'AU003';
  ELSIF NEW.action = 'released' AND prev IS DISTINCT FROM 'placed' THEN
    RAISE EXCEPTION 'no legal hold on % to release', NEW.correlation_id USING ERRCODE = 'AU003';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER legal_holds_transition BEFORE INSERT ON audit.legal_holds
  FOR EACH ROW EXECUTE FUNCTION audit.legal_holds_transition();

GRANT SELECT, INSERT ON audit.legal_holds TO auditfn_app;

-- The holds in force: each correlation id's newest row, when it placed one.
CREATE VIEW audit.active_legal_holds AS
  SELECT * FROM (SELECT DISTINCT ON (correlation_id) * FROM audit.legal_holds ORDER BY correlation_id, id DESC) newest
   WHERE action = 'placed';
GRANT SELECT ON audit.active_legal_holds TO auditfn_app;

-- The archived parts (from 'uploaded' on, when the object exists) that hold
-- events of correlation id c: through archive_correlations once a part is
-- verified, through its hot rows before (they are dropped only after).
CREATE FUNCTION audit.correlation_parts(c text)
RETURNS TABLE (event_date date, part integer, object_key text, object_version text)
LANGUAGE sql STABLE SET search_path = pg_catalog, audit AS $$
  SELECT a.event_date, a.part, a.object_key, a.object_version FROM audit.archive_days a
   WHERE a.state = 'uploaded'
     AND (EXISTS (SELECT FROM audit.archive_correlations x
                   WHERE x.correlation_id = c AND x.event_date = a.event_date AND x.part = a.part)
          OR EXISTS (SELECT FROM audit.audit_events e
                      WHERE e.correlation_id = c AND e.event_date = a.event_date
                        AND e.ledger_seq > a.seq_after AND e.ledger_seq <= a.seq_through))
   ORDER BY a.event_date, a.part
$$;
GRANT EXECUTE ON FUNCTION audit.correlation_parts(text) TO auditfn_app;
