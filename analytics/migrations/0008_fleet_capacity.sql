-- ops_event v2: the build a deploy rolls out, and fleet capacity (fleet_scaled events).
-- NULL on every other event, and on deploys written with ops_event v1.
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS build Nullable(String);          -- deploy_*: build rolled out
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS fleet_region Nullable(String);   -- fleet_scaled: region of the fleet
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS servers Nullable(Int64);         -- fleet_scaled: servers after the change
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS player_slots Nullable(Int64);    -- fleet_scaled: concurrent sessions it can host
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS hourly_cost Nullable(Float64);   -- fleet_scaled: whole fleet, per hour
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS currency Nullable(String);       -- fleet_scaled: ISO 4217 code of hourly_cost

-- deploys gains the build (from the first event that names one).
DROP VIEW IF EXISTS deploys;

CREATE VIEW IF NOT EXISTS deploys AS
SELECT
    deploy_id,
    argMin(service, occurred_at) AS service,
    argMin(version, occurred_at) AS version,
    argMin(regions, occurred_at) AS regions,
    argMinIf(build, occurred_at, build IS NOT NULL) AS build,
    min(if(event_type = 'deploy_started', occurred_at, NULL)) AS started_at,
    min(if(event_type = 'deploy_finished', occurred_at, NULL)) AS finished_at,
    anyIf(deploy_outcome, event_type = 'deploy_finished') AS outcome
FROM ops_events FINAL
WHERE deploy_id IS NOT NULL
GROUP BY deploy_id;

-- One row per fleet change: from changed_at the region's fleet has these servers, slots and
-- hourly cost, until its next change. Duplicate events collapse (FINAL).
CREATE VIEW IF NOT EXISTS fleet_capacity AS
SELECT
    fleet_region AS region,
    occurred_at AS changed_at,
    assumeNotNull(servers) AS servers,
    assumeNotNull(player_slots) AS player_slots,
    assumeNotNull(hourly_cost) AS hourly_cost,
    assumeNotNull(currency) AS currency
FROM ops_events FINAL
WHERE event_type = 'fleet_scaled';
