-- Mean time to resolve: incidents opened in [from_, to), touching `region` ('' = any).
-- Unresolved incidents are counted but left out of the mean.
SELECT
    count() AS incidents,                                   -- incidents opened in the period
    countIf(resolved_at IS NOT NULL) AS resolved,           -- of those, resolved (at any time)
    avgIf(dateDiff('millisecond', opened_at, resolved_at) / 1000, resolved_at IS NOT NULL)
        AS mttr_s                                           -- mean opened -> resolved, seconds (NULL: none resolved)
FROM incidents
WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR has(regions, {region:String}))
