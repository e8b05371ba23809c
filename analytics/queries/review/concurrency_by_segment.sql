-- Concurrent sessions at the start of every minute in [from_, to), by region and platform
-- (filters: '' = any). Counted as reports/concurrency.sql counts: a session is live at instant t
-- when started_at <= t < live_until (its end, or its last event while open).
SELECT
    toDateTime64(minute_index * 60, 3, 'UTC') AS minute,    -- the instant sampled (start of the minute)
    region,                                                 -- the sessions' region
    platform,                                               -- their platform
    count() AS concurrent                                   -- sessions live at that instant
FROM
(
    SELECT arrayJoin(range(
               toUInt64(greatest(intDiv(toUnixTimestamp64Milli(started_at) + 59999, 60000),
                                 intDiv(toUnixTimestamp64Milli({from_:DateTime64(3, 'UTC')}) + 59999, 60000))),
               toUInt64(greatest(0, least(intDiv(toUnixTimestamp64Milli(live_until) - 1, 60000) + 1,
                                          intDiv(toUnixTimestamp64Milli({to:DateTime64(3, 'UTC')}) - 1, 60000) + 1)))
           )) AS minute_index,
           region,
           platform
    FROM session_summary
    WHERE started_at IS NOT NULL
      AND started_at < {to:DateTime64(3, 'UTC')} AND live_until > {from_:DateTime64(3, 'UTC')}
      AND ({region:String} = '' OR region = {region:String})
      AND ({platform:String} = '' OR platform = {platform:String})
)
GROUP BY minute_index, region, platform
ORDER BY minute_index, region, platform
