-- The catalog takes Kubernaut's own RemediationWorkflow documents
-- (kubernaut-compat §1), and a workflow's id is the hash of its clean
-- content as Kubernaut computes it. Rows of the earlier dialect can be
-- neither read nor re-identified, so they go: load the catalog again
-- (make catalog, or the cluster sync). Audit events keep the ids and names
-- they recorded. The content is now the only stored form of a workflow.
DELETE FROM catalog.workflows;
DELETE FROM catalog.action_types;
ALTER TABLE catalog.workflows DROP COLUMN document;
ALTER TABLE catalog.workflows ALTER COLUMN content SET NOT NULL;

-- The catalog sync (functions/catalogsync) writes the catalog from the
-- cluster's resources as its own role: it may add workflow versions and
-- change their status, nothing in the audit schema, and never delete.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'auditfn_catalog') THEN
    CREATE ROLE auditfn_catalog LOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA catalog TO auditfn_catalog;
GRANT SELECT, INSERT, UPDATE ON catalog.action_types, catalog.workflows TO auditfn_catalog;
