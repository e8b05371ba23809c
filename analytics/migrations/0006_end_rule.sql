-- How a session ended, decided by the end rule (docs/projections.md, "How a session ends"): the
-- SQL twin of projections.session_state.resolve_end, so the warehouse agrees with live state,
-- rebuild and replay whatever order the events arrived in.
--
-- `sessions` gains what the rule reads: the seq of the session's first requested/started (the
-- producers' `ended` counts only after it), every producers' `ended` as (seq, occurred_at,
-- reason), and every timeout verdict as (occurred_at, event_id, last sign of life). All are
-- idempotent aggregates (min, uniq arrays), so a duplicate event changes nothing.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS begun_seq SimpleAggregateFunction(min, Nullable(UInt64));

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS ends
    AggregateFunction(groupUniqArray, Tuple(UInt64, DateTime64(3, 'UTC'), String));

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS verdicts
    AggregateFunction(groupUniqArray, Tuple(DateTime64(3, 'UTC'), String, DateTime64(3, 'UTC')));

DROP VIEW IF EXISTS sessions_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS sessions_mv TO sessions AS
SELECT
    session_id,
    any(player_id) AS player_id,
    any(platform) AS platform,
    any(region) AS region,
    any(cross_play) AS cross_play,
    min(if(event_type = 'requested', occurred_at, NULL)) AS requested_at,
    min(if(event_type = 'started', occurred_at, NULL)) AS started_at,
    min(if(event_type IN ('ended', 'timed_out'), occurred_at, NULL)) AS ended_at,
    argMinStateIf(if(event_type = 'timed_out', 'timed_out', ifNull(end_reason, '')), occurred_at,
                  event_type IN ('ended', 'timed_out')) AS end_reason,
    min(occurred_at) AS first_event_at,
    max(occurred_at) AS last_event_at,
    max(seq) AS last_seq,
    min(if(event_type IN ('requested', 'started'), seq, NULL)) AS begun_seq,
    -- qualified names: the aliases end_reason and last_seq above would shadow the columns
    groupUniqArrayStateIf((session_events.seq, occurred_at, ifNull(session_events.end_reason, '')),
                          event_type = 'ended') AS ends,
    groupUniqArrayStateIf((occurred_at, event_id, ifNull(last_heartbeat_at, occurred_at)),
                          event_type = 'timed_out') AS verdicts
FROM session_events
GROUP BY session_id;

-- The history written before this migration, folded once more: every aggregate is idempotent,
-- so sessions already summarised gain the new columns and change nothing else.
INSERT INTO sessions (session_id, player_id, platform, region, cross_play, requested_at,
                      started_at, ended_at, end_reason, first_event_at, last_event_at, last_seq,
                      begun_seq, ends, verdicts)
SELECT
    session_id,
    any(player_id),
    any(platform),
    any(region),
    any(cross_play),
    min(if(event_type = 'requested', occurred_at, NULL)),
    min(if(event_type = 'started', occurred_at, NULL)),
    min(if(event_type IN ('ended', 'timed_out'), occurred_at, NULL)),
    argMinStateIf(if(event_type = 'timed_out', 'timed_out', ifNull(end_reason, '')), occurred_at,
                  event_type IN ('ended', 'timed_out')),
    min(occurred_at),
    max(occurred_at),
    max(seq),
    min(if(event_type IN ('requested', 'started'), seq, NULL)),
    groupUniqArrayStateIf((seq, occurred_at, ifNull(end_reason, '')), event_type = 'ended'),
    groupUniqArrayStateIf((occurred_at, event_id, ifNull(last_heartbeat_at, occurred_at)),
                          event_type = 'timed_out')
FROM session_events
GROUP BY session_id;

DROP VIEW IF EXISTS session_summary;

-- The finished per-session summary. Columns:
--   status         ended, timed_out, or open (neither: still requested, active or disconnected)
--   started_at     first `started` event (NULL: never started)
--   ended_at       when the session ended by the end rule: the producers' first `ended` (by seq,
--                  after the session began) if it occurred at or before the earliest timeout
--                  verdict, else that verdict's instant (NULL: still open)
--   end_reason     the `ended` reason (normal, quit, kicked, error, server_crash, server_shutdown,
--                  maintenance), or timed_out (a started session fell silent), or
--                  reservation_timed_out (requested and never started); NULL while open
--   play_ended_at  where play stopped: ended_at for an `ended`, the verdict's last sign of life
--                  for a timeout
--   timeout_at     the earliest timeout verdict (NULL: none), whether it stands or not
--   late_end       1 when the verdict stands and the producers' `ended` occurred after it
--   live_until     ended_at, or for an open session its last event (how long it is known alive)
CREATE VIEW IF NOT EXISTS session_summary AS
SELECT
    session_id, player_id, platform, region, cross_play, requested_at, started_at,
    arraySort(x -> x.1, arrayFilter(x -> x.1 > ifNull(begun_seq, toUInt64(18446744073709551615)),
                                    producer_ends)) AS counted_ends,
    if(empty(counted_ends), NULL, counted_ends[1].2) AS reported_ended_at,
    if(empty(counted_ends), NULL, counted_ends[1].3) AS reported_end_reason,
    arraySort(x -> (x.1, x.2), all_verdicts) AS sorted_verdicts,
    if(empty(sorted_verdicts), NULL, sorted_verdicts[1].1) AS timeout_at,
    if(empty(sorted_verdicts), NULL, sorted_verdicts[1].3) AS timeout_last_heartbeat_at,
    multiIf(reported_ended_at IS NOT NULL
                AND (timeout_at IS NULL OR reported_ended_at <= timeout_at), 'ended',
            timeout_at IS NOT NULL, 'timed_out',
            'open') AS status,
    multiIf(status = 'ended', reported_ended_at, status = 'timed_out', timeout_at, NULL) AS ended_at,
    multiIf(status = 'ended', reported_end_reason,
            status = 'timed_out', if(started_at IS NULL, 'reservation_timed_out', 'timed_out'),
            NULL) AS end_reason,
    multiIf(status = 'ended', reported_ended_at, status = 'timed_out', timeout_last_heartbeat_at,
            NULL) AS play_ended_at,
    status = 'timed_out' AND reported_ended_at IS NOT NULL AS late_end,
    first_event_at, last_event_at,
    ifNull(ended_at, last_event_at) AS live_until,
    last_seq
FROM
(
    SELECT
        session_id,
        any(sessions.player_id) AS player_id,
        any(sessions.platform) AS platform,
        any(sessions.region) AS region,
        any(sessions.cross_play) AS cross_play,
        min(sessions.requested_at) AS requested_at,
        min(sessions.started_at) AS started_at,
        min(sessions.begun_seq) AS begun_seq,
        groupUniqArrayMerge(sessions.ends) AS producer_ends,
        groupUniqArrayMerge(sessions.verdicts) AS all_verdicts,
        min(sessions.first_event_at) AS first_event_at,
        max(sessions.last_event_at) AS last_event_at,
        max(sessions.last_seq) AS last_seq
    FROM sessions
    GROUP BY session_id
);
