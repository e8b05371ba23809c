-- One incident's phases: opened, acknowledged, mitigated, resolved (NULL: not reached), with its
-- severity, title and regions, from the incidents view. No row: the incident was never opened.
SELECT incident_id, severity, title, regions, services,
       opened_at, acknowledged_at, mitigated_at, resolved_at
FROM incidents
WHERE incident_id = {incident_id:String} AND opened_at IS NOT NULL
