-- Anonymise the session_events rows of erased players: player_id becomes the erasure's token and
-- the links to other records of the person (party_id, trace_id, matchmaking_ticket) are cleared;
-- every other column stays. {keys:String} and {tokens:String} are comma-separated, the n-th token
-- replacing the player whose erasure key is the n-th key; the key is computed as in
-- session_events_rows.sql, so the mutation's text (which ClickHouse keeps on disk) holds keys and
-- tokens only. The caller waits for the
-- mutation (analytics.erasure polls system.mutations).
-- The links are cleared with nullIf(materialize(''), ''), not a bare NULL: a mutation to a NULL
-- literal only sets the null mask and keeps the old string beneath it in the rewritten part;
-- a computed NULL writes an empty string there.
ALTER TABLE session_events
UPDATE
    player_id = transform(
        lower(hex(SHA256(concat('session-ledger/erasure/v1', char(0), unhex({pepper_hex:String}),
                                char(0), player_id)))),
        splitByChar(',', {keys:String}), splitByChar(',', {tokens:String}), player_id),
    party_id = nullIf(materialize(''), ''),
    trace_id = nullIf(materialize(''), ''),
    matchmaking_ticket = nullIf(materialize(''), '')
WHERE lower(hex(SHA256(concat('session-ledger/erasure/v1', char(0), unhex({pepper_hex:String}),
                            char(0), player_id))))
      IN (SELECT arrayJoin(splitByChar(',', {keys:String})))
