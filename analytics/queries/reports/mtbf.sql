-- Mean time between failures: the mean gap between consecutive incident openings in [from_, to),
-- touching `region` ('' = any) = (last opening - first opening) / (incidents - 1).
SELECT
    count() AS incidents,                                   -- incidents opened in the period
    if(count() < 2, NULL,
       dateDiff('millisecond', min(opened_at), max(opened_at)) / 1000 / (count() - 1))
        AS mtbf_s                                           -- mean gap between openings, seconds (NULL: fewer than 2)
FROM incidents
WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR has(regions, {region:String}))
