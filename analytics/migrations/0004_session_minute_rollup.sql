-- Per-minute counts by region x platform, fed from session_events by a materialized view.
-- Counts are uniqExact over cityHash64(event_id), so a duplicate event never counts twice.
-- Read with the -Merge functions, e.g. uniqExactMerge(disconnects), quantilesMerge(0.5, 0.95, 0.99)(latency_ms).
CREATE TABLE IF NOT EXISTS session_minute_rollup
(
    minute              DateTime('UTC'),                                       -- start of the minute
    region              LowCardinality(String),
    platform            LowCardinality(String),
    starts              AggregateFunction(uniqExact, Nullable(UInt64)),       -- `started` events
    ends_normal         AggregateFunction(uniqExact, Nullable(UInt64)),       -- `ended` reason normal
    ends_quit           AggregateFunction(uniqExact, Nullable(UInt64)),
    ends_kicked         AggregateFunction(uniqExact, Nullable(UInt64)),
    ends_error          AggregateFunction(uniqExact, Nullable(UInt64)),
    ends_server_crash   AggregateFunction(uniqExact, Nullable(UInt64)),
    timeouts            AggregateFunction(uniqExact, Nullable(UInt64)),       -- `timed_out` events
    disconnects         AggregateFunction(uniqExact, Nullable(UInt64)),       -- `disconnected` events
    reconnects          AggregateFunction(uniqExact, Nullable(UInt64)),       -- `reconnected` events
    latency_ms          AggregateFunction(quantiles(0.5, 0.95, 0.99), Nullable(UInt32))  -- heartbeat latency
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, region, platform);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_minute_rollup_mv TO session_minute_rollup AS
SELECT
    toStartOfMinute(toDateTime(occurred_at, 'UTC')) AS minute,
    region,
    platform,
    uniqExactState(if(event_type = 'started', cityHash64(event_id), NULL)) AS starts,
    uniqExactState(if(event_type = 'ended' AND end_reason = 'normal', cityHash64(event_id), NULL)) AS ends_normal,
    uniqExactState(if(event_type = 'ended' AND end_reason = 'quit', cityHash64(event_id), NULL)) AS ends_quit,
    uniqExactState(if(event_type = 'ended' AND end_reason = 'kicked', cityHash64(event_id), NULL)) AS ends_kicked,
    uniqExactState(if(event_type = 'ended' AND end_reason = 'error', cityHash64(event_id), NULL)) AS ends_error,
    uniqExactState(if(event_type = 'ended' AND end_reason = 'server_crash', cityHash64(event_id), NULL)) AS ends_server_crash,
    uniqExactState(if(event_type = 'timed_out', cityHash64(event_id), NULL)) AS timeouts,
    uniqExactState(if(event_type = 'disconnected', cityHash64(event_id), NULL)) AS disconnects,
    uniqExactState(if(event_type = 'reconnected', cityHash64(event_id), NULL)) AS reconnects,
    quantilesState(0.5, 0.95, 0.99)(if(event_type = 'heartbeat', latency_ms, NULL)) AS latency_ms
FROM session_events
GROUP BY minute, region, platform;
