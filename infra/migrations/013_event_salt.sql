-- The event salt (docs/integrity.md §10): 32 random bytes the collector
-- draws for each event it stores. An event with a salt is hashed value by
-- value, through salted commitments, so an export can redact a value and
-- stay checkable; events stored before this migration have none and keep
-- the plain hash of §1. Like the rest of the row it never changes.
ALTER TABLE audit.audit_events
  ADD COLUMN event_salt bytea CHECK (event_salt IS NULL OR length(event_salt) = 32);
