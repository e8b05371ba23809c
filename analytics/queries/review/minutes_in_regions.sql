-- Per minute in [from_, to), the regions named together: disruptions and starts from
-- session_minute_rollup. regions: comma-separated region names ('' = every region);
-- platform: '' = any.
SELECT
    toDateTime64(minute, 3, 'UTC') AS minute,               -- start of the minute
    uniqExactMerge(starts) AS starts,                       -- sessions started
    uniqExactMerge(disconnects) AS disconnects,             -- disconnected events
    uniqExactMerge(reconnects) AS reconnects,               -- reconnected events
    uniqExactMerge(timeouts) AS timeouts,                   -- timed_out events
    uniqExactMerge(ends_error) + uniqExactMerge(ends_server_crash) AS abnormal_ends  -- error + server_crash ends
FROM session_minute_rollup
WHERE minute >= toStartOfMinute({from_:DateTime64(3, 'UTC')}) AND minute < {to:DateTime64(3, 'UTC')}
  AND ({regions:String} = '' OR has(splitByChar(',', {regions:String}), region))
  AND ({platform:String} = '' OR platform = {platform:String})
GROUP BY minute
ORDER BY minute
