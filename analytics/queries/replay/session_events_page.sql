-- One page of session events in [from_, until), in replay order: occurred_at, then session and
-- seq (so one session's events at the same instant stay in seq order), then event_id. Pages are
-- cut by the key of the last row of the previous page (keyset pagination), so a huge window is
-- read in bounded chunks without OFFSET rescans. Columns: every session_events column.
SELECT *
FROM session_events FINAL
WHERE occurred_at >= {from_:DateTime64(3, 'UTC')}
  AND occurred_at < {until:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND (occurred_at, session_id, seq, event_id)
      > ({after_at:DateTime64(3, 'UTC')}, {after_session:String}, {after_seq:UInt64}, {after_event:String})
ORDER BY occurred_at, session_id, seq, event_id
LIMIT {limit:UInt32}
