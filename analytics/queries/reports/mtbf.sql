-- Mean time between failures: the mean gap between consecutive incident openings in [from_, to),
-- touching `region` ('' = any) = (last opening - first opening) / (incidents - 1). Drills are
-- planned work, not failures: left out unless include_planned = 1.
SELECT
    count() AS incidents,                                   -- incidents opened in the period
    if(count() < 2, NULL,
       dateDiff('millisecond', min(opened_at), max(opened_at)) / 1000 / (count() - 1))
        AS mtbf_s,                                      -- mean gap between openings, seconds (NULL: fewer than 2)
    (SELECT count() FROM incidents
     WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
       AND ({region:String} = '' OR has(regions, {region:String})) AND kind = 'drill' AND {include_planned:UInt8} = 0)
        AS planned_excluded                                 -- drills left out (planned work; 0 with include_planned)
FROM incidents
WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR has(regions, {region:String}))
  AND ({include_planned:UInt8} = 1 OR kind != 'drill')
