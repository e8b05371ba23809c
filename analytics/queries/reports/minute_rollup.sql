-- Per-minute activity in [from_, to) from session_minute_rollup, all regions and platforms
-- together unless filtered ('' = any). Latency quantiles are approximate (quantiles states).
SELECT
    toDateTime64(minute, 3, 'UTC') AS minute,              -- start of the minute
    uniqExactMerge(starts) AS starts,                       -- sessions started
    uniqExactMerge(disconnects) AS disconnects,             -- disconnected events
    uniqExactMerge(reconnects) AS reconnects,               -- reconnected events
    uniqExactMerge(timeouts) AS timeouts,                   -- timed_out events
    uniqExactMerge(ends_error) + uniqExactMerge(ends_server_crash) AS abnormal_ends,  -- error + server_crash ends
    quantilesMerge(0.5, 0.95, 0.99)(latency_ms) AS latency_ms  -- [p50, p95, p99] heartbeat latency, ms
FROM session_minute_rollup
WHERE minute >= toStartOfMinute({from_:DateTime64(3, 'UTC')}) AND minute < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
GROUP BY minute
ORDER BY minute
