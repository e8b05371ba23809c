-- The latest anomalies detected in [from_, to), newest first (filter: '' = any region).
SELECT
    occurred_at,                                            -- when the anomaly was appended
    anomaly_kind AS kind,                                   -- e.g. disconnect_spike
    anomaly_region AS region,                               -- where
    window_start,                                           -- the minute it describes
    anomaly_count AS observed,                              -- count observed in that minute
    threshold                                               -- the threshold it crossed
FROM ops_events FINAL
WHERE event_type = 'anomaly_detected'
  AND occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR anomaly_region = {region:String})
ORDER BY occurred_at DESC
LIMIT 20
