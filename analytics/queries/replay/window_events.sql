-- The lifecycle events of [from_, to): everything but heartbeats, oldest first, read once for
-- both the events a reviewer reads one by one and the sessions affected (analytics/replay/window.py).
-- regions: comma-separated region names, '' = every region.
SELECT
    occurred_at,                                                               -- when it happened
    session_id,
    player_id,
    seq,
    toString(region) AS region,
    toString(platform) AS platform,
    toString(event_type) AS event_type,
    ifNull(end_reason, '') AS end_reason,                                      -- ended: why
    coalesce(disconnect_reason, end_reason, migration_reason, '') AS reason,  -- why, when said
    coalesce(to_server_id, server_id, '') AS server_id                       -- server after it
FROM session_events FINAL
WHERE occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
  AND event_type != 'heartbeat'
  AND ({regions:String} = '' OR has(splitByChar(',', {regions:String}), region))
ORDER BY occurred_at, session_id, seq
