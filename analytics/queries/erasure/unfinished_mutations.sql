-- Mutations of the tables an erasure rewrites that have not finished, with why (empty: all done).
--   table, mutation_id, command  which mutation
--   latest_fail_reason           ClickHouse's reason for its last failed attempt ('' if none)
SELECT table, mutation_id, command, latest_fail_reason
FROM system.mutations
WHERE database = currentDatabase() AND table IN ('session_events', 'sessions') AND NOT is_done
