-- How many session_events rows each erased player holds, by erasure key. The key is computed
-- from player_id exactly as projections.erasure.erasure_key computes it (SHA-256 of the domain
-- tag, NUL, the pepper, NUL, the id; {pepper_hex:String} is the pepper in hex), so only keys
-- ever enter the statement. {keys:String} is the keys asked about, comma-separated.
--   key   the erasure key
--   rows  rows of that player still holding its id
SELECT
    lower(hex(SHA256(concat('session-ledger/erasure/v1', char(0), unhex({pepper_hex:String}),
                            char(0), player_id)))) AS key,
    count() AS rows
FROM session_events
WHERE key IN (SELECT arrayJoin(splitByChar(',', {keys:String})))
GROUP BY key
