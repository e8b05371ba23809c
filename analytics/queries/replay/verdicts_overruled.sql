-- Which of `sessions` (comma-separated session ids) had a timeout verdict the end rule overruled
-- (an `ended` that occurred at or before it, session_summary): such a verdict is no disruption.
SELECT session_id
FROM session_summary
WHERE session_id IN (SELECT arrayJoin(splitByChar(',', {sessions:String})))
  AND status = 'ended' AND timeout_at IS NOT NULL
