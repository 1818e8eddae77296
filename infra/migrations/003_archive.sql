-- The archive (docs/archive.md): compaction progress of cold days, and the
-- only way rows ever leave audit.audit_events — dropping a day partition whose
-- rows are all in a verified, locked archive.

-- One row per state transition of one archive part of one day, never updated:
-- a day's progress is the newest row of each of its parts. Part n holds the
-- day's events with ledger_seq in (seq_after, seq_through]; seq_through is
-- the ledger head when the part was started, so the set is final (ledger
-- appends are serialised, and every later commit gets a higher seq).
CREATE TABLE audit.archive_days (
  event_date      date        NOT NULL,
  part            integer     NOT NULL CHECK (part > 0),
  state           text        NOT NULL CHECK (state IN ('writing', 'uploaded', 'manifested', 'verified', 'dropped')),
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  seq_after       bigint      NOT NULL CHECK (seq_after >= 0),
  seq_through     bigint      NOT NULL CHECK (seq_through > seq_after),
  object_key      text        NOT NULL,
  -- known from 'uploaded' on
  object_version  text,
  object_size     bigint,
  object_sha256   bytea CHECK (length(object_sha256) = 32),
  row_count       bigint CHECK (row_count > 0),
  events_digest   bytea CHECK (length(events_digest) = 32),
  min_event_time  timestamptz,
  max_event_time  timestamptz,
  -- known from 'manifested' on
  manifest_seq    bigint CHECK (manifest_seq > 0),
  manifest_key    text,
  manifest_sha256 bytea CHECK (length(manifest_sha256) = 32),
  PRIMARY KEY (event_date, part, state),
  CHECK (state = 'writing' OR (object_version IS NOT NULL AND object_size IS NOT NULL AND object_sha256 IS NOT NULL
         AND row_count IS NOT NULL AND events_digest IS NOT NULL AND min_event_time IS NOT NULL AND max_event_time IS NOT NULL)),
  CHECK (state IN ('writing', 'uploaded') OR (manifest_seq IS NOT NULL AND manifest_key IS NOT NULL AND manifest_sha256 IS NOT NULL))
);
-- Manifests form one chain: each 'manifested' row takes the next position.
CREATE UNIQUE INDEX archive_days_manifest_seq ON audit.archive_days (manifest_seq) WHERE state = 'manifested';

CREATE TRIGGER archive_days_append_only BEFORE UPDATE OR DELETE ON audit.archive_days
  FOR EACH ROW EXECUTE FUNCTION audit.reject_mutation();
CREATE TRIGGER archive_days_no_truncate BEFORE TRUNCATE ON audit.archive_days
  FOR EACH STATEMENT EXECUTE FUNCTION audit.reject_mutation();

-- Keeps every part on the path writing → uploaded → manifested → verified →
-- dropped, with the same range and object throughout; a new part starts where
-- the previous one ends, and only after it is verified. 'dropped' is written
-- only by audit.drop_archived_day, together with the drop itself.
CREATE FUNCTION audit.archive_days_transition() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, audit AS $$
DECLARE
  states constant text[] := ARRAY['writing', 'uploaded', 'manifested', 'verified', 'dropped'];
  prev audit.archive_days;
  before audit.archive_days;
BEGIN
  IF NEW.state = 'dropped' AND current_user = 'auditfn_app' THEN
    RAISE EXCEPTION 'archive_days: only audit.drop_archived_day records a drop'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT * INTO prev FROM audit.archive_days
   WHERE event_date = NEW.event_date AND part = NEW.part
   ORDER BY array_position(states, state) DESC LIMIT 1;
  IF NOT FOUND THEN
    IF NEW.state <> 'writing' THEN
      RAISE EXCEPTION 'archive_days: part % of % must start in state writing', NEW.part, NEW.event_date;
    END IF;
    SELECT * INTO before FROM audit.archive_days
     WHERE event_date = NEW.event_date AND part = NEW.part - 1
     ORDER BY array_position(states, state) DESC LIMIT 1;
    IF NEW.part = 1 AND NEW.seq_after <> 0 THEN
      RAISE EXCEPTION 'archive_days: part 1 of % must start after ledger_seq 0', NEW.event_date;
    ELSIF NEW.part > 1 AND (NOT FOUND OR before.state NOT IN ('verified', 'dropped') OR before.seq_through <> NEW.seq_after) THEN
      RAISE EXCEPTION 'archive_days: part % of % must follow a verified part % ending at ledger_seq %',
        NEW.part, NEW.event_date, NEW.part - 1, NEW.seq_after;
    END IF;
    RETURN NEW;
  END IF;
  IF array_position(states, NEW.state) <> array_position(states, prev.state) + 1 THEN
    RAISE EXCEPTION 'archive_days: part % of % cannot go from % to %', NEW.part, NEW.event_date, prev.state, NEW.state;
  END IF;
  IF (NEW.seq_after, NEW.seq_through, NEW.object_key) IS DISTINCT FROM (prev.seq_after, prev.seq_through, prev.object_key)
     OR (prev.state <> 'writing' AND (NEW.object_version, NEW.object_sha256, NEW.row_count, NEW.events_digest)
         IS DISTINCT FROM (prev.object_version, prev.object_sha256, prev.row_count, prev.events_digest))
     OR (prev.state NOT IN ('writing', 'uploaded') AND (NEW.manifest_seq, NEW.manifest_sha256)
         IS DISTINCT FROM (prev.manifest_seq, prev.manifest_sha256)) THEN
    RAISE EXCEPTION 'archive_days: part % of % changed its range, object or manifest on the way to %',
      NEW.part, NEW.event_date, NEW.state;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER archive_days_transition BEFORE INSERT ON audit.archive_days
  FOR EACH ROW EXECUTE FUNCTION audit.archive_days_transition();

GRANT SELECT, INSERT ON audit.archive_days TO auditfn_app;

-- Detaches and drops the partition of day d, and records its verified parts as
-- dropped, only if every row it holds belongs to a verified part: each part's
-- range holds exactly the rows that were verified, and nothing else is there.
-- Also drops an old partition that is empty (pre-created or re-created for a
-- duplicate). SECURITY DEFINER: the application role may not drop tables.
--
-- DETACH ... CONCURRENTLY cannot run inside a function (nor any transaction
-- block), so this is a plain DETACH: it holds ACCESS EXCLUSIVE on the parent
-- for a catalog change only. The row counts run before it without blocking
-- writers; under the lock only an index probe checks that no row arrived
-- since (every later commit has ledger_seq above the verified ranges), and
-- lock_timeout bounds how long inserts for other days can queue behind it.
CREATE FUNCTION audit.drop_archived_day(d date) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, audit SET lock_timeout = '3s' AS $$
DECLARE
  part_name text := format('audit_events_%s', to_char(d, 'YYYYMMDD'));
  rel regclass := to_regclass(format('audit.%I', part_name));
  p record;
  n bigint;
  total bigint;
  covered bigint := 0;
  through bigint := 0;
  late boolean;
BEGIN
  IF rel IS NULL OR NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = rel AND inhparent = 'audit.audit_events'::regclass) THEN
    RAISE EXCEPTION 'no partition of audit.audit_events for %', d USING ERRCODE = 'undefined_table';
  END IF;
  IF d >= (now() AT TIME ZONE 'UTC')::date - 1 THEN
    RAISE EXCEPTION 'refusing to drop the partition of %: not older than yesterday', d;
  END IF;
  FOR p IN
    SELECT DISTINCT ON (a.part) a.* FROM audit.archive_days a WHERE a.event_date = d
     ORDER BY a.part, array_position(ARRAY['writing', 'uploaded', 'manifested', 'verified', 'dropped'], a.state) DESC
  LOOP
    IF p.state = 'dropped' THEN
      CONTINUE;
    ELSIF p.state <> 'verified' THEN
      RAISE EXCEPTION 'day %: part % is %, not verified', d, p.part, p.state USING ERRCODE = 'AU002';
    END IF;
    EXECUTE format('SELECT count(*) FROM audit.%I WHERE ledger_seq > $1 AND ledger_seq <= $2', part_name)
      INTO n USING p.seq_after, p.seq_through;
    IF n <> p.row_count THEN
      RAISE EXCEPTION 'day %: part % was verified with % rows, the partition holds % in its range', d, p.part, p.row_count, n
        USING ERRCODE = 'AU002';
    END IF;
    covered := covered + n;
    through := greatest(through, p.seq_through);
  END LOOP;
  EXECUTE format('SELECT count(*) FROM audit.%I', part_name) INTO total;
  IF total > covered THEN
    IF NOT EXISTS (SELECT FROM audit.archive_days WHERE event_date = d) OR
       total - covered = (SELECT count(*) FROM audit.audit_events WHERE event_date = d AND ledger_seq > through) THEN
      RAISE EXCEPTION 'day %: % rows are not archived yet', d, total - covered USING ERRCODE = 'AU001';
    END IF;
    RAISE EXCEPTION 'day %: % rows lie outside every archived range', d, total - covered USING ERRCODE = 'AU002';
  END IF;

  EXECUTE format('ALTER TABLE audit.audit_events DETACH PARTITION audit.%I', part_name);
  EXECUTE format('SELECT EXISTS (SELECT FROM audit.%I WHERE ledger_seq > $1)', part_name) INTO late USING through;
  IF late THEN
    RAISE EXCEPTION 'day %: late rows arrived while dropping', d USING ERRCODE = 'AU001';
  END IF;
  EXECUTE format('DROP TABLE audit.%I', part_name);

  INSERT INTO audit.archive_days (event_date, part, state, seq_after, seq_through, object_key, object_version, object_size,
                                  object_sha256, row_count, events_digest, min_event_time, max_event_time,
                                  manifest_seq, manifest_key, manifest_sha256)
  SELECT event_date, part, 'dropped', seq_after, seq_through, object_key, object_version, object_size,
         object_sha256, row_count, events_digest, min_event_time, max_event_time,
         manifest_seq, manifest_key, manifest_sha256
    FROM (SELECT DISTINCT ON (a.part) a.* FROM audit.archive_days a WHERE a.event_date = d
           ORDER BY a.part, array_position(ARRAY['writing', 'uploaded', 'manifested', 'verified', 'dropped'], a.state) DESC) latest
   WHERE latest.state = 'verified';
  RETURN total;
END $$;
REVOKE ALL ON FUNCTION audit.drop_archived_day(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.drop_archived_day(date) TO auditfn_app;
