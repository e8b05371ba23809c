-- When the history saw an erased player's last event, by erasure key (the player's events stay
-- in the session topic until then plus the topic's retention). The key is computed as in
-- session_events_rows.sql, so no player id enters the statement (nor any query log).
--   last  the latest occurred_at of that player's events still holding the id (NULL if none)
SELECT maxOrNull(occurred_at) AS last
FROM session_events
WHERE lower(hex(SHA256(concat('session-ledger/erasure/v1', char(0), unhex({pepper_hex:String}),
                              char(0), player_id)))) = {key:String}
