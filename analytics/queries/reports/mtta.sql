-- Mean time to acknowledge: incidents opened in [from_, to), touching `region` ('' = any).
-- Unacknowledged incidents are counted but left out of the mean.
SELECT
    count() AS incidents,                                   -- incidents opened in the period
    countIf(acknowledged_at IS NOT NULL) AS acknowledged,   -- of those, acknowledged (at any time)
    avgIf(dateDiff('millisecond', opened_at, acknowledged_at) / 1000, acknowledged_at IS NOT NULL)
        AS mtta_s                                           -- mean opened -> acknowledged, seconds (NULL: none)
FROM incidents
WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR has(regions, {region:String}))
