-- One row per session (after merges): its identity and lifecycle instants, folded from
-- session_events by a materialized view. Every aggregate is idempotent (min, max, any,
-- argMin), so a duplicate event that reaches the view changes nothing.
-- Read it through the session_summary view, which finishes the aggregation.
CREATE TABLE IF NOT EXISTS sessions
(
    session_id      String,
    player_id       SimpleAggregateFunction(any, String),
    platform        SimpleAggregateFunction(any, String),
    region          SimpleAggregateFunction(any, String),
    cross_play      SimpleAggregateFunction(any, Bool),
    requested_at    SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    started_at      SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    ended_at        SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    end_reason      AggregateFunction(argMin, String, DateTime64(3, 'UTC')),
    first_event_at  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_event_at   SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    last_seq        SimpleAggregateFunction(max, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY session_id;

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
    max(seq) AS last_seq
FROM session_events
GROUP BY session_id;

-- The finished per-session summary. Columns:
--   started_at  first `started` event (NULL: never started)
--   ended_at    first terminal event, `ended` or `timed_out` (NULL: still open)
--   end_reason  reason of that first terminal event; 'timed_out' for a timeout; NULL while open
--   live_until  ended_at, or for an open session its last event (how long it is known alive)
CREATE VIEW IF NOT EXISTS session_summary AS
SELECT
    session_id, player_id, platform, region, cross_play, requested_at, started_at, ended_at,
    if(ended_at IS NULL, NULL, reason) AS end_reason,
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
        min(sessions.ended_at) AS ended_at,
        argMinMerge(sessions.end_reason) AS reason,
        min(sessions.first_event_at) AS first_event_at,
        max(sessions.last_event_at) AS last_event_at,
        max(sessions.last_seq) AS last_seq
    FROM sessions
    GROUP BY session_id
);
