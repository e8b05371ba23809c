-- Anonymise the sessions rows (the per-session summary the materialized view folds) of erased
-- players: player_id becomes the erasure's token, as in session_events_rewrite.sql; the table
-- holds no other personal field. The caller waits for the
-- mutation (analytics.erasure polls system.mutations).
ALTER TABLE sessions
UPDATE
    player_id = transform(
        lower(hex(SHA256(concat('session-ledger/erasure/v1', char(0), unhex({pepper_hex:String}),
                                char(0), player_id)))),
        splitByChar(',', {keys:String}), splitByChar(',', {tokens:String}), player_id)
WHERE lower(hex(SHA256(concat('session-ledger/erasure/v1', char(0), unhex({pepper_hex:String}),
                            char(0), player_id))))
      IN (SELECT arrayJoin(splitByChar(',', {keys:String})))
