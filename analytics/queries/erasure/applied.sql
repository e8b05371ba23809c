-- The erasures this warehouse has applied, the latest run of each.
--   key, token, requested_at, done_at, session_events_rows, sessions_rows, last_copy_by
--   as table erasures (migration 0010) holds them
SELECT key, token, requested_at, done_at, session_events_rows, sessions_rows, last_copy_by
FROM erasures FINAL
ORDER BY done_at
