-- The lifecycle events of [from_, to) worth reading one by one: everything but heartbeats, oldest
-- first, at most `limit`. regions: comma-separated, '' = every region.
SELECT occurred_at, session_id, player_id, seq, region, platform, event_type,
       coalesce(disconnect_reason, end_reason, migration_reason, '') AS reason,  -- why, when said
       coalesce(to_server_id, server_id, '') AS server_id                       -- server after it
FROM session_events FINAL
WHERE occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
  AND event_type != 'heartbeat'
  AND ({regions:String} = '' OR has(splitByChar(',', {regions:String}), region))
ORDER BY occurred_at, session_id, seq
LIMIT {limit:UInt32}
