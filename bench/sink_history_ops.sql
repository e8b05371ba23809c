-- Synthetic ops history for the report benchmark: {incidents} incidents (INC-1...) opened every
-- 7 days / {incidents} from {base}, acknowledged after 5 min, mitigated after 20, resolved after 45;
-- and as many deploys (DEP-1...) 30 min before each incident, every 5th one failing.
INSERT INTO ops_events
    (event_id, occurred_at, producer, event_type, incident_id, severity, title, regions, services,
     deploy_id, service, version, deploy_outcome)
SELECT
    UUIDNumToString(MD5(concat('o', toString(i), '-', toString(k)))) AS event_id,
    {base:DateTime64(3, 'UTC')} + toIntervalSecond(intDiv(i * 604800, {incidents:UInt64}))
        + toIntervalMinute([0, 5, 20, 45, -30, -25][k + 1]) AS occurred_at,
    if(k < 4, 'incident-bot', 'deployer') AS producer,
    ['incident_opened', 'incident_acknowledged', 'incident_mitigated', 'incident_resolved',
     'deploy_started', 'deploy_finished'][k + 1] AS event_type,
    if(k < 4, concat('INC-', toString(i + 1)), NULL) AS incident_id,
    if(k < 4, ['sev1', 'sev2', 'sev3', 'sev4'][i % 4 + 1], NULL) AS severity,
    if(k < 4, 'synthetic incident', NULL) AS title,
    [['eu-west', 'us-east', 'ap-northeast', 'sa-east'][i % 4 + 1]] AS regions,
    if(k < 4, ['gameserver'], []) AS services,
    if(k >= 4, concat('DEP-', toString(i + 1)), NULL) AS deploy_id,
    if(k >= 4, 'gameserver', NULL) AS service,
    if(k >= 4, concat('1.', toString(i)), NULL) AS version,
    if(k = 5, if(i % 5 = 0, 'failure', 'success'), NULL) AS deploy_outcome
FROM
(
    SELECT intDiv(number, 6) AS i, number % 6 AS k FROM numbers({incidents:UInt64} * 6)
)
