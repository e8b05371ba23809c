-- Matchmaking time SLI minute by minute: sessions requested in [from_, to) whose outcome is
-- known (started, or ended without starting), filtered by region and platform ('' = any).
-- Good: started within threshold seconds of the request. A request that never started and has
-- ended (reservation timed out, or the player left) is bad; one still waiting is not counted.
-- Unless include_planned, requests inside planned work in their region are left out.
WITH (SELECT groupArray((regions, starts_at, ends_at)) FROM planned_work) AS planned
SELECT
    toDateTime64(toStartOfMinute(requested_at), 3, 'UTC') AS minute,  -- UTC minute of the request
    countIf(started_at IS NOT NULL
            AND dateDiff('millisecond', requested_at, started_at) <= {threshold:Float64} * 1000)
        AS good,                              -- started within the threshold
    count() AS total                          -- requests with a known outcome
FROM session_summary
WHERE requested_at >= {from_:DateTime64(3, 'UTC')} AND requested_at < {to:DateTime64(3, 'UTC')}
  AND (started_at IS NOT NULL OR ended_at IS NOT NULL)
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
  AND ({include_planned:UInt8} = 1
       OR NOT arrayExists(w -> (empty(w.1) OR has(w.1, region)) AND requested_at >= w.2 AND requested_at < w.3, planned))
GROUP BY minute
ORDER BY minute
