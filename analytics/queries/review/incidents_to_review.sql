-- Incidents to review: opened in [from_, to), or still open whenever they were opened; newest
-- first. Filter: '' = any region, else incidents whose regions include it.
SELECT
    incident_id,                                            -- the incident
    severity,                                               -- sev1..sev4
    title,                                                  -- as first reported
    regions,                                                -- regions it touched
    services,                                               -- services involved
    opened_at,                                              -- first incident_opened
    acknowledged_at,                                        -- first incident_acknowledged (NULL: not yet)
    mitigated_at,                                           -- first incident_mitigated (NULL: not yet)
    resolved_at                                             -- first incident_resolved (NULL: open)
FROM incidents
WHERE opened_at IS NOT NULL
  AND ((opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')})
       OR resolved_at IS NULL)
  AND ({region:String} = '' OR has(regions, {region:String}))
ORDER BY opened_at DESC
LIMIT 50
