-- Incidents whose window overlaps [from_, to): opened before `to` and not resolved before `from_`.
SELECT
    incident_id,                                            -- the incident
    severity,                                               -- sev1..sev4
    title,                                                  -- as first reported
    regions,                                                -- regions it touched
    opened_at,                                              -- first incident_opened
    resolved_at                                             -- first incident_resolved (NULL: open)
FROM incidents
WHERE opened_at < {to:DateTime64(3, 'UTC')}
  AND (resolved_at IS NULL OR resolved_at >= {from_:DateTime64(3, 'UTC')})
ORDER BY opened_at
