-- The query API's namespace filter (the block clearances of a namespace,
-- docs/audit-queries.md §5). Only workflowexecution.block.cleared events
-- carry a namespace, so the index holds those rows alone, like the
-- workflow_id index. On the partitioned parent it is built on each hot
-- partition (the hot window's few days) and on every partition made later.
CREATE INDEX audit_events_namespace_idx ON audit.audit_events (namespace, event_time) WHERE namespace <> '';
