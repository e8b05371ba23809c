-- Mean time to resolve: incidents opened in [from_, to), touching `region` ('' = any).
-- Unresolved incidents are counted but left out of the mean, and so is one resolved before it
-- opened (out of order: see incident_milestones). Drills are left out unless include_planned = 1.
SELECT
    count() AS incidents,                                   -- incidents opened in the period
    countIf(resolved_at >= opened_at) AS resolved,             -- of those, resolved (at any time, in order)
    avgIf(dateDiff('millisecond', opened_at, resolved_at) / 1000, resolved_at >= opened_at)
        AS mttr_s,                                      -- mean opened -> resolved, seconds (NULL: none resolved)
    (SELECT count() FROM incidents
     WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
       AND ({region:String} = '' OR has(regions, {region:String})) AND kind = 'drill' AND {include_planned:UInt8} = 0)
        AS planned_excluded                                 -- drills left out (planned work; 0 with include_planned)
FROM incidents
WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR has(regions, {region:String}))
  AND ({include_planned:UInt8} = 1 OR kind != 'drill')
