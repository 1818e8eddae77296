-- Which archived parts hold which correlation ids, so that a correlation-id
-- query over the cold tier reads only those parts instead of every part of
-- its time range. Filled when a part is verified (its rows are still hot
-- then); append-only like the rest of the audit schema.

CREATE TABLE audit.archive_correlations (
  correlation_id text    NOT NULL,
  event_date     date    NOT NULL,
  part           integer NOT NULL,
  PRIMARY KEY (correlation_id, event_date, part)
);
CREATE TRIGGER archive_correlations_append_only BEFORE UPDATE OR DELETE ON audit.archive_correlations
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER archive_correlations_no_truncate BEFORE TRUNCATE ON audit.archive_correlations
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();
GRANT SELECT ON audit.archive_correlations TO auditfn_app;

CREATE FUNCTION audit.index_archived_part() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit AS $$
BEGIN
  INSERT INTO audit.archive_correlations (correlation_id, event_date, part)
  SELECT DISTINCT correlation_id, NEW.event_date, NEW.part FROM audit.audit_events
   WHERE event_date = NEW.event_date AND ledger_seq > NEW.seq_after AND ledger_seq <= NEW.seq_through
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER archive_days_index_correlations AFTER INSERT ON audit.archive_days
  FOR EACH ROW WHEN (NEW.state = 'verified') EXECUTE FUNCTION audit.index_archived_part();
