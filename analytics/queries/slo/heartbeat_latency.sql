-- Heartbeat latency SLI minute by minute: heartbeats in [from_, to), filtered by region and
-- platform ('' = any). Good: latency_ms <= threshold. Unless include_planned, heartbeats inside
-- planned work in their region are left out.
WITH (SELECT groupArray((regions, starts_at, ends_at)) FROM planned_work) AS planned
SELECT
    toDateTime64(toStartOfMinute(occurred_at), 3, 'UTC') AS minute,           -- UTC minute of the heartbeat
    countIf(latency_ms <= {threshold:Float64}) AS good, -- heartbeats at or under the threshold
    count() AS total                                  -- heartbeats
FROM session_events FINAL
WHERE event_type = 'heartbeat'
  AND occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
  AND ({include_planned:UInt8} = 1
       OR NOT arrayExists(w -> (empty(w.1) OR has(w.1, region)) AND occurred_at >= w.2 AND occurred_at < w.3, planned))
GROUP BY minute
ORDER BY minute
