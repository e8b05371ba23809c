-- Synthetic session history for the report benchmark: rows n in [first, first + count) of a ledger
-- of {sessions} sessions x 10 events, started evenly over 7 days from {base}. Each session:
-- requested, started, heartbeats (seq 3-9; every 10th session disconnects at 6 and reconnects at 7),
-- then ended (normal; every 20th with error) or timed_out (every 20th). 200,000 players, 4 regions.
INSERT INTO session_events
    (event_id, session_id, player_id, seq, occurred_at, producer, platform, region, build,
     cross_play, input_method, subtitles, colorblind_mode, screen_reader, reduced_motion,
     event_type, game_mode, server_id, queue_ms, latency_ms, packet_loss_pct, disconnect_reason,
     downtime_ms, end_reason, last_heartbeat_at, timeout_s)
SELECT
    UUIDNumToString(MD5(concat('e', toString(n)))) AS event_id,
    UUIDNumToString(MD5(concat('s', toString(s)))) AS session_id,
    concat('player-', toString(s % 200000)) AS player_id,
    seq,
    {base:DateTime64(3, 'UTC')} + toIntervalMillisecond(intDiv(s * 604800000, {sessions:UInt64}) + seq * 10000)
        AS occurred_at,
    'gameserver' AS producer,
    ['pc', 'playstation', 'xbox', 'switch', 'ios', 'android', 'cloud'][s % 7 + 1] AS platform,
    ['eu-west', 'us-east', 'ap-northeast', 'sa-east'][s % 4 + 1] AS region,
    '1.0.0' AS build,
    s % 3 != 0 AS cross_play,
    'controller' AS input_method,
    false, 'none', false, false,
    multiIf(seq = 1, 'requested', seq = 2, 'started',
            seq = 10 AND s % 20 = 0, 'timed_out', seq = 10, 'ended',
            seq = 6 AND s % 10 = 3, 'disconnected', seq = 7 AND s % 10 = 3, 'reconnected',
            'heartbeat') AS event_type,
    if(seq <= 2, 'ranked', NULL) AS game_mode,
    if(seq = 2 OR event_type = 'reconnected', concat('gs-', toString(s % 500)), NULL) AS server_id,
    if(seq = 2, toInt64(500 + s % 5000), NULL) AS queue_ms,
    if(event_type = 'heartbeat', toUInt32(20 + (n * 7919) % 200), NULL) AS latency_ms,
    if(event_type = 'heartbeat', toFloat32((n % 100) / 50), NULL) AS packet_loss_pct,
    if(event_type = 'disconnected', 'network', NULL) AS disconnect_reason,
    if(event_type = 'reconnected', toInt64(10000), NULL) AS downtime_ms,
    if(event_type = 'ended', if(s % 20 = 1, 'error', 'normal'), NULL) AS end_reason,
    if(event_type = 'timed_out', occurred_at - toIntervalSecond(30), NULL) AS last_heartbeat_at,
    if(event_type = 'timed_out', toUInt32(30), NULL) AS timeout_s
FROM
(
    SELECT number + {first:UInt64} AS n, intDiv(n, 10) AS s, toUInt64(n % 10 + 1) AS seq
    FROM numbers({count:UInt64})
)
