-- How much of one load run the history holds: its sessions are named in {session_ids:String}
-- (comma-separated). Events the ledger appended itself (producer ledger-worker) are left out.
SELECT
    uniqExact(event_id) AS session_events,                  -- distinct events of the run's sessions
    uniqExact(session_id) AS sessions                       -- of its sessions, how many have any row
FROM session_events
WHERE has(splitByChar(',', {session_ids:String}), session_id)
  AND producer != 'ledger-worker'
