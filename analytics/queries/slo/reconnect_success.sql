-- Reconnect success SLI minute by minute: disconnects in [from_, to), filtered by region and
-- platform ('' = any). Good: the same session has a reconnected event after the disconnect and
-- within threshold seconds of it. A disconnect still inside its threshold at the ledger's last
-- event is counted as it stands (not yet good). Unless include_planned, disconnects inside
-- planned work in their region are left out.
WITH (SELECT groupArray((regions, starts_at, ends_at)) FROM planned_work) AS planned
SELECT
    toDateTime64(toStartOfMinute(disconnected_at), 3, 'UTC') AS minute,  -- UTC minute of the disconnect
    countIf(arrayExists(r -> r > disconnected_at
                             AND dateDiff('millisecond', disconnected_at, r) <= {threshold:Float64} * 1000,
                        reconnects)) AS good,     -- reconnected within the threshold
    count() AS total                             -- disconnects
FROM
(
    SELECT
        any(region) AS region,
        any(platform) AS platform,
        groupArrayIf(occurred_at, event_type = 'disconnected') AS disconnects,
        groupArrayIf(occurred_at, event_type = 'reconnected') AS reconnects
    FROM session_events FINAL
    WHERE event_type IN ('disconnected', 'reconnected')
      AND occurred_at >= {from_:DateTime64(3, 'UTC')}
      AND occurred_at < {to:DateTime64(3, 'UTC')} + toIntervalSecond(ceil({threshold:Float64}))
    GROUP BY session_id
)
ARRAY JOIN disconnects AS disconnected_at
WHERE disconnected_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
  AND ({include_planned:UInt8} = 1
       OR NOT arrayExists(w -> (empty(w.1) OR has(w.1, region)) AND disconnected_at >= w.2 AND disconnected_at < w.3, planned))
GROUP BY minute
ORDER BY minute
