-- Every stored event of one session, in seq order (then occurred_at, event_id for two rows that
-- claim the same seq). Columns: every session_events column.
SELECT *
FROM session_events FINAL
WHERE session_id = {session_id:String}
ORDER BY seq, occurred_at, event_id
