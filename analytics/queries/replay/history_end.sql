-- The last instant in the history (session or ops events); count = 0 when it is empty.
SELECT max(t) AS last, count() AS n
FROM (SELECT occurred_at AS t FROM session_events UNION ALL SELECT occurred_at AS t FROM ops_events)
