-- Per minute and region in [from_, to): the disruption counts from session_minute_rollup.
-- regions: comma-separated region names, '' = every region.
SELECT
    toDateTime64(minute, 3, 'UTC') AS minute,      -- start of the minute
    region,                                        -- region of the sessions
    uniqExactMerge(disconnects) AS disconnects,    -- disconnected events
    uniqExactMerge(reconnects) AS reconnects,      -- reconnected events
    uniqExactMerge(timeouts) AS timeouts           -- timed_out events
FROM session_minute_rollup
WHERE minute >= toStartOfMinute({from_:DateTime64(3, 'UTC')}) AND minute < {to:DateTime64(3, 'UTC')}
  AND ({regions:String} = '' OR has(splitByChar(',', {regions:String}), region))
GROUP BY minute, region
HAVING disconnects + reconnects + timeouts > 0
ORDER BY minute, region
