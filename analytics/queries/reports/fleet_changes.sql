-- Every fleet change (fleet_scaled) before `to`, oldest first per region: from changed_at the
-- region's fleet is this size and price until its next change. Earlier changes are included, as
-- the one in force at `from_` may be older than the period.
SELECT
    region,                                                 -- region of the fleet
    changed_at,                                             -- when the fleet took this size
    servers,                                                -- game servers running
    player_slots,                                           -- concurrent sessions it can host
    hourly_cost,                                            -- the whole fleet per hour, in `currency`
    currency                                                -- ISO 4217 code
FROM fleet_capacity
WHERE changed_at < {to:DateTime64(3, 'UTC')}
ORDER BY region, changed_at
