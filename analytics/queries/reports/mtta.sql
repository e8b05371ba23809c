-- Mean time to acknowledge: incidents opened in [from_, to), touching `region` ('' = any).
-- Unacknowledged incidents are counted but left out of the mean, and so is one acknowledged
-- before it opened (out of order). Drills are left out unless include_planned = 1.
SELECT
    count() AS incidents,                                   -- incidents opened in the period
    countIf(acknowledged_at >= opened_at) AS acknowledged,     -- of those, acknowledged (at any time)
    avgIf(dateDiff('millisecond', opened_at, acknowledged_at) / 1000, acknowledged_at >= opened_at)
        AS mtta_s,                                      -- mean opened -> acknowledged, seconds (NULL: none)
    (SELECT count() FROM incidents
     WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
       AND ({region:String} = '' OR has(regions, {region:String})) AND kind = 'drill' AND {include_planned:UInt8} = 0)
        AS planned_excluded                                 -- drills left out (planned work; 0 with include_planned)
FROM incidents
WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR has(regions, {region:String}))
  AND ({include_planned:UInt8} = 1 OR kind != 'drill')
