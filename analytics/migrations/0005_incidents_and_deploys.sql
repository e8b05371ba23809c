-- One row per incident, folded from its ops events. Columns:
--   opened_at / acknowledged_at / mitigated_at / resolved_at  first event of each kind (NULL: not yet)
--   severity, title, regions, services  as on the first event of the incident
CREATE VIEW IF NOT EXISTS incidents AS
SELECT
    incident_id,
    argMin(severity, occurred_at) AS severity,
    argMin(title, occurred_at) AS title,
    argMin(regions, occurred_at) AS regions,
    argMin(services, occurred_at) AS services,
    min(if(event_type = 'incident_opened', occurred_at, NULL)) AS opened_at,
    min(if(event_type = 'incident_acknowledged', occurred_at, NULL)) AS acknowledged_at,
    min(if(event_type = 'incident_mitigated', occurred_at, NULL)) AS mitigated_at,
    min(if(event_type = 'incident_resolved', occurred_at, NULL)) AS resolved_at
FROM ops_events FINAL
WHERE incident_id IS NOT NULL
GROUP BY incident_id;

-- One row per deploy. started_at / finished_at: first deploy_started / deploy_finished (NULL: none);
-- outcome: from deploy_finished; regions: as on the first event.
CREATE VIEW IF NOT EXISTS deploys AS
SELECT
    deploy_id,
    argMin(service, occurred_at) AS service,
    argMin(version, occurred_at) AS version,
    argMin(regions, occurred_at) AS regions,
    min(if(event_type = 'deploy_started', occurred_at, NULL)) AS started_at,
    min(if(event_type = 'deploy_finished', occurred_at, NULL)) AS finished_at,
    anyIf(deploy_outcome, event_type = 'deploy_finished') AS outcome
FROM ops_events FINAL
WHERE deploy_id IS NOT NULL
GROUP BY deploy_id;
