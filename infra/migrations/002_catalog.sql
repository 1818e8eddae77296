-- The workflow catalog (SPEC §3.1): action types and workflow versions as
-- loaded from Kubernaut-shaped YAML documents. Functions read it as the
-- application role and keep an in-memory snapshot, reloaded when the loader
-- signals a change on the channel auditfn_catalog.

CREATE SCHEMA catalog;
GRANT USAGE ON SCHEMA catalog TO auditfn_app;

CREATE TABLE catalog.action_types (
  name      text        PRIMARY KEY,
  document  jsonb       NOT NULL,
  loaded_at timestamptz NOT NULL DEFAULT now()
);

-- One row per workflow version; workflow_id is derived from the content, so
-- a changed document is a new row, while a status change updates the row.
CREATE TABLE catalog.workflows (
  workflow_id   uuid        PRIMARY KEY,
  workflow_name text        NOT NULL,
  version       text        NOT NULL,
  action_type   text        NOT NULL,
  status        text        NOT NULL,
  content_hash  text        NOT NULL,
  document      jsonb       NOT NULL,
  loaded_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (workflow_name, version)
);

GRANT SELECT ON catalog.action_types, catalog.workflows TO auditfn_app;

CREATE FUNCTION catalog.notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('auditfn_catalog', TG_TABLE_NAME);
  RETURN NULL;
END $$;

CREATE TRIGGER action_types_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON catalog.action_types
  FOR EACH STATEMENT EXECUTE FUNCTION catalog.notify_change();
CREATE TRIGGER workflows_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON catalog.workflows
  FOR EACH STATEMENT EXECUTE FUNCTION catalog.notify_change();
