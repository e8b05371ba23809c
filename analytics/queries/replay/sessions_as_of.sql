-- Every session in [from_session, to_session) (to_session '' = no upper bound) as of `until`
-- (events that occurred before it; one region, or '' = all), folded by ClickHouse where the fold
-- is plain aggregation (docs/replay.md, "The ledger as of an instant"). Grouping in the table's
-- key order over a range of session ids keeps the engine's memory to one range.
--
-- A session is `settled` when its producers' events up to `until` are seqs 1..n, one row each,
-- in an order the state machine allows (requested? started (heartbeat | migrated |
-- disconnected migrated* reconnected)* (disconnected migrated*)? ended?, or requested ended?),
-- every migration leaving the server the session was on, and one player id. Then every column
-- below is what projections.session_state.step gives after delivering those events in any order.
-- Any other session (seq gaps, duplicates, anomalies, only verdicts) has settled = 0 and only
-- session_id, events and settled are meaningful: the caller folds its events in Python.
--
-- A session with a producers' event that occurred before `heartbeats_before` (now minus the
-- heartbeat TTL; 1970 when heartbeats never expire) may have lost heartbeats to the TTL: its seqs
-- need only rise one by one from 1 with holes allowed, as analytics/replay/heartbeat_ttl.py
-- renumbers them for the Python fold (docs/replay.md, "Sessions older than the heartbeat TTL").
--
-- Letters of the producers' events, in seq order: R requested, S started, H heartbeat,
-- D disconnected, C reconnected, M migrated, E ended.
SELECT
    session_id,
    events,                                   -- rows read for the session (duplicates included)
    settled,                                  -- 1: the columns below are the session's state
    envelope.1 AS player_id,                  -- envelope of the last producers' event (by seq)
    envelope.2 AS platform,
    envelope.3 AS region,
    envelope.4 AS cross_play,
    envelope.5 AS build,
    envelope.6 AS input_method,
    envelope.7 AS subtitles,
    envelope.8 AS colorblind_mode,
    envelope.9 AS screen_reader,
    envelope.10 AS reduced_motion,
    envelope.11 AS party_id,
    last_seq,                                 -- highest producers' seq applied (as stored)
    game_mode_of.1 AS game_mode,              -- of the last requested/started
    server_of.1 AS server_id,                 -- after the last started/reconnected/migrated
    queue_of AS queue_ms,
    requested_at,
    started_at,
    last_event_at,                            -- latest occurred_at of a producers' event
    heartbeat_last AS last_heartbeat_at,
    heartbeat_of.1 AS latency_ms,             -- of the last heartbeat (by seq)
    heartbeat_of.2 AS packet_loss_pct,
    heartbeat_count,
    disconnect_count,
    disconnect_of.1 AS last_disconnect_reason,
    reconnect_count,
    downtime_total AS downtime_ms,            -- sum of the reconnects' downtime_ms
    migration_count,
    reported_status,                          -- where the producers' events took the session
    reported_ended_at,                        -- occurred_at of the producers' ended (NULL: none)
    reported_end_reason,
    verdict_at,                               -- the earliest timeout verdict (NULL: none)
    verdict_event_id,
    verdict_last_heartbeat_at,
    verdict_timeout_s,
    -- the end rule (projections.session_state.resolve_end): the producers' end stands when it
    -- occurred at or before the earliest verdict; else the verdict stands
    multiIf(reported_ended_at IS NOT NULL AND (verdict_at IS NULL OR reported_ended_at <= verdict_at),
                'ended',
            verdict_at IS NOT NULL, 'timed_out',
            reported_status) AS status,
    multiIf(status = 'ended', reported_ended_at, status = 'timed_out', verdict_at, NULL) AS ended_at,
    multiIf(status = 'ended', reported_ended_at, status = 'timed_out', verdict_last_heartbeat_at,
            NULL) AS play_ended_at,
    multiIf(status = 'ended', reported_end_reason,
            status = 'timed_out', if(started_at IS NULL, 'reservation_timed_out', 'timed_out'),
            NULL) AS end_reason,
    platforms,                                -- every platform its events named, sorted
    arrayMap(x -> x.1, disconnects_at) AS disconnect_regions,  -- of each disconnected event,
    arrayMap(x -> x.2, disconnects_at) AS disconnect_minutes   -- its region and minute (epoch s)
FROM
(
    SELECT
        session_id,
        count() AS events,
        countIf(event_type != 'timed_out') AS producer_events,
        maxIf(seq, event_type != 'timed_out') AS last_seq,
        minIf(player_id, event_type != 'timed_out') = maxIf(player_id, event_type != 'timed_out')
            AS one_player,
        -- the producers' events in seq order: (seq, letter)
        arraySort(groupArrayIf(
            (seq, multiIf(event_type = 'requested', 'R', event_type = 'started', 'S',
                          event_type = 'heartbeat', 'H', event_type = 'disconnected', 'D',
                          event_type = 'reconnected', 'C', event_type = 'migrated', 'M',
                          event_type = 'ended', 'E', '?')),
            event_type != 'timed_out')) AS in_order,
        minIf(occurred_at, event_type != 'timed_out') < {heartbeats_before:DateTime64(3, 'UTC')}
            AS past_heartbeat_ttl,
        if(past_heartbeat_ttl,
           in_order[1].1 = 1 AND arrayAll(i -> i = 1 OR in_order[i].1 > in_order[i - 1].1,
                                          arrayEnumerate(in_order)),
           arrayAll((x, i) -> x.1 = i, in_order, arrayEnumerate(in_order))) AS seqs_one_to_n,
        arrayStringConcat(arrayMap(x -> x.2, in_order)) AS letters,
        -- servers in seq order: (is a migration, from_server_id, server after the event)
        arrayMap(x -> (x.2, x.3, x.4), arraySort(groupArrayIf(
            (seq, event_type = 'migrated', ifNull(from_server_id, ''),
             ifNull(if(event_type = 'migrated', to_server_id, server_id), '')),
            event_type IN ('started', 'reconnected', 'migrated')))) AS servers,
        arrayAll(i -> NOT servers[i].1 OR (i > 1 AND servers[i].2 = servers[i - 1].3),
                 arrayEnumerate(servers)) AS migrations_agree,
        producer_events > 0 AND seqs_one_to_n AND one_player AND migrations_agree
            AND match(letters, '^(RE?|R?S(H|M|DM*C)*(DM*)?E?)$') AS settled,
        argMaxIf((player_id, toString(platform), toString(region), cross_play, toString(build),
                  toString(input_method), subtitles, toString(colorblind_mode), screen_reader,
                  reduced_motion, party_id), seq, event_type != 'timed_out') AS envelope,
        argMaxIf(tuple(game_mode), seq, event_type IN ('requested', 'started')) AS game_mode_of,
        argMaxIf(tuple(if(event_type = 'migrated', to_server_id, server_id)), seq,
                 event_type IN ('started', 'reconnected', 'migrated')) AS server_of,
        anyIf(queue_ms, event_type = 'started') AS queue_of,
        minIf(occurred_at, event_type = 'requested') AS requested_at_any,
        if(countIf(event_type = 'requested') = 0, NULL, requested_at_any) AS requested_at,
        minIf(occurred_at, event_type = 'started') AS started_at_any,
        if(countIf(event_type = 'started') = 0, NULL, started_at_any) AS started_at,
        maxIf(occurred_at, event_type != 'timed_out') AS last_event_at,
        countIf(event_type = 'heartbeat') AS heartbeat_count,
        maxIf(occurred_at, event_type = 'heartbeat') AS last_heartbeat_any,
        if(heartbeat_count = 0, NULL, last_heartbeat_any) AS heartbeat_last,
        argMaxIf((latency_ms, packet_loss_pct), seq, event_type = 'heartbeat') AS heartbeat_of,
        countIf(event_type = 'disconnected') AS disconnect_count,
        argMaxIf(tuple(disconnect_reason), seq, event_type = 'disconnected') AS disconnect_of,
        countIf(event_type = 'reconnected') AS reconnect_count,
        sumIf(ifNull(downtime_ms, 0), event_type = 'reconnected') AS downtime_total,
        countIf(event_type = 'migrated') AS migration_count,
        multiIf(extract(letters, '([RSHDCE])M*$') = 'R', 'requested',
                extract(letters, '([RSHDCE])M*$') = 'D', 'disconnected',
                extract(letters, '([RSHDCE])M*$') = 'E', 'ended',
                'active') AS reported_status,
        minIf(occurred_at, event_type = 'ended') AS ended_any,
        if(countIf(event_type = 'ended') = 0, NULL, ended_any) AS reported_ended_at,
        anyIf(end_reason, event_type = 'ended') AS reported_end_reason,
        countIf(event_type = 'timed_out') AS verdicts,
        minIf((occurred_at, event_id), event_type = 'timed_out') AS earliest_verdict,
        if(verdicts = 0, NULL, earliest_verdict.1) AS verdict_at,
        if(verdicts = 0, NULL, earliest_verdict.2) AS verdict_event_id,
        argMinIf((ifNull(last_heartbeat_at, occurred_at), ifNull(timeout_s, 0)),
                 (occurred_at, event_id), event_type = 'timed_out') AS verdict_basis,
        if(verdicts = 0, NULL, verdict_basis.1) AS verdict_last_heartbeat_at,
        if(verdicts = 0, NULL, verdict_basis.2) AS verdict_timeout_s,
        arraySort(groupUniqArrayIf(toString(platform), event_type != 'timed_out')) AS platforms,
        groupArrayIf((toString(region), toUInt32(toStartOfMinute(occurred_at))),
                     event_type = 'disconnected') AS disconnects_at
    FROM session_events
    WHERE session_id >= {from_session:String}
      AND ({to_session:String} = '' OR session_id < {to_session:String})
      AND occurred_at < {until:DateTime64(3, 'UTC')}
      AND ({region:String} = '' OR region = {region:String})
    GROUP BY session_id
)
SETTINGS optimize_aggregation_in_order = 1
