-- Session success SLI minute by minute: sessions whose end (the end rule's, session_summary)
-- falls in [from_, to), filtered by region and platform ('' = any). Good: the end is not
-- abnormal (not error, server_crash, timed_out or reservation_timed_out). Unless
-- include_planned, sessions ending inside planned work in their region are left out.
WITH (SELECT groupArray((regions, starts_at, ends_at)) FROM planned_work) AS planned
SELECT
    toDateTime64(toStartOfMinute(ended_at), 3, 'UTC') AS minute,    -- UTC minute of the session's end
    countIf(end_reason NOT IN ('error', 'server_crash', 'timed_out', 'reservation_timed_out'))
        AS good,                            -- sessions that ended well
    count() AS total                        -- sessions that ended
FROM session_summary
WHERE ended_at >= {from_:DateTime64(3, 'UTC')} AND ended_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
  AND ({include_planned:UInt8} = 1
       OR NOT arrayExists(w -> (empty(w.1) OR has(w.1, region)) AND ended_at >= w.2 AND ended_at < w.3, planned))
GROUP BY minute
ORDER BY minute
