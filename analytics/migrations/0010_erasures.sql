-- Erasures this warehouse has applied to its history (analytics/erasure.py): one row per erased
-- player, keyed by the erasure key of the registry (projections/erasure.py). No player id is
-- kept here, only the key and the token that replaced the id in every row of that player.
--   session_events_rows, sessions_rows  rows rewritten in each table (0: nothing of that player held)
--   done_at        when the rewrite finished (the new parts were active)
--   last_copy_by   when the parts holding the old values are gone from disk at the latest
-- A second run of one erasure replaces its row (ReplacingMergeTree on done_at, read with FINAL).
CREATE TABLE IF NOT EXISTS erasures
(
    key                  String,                  -- hex SHA-256 erasure key, never the id
    token                String,                  -- erased-<32 hex>
    requested_at         DateTime64(3, 'UTC'),
    done_at              DateTime64(3, 'UTC'),
    session_events_rows  UInt64,
    sessions_rows        UInt64,
    last_copy_by         DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(done_at)
ORDER BY key;
