-- Ops events in [from_, to), oldest first. When incident_id is set, only that incident's events
-- (whatever their time). Columns: every ops_events column.
SELECT *
FROM ops_events FINAL
WHERE ({incident_id:String} = ''
       AND occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')})
   OR ({incident_id:String} != '' AND incident_id = {incident_id:String})
ORDER BY occurred_at, event_id
