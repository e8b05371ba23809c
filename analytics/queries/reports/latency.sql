-- Heartbeat latency in [from_, to) by region and platform (filters: '' = any). Exact quantiles:
-- with n heartbeats sorted ascending, quantile q is the value at 0-based position floor(q * n).
SELECT
    region,                                                 -- region of the sessions
    platform,                                               -- platform of the sessions
    count() AS heartbeats,                                  -- heartbeats measured
    quantileExact(0.5)(latency_ms) AS p50_ms,               -- median latency, ms
    quantileExact(0.95)(latency_ms) AS p95_ms,              -- 95th percentile, ms
    quantileExact(0.99)(latency_ms) AS p99_ms               -- 99th percentile, ms
FROM session_events FINAL
WHERE event_type = 'heartbeat'
  AND occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
GROUP BY region, platform
ORDER BY region, platform
