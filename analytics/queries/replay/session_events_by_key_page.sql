-- One page of session events that occurred before `until`, in the table's own order (session,
-- seq, event_id), after the key of the previous page's last row. Reading in key order lets
-- ClickHouse read each page from its place in the primary index instead of scanning and sorting
-- the whole table per page. No FINAL: a duplicate row not merged away yet is a duplicate
-- delivery to the fold, which ignores it (same session and seq), and FINAL would cost the
-- replay most of its time. Columns: every session_events column.
SELECT *
FROM session_events
WHERE (session_id, seq, event_id) > ({after_session:String}, {after_seq:UInt64}, {after_event:String})
  AND occurred_at < {until:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
ORDER BY session_id, seq, event_id
LIMIT {limit:UInt32}
