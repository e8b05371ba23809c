-- Every event that occurred before `until` (one region, or '' = all) of the sessions named in
-- `sessions` (comma-separated session ids), session by session in (seq, event_id) order: the
-- events of the sessions the fold settles in Python. The IN set lets ClickHouse read only those
-- sessions' ranges of the primary index. Columns: every session_events column.
SELECT *
FROM session_events
WHERE session_id IN (SELECT arrayJoin(splitByChar(',', {sessions:String})))
  AND occurred_at < {until:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
ORDER BY session_id, seq, event_id
