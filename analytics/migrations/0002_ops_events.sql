-- Incidents, deploys and anomalies, one row per ops event; payload columns are NULL (or empty
-- arrays) on events whose type does not carry them. Same duplicate rules as session_events.
CREATE TABLE IF NOT EXISTS ops_events
(
    event_id        String,                          -- UUID of the event
    occurred_at     DateTime64(3, 'UTC'),
    producer        LowCardinality(String),
    event_type      LowCardinality(String),          -- incident_opened ... anomaly_detected
    incident_id     Nullable(String),                -- incident_*
    severity        Nullable(String),                -- incident_*: sev1..sev4
    title           Nullable(String),                -- incident_*
    regions         Array(String),                   -- incident_* and deploy_*: regions touched
    services        Array(String),                   -- incident_*: services involved
    deploy_id       Nullable(String),                -- deploy_*
    service         Nullable(String),                -- deploy_*
    version         Nullable(String),                -- deploy_*
    deploy_outcome  Nullable(String),                -- deploy_finished: success, failure, rolled_back
    anomaly_kind    Nullable(String),                -- anomaly_detected, e.g. disconnect_spike
    anomaly_region  Nullable(String),                -- anomaly_detected
    window_start    Nullable(DateTime64(3, 'UTC')),  -- anomaly_detected
    anomaly_count   Nullable(Int64),                 -- anomaly_detected: observed count
    threshold       Nullable(Int64)                  -- anomaly_detected: threshold crossed
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_type, occurred_at, event_id)
SETTINGS non_replicated_deduplication_window = 10000;
