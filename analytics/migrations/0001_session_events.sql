-- The raw ledger of session lifecycle events: one row per event, envelope and payload flattened.
-- A payload column is NULL on events whose type does not carry it.
-- Re-delivered events collapse: the sort key ends in event_id, and ReplacingMergeTree keeps one
-- row per key; read it with FINAL (see docs/warehouse.md). Identical re-sent batches are also
-- dropped at insert time through insert_deduplication_token (non_replicated_deduplication_window).
CREATE TABLE IF NOT EXISTS session_events
(
    event_id            String,                              -- UUID of the event
    session_id          String,                              -- UUID of the session (Kafka key)
    player_id           String,
    seq                 UInt64,                              -- per-session order, from 1
    occurred_at         DateTime64(3, 'UTC'),                -- when it happened (UTC, ms)
    producer            LowCardinality(String),              -- emitting service
    platform            LowCardinality(String),              -- pc, playstation, xbox, switch, ios, android, cloud
    region              LowCardinality(String),
    build               LowCardinality(String),              -- client build
    cross_play          Bool,
    input_method        LowCardinality(String),
    subtitles           Bool,
    colorblind_mode     LowCardinality(String),
    screen_reader       Bool,
    reduced_motion      Bool,
    trace_id            Nullable(String),
    party_id            Nullable(String),                    -- envelope v2; NULL when solo or v1
    event_type          LowCardinality(String),              -- requested, started, heartbeat, ...
    game_mode           Nullable(String),                    -- requested, started
    matchmaking_ticket  Nullable(String),                    -- requested
    server_id           Nullable(String),                    -- started, reconnected
    queue_ms            Nullable(Int64),                     -- started: ms from request to start
    latency_ms          Nullable(UInt32),                    -- heartbeat: round trip, ms
    packet_loss_pct     Nullable(Float32),                   -- heartbeat: 0..100
    disconnect_reason   Nullable(String),                    -- disconnected
    downtime_ms         Nullable(Int64),                     -- reconnected: ms disconnected
    from_server_id      Nullable(String),                    -- migrated
    to_server_id        Nullable(String),                    -- migrated
    migration_reason    Nullable(String),                    -- migrated
    end_reason          Nullable(String),                    -- ended: normal, quit, kicked, error, server_crash
    last_heartbeat_at   Nullable(DateTime64(3, 'UTC')),      -- timed_out
    timeout_s           Nullable(UInt32)                     -- timed_out: silence allowed, s
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (session_id, seq, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
