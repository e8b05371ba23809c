-- Ops events v2 (docs/events.md): incident kinds and milestones, maintenance windows, SLO burn
-- alerts. The new columns are NULL on rows written before them (v1 events), which read as
-- incident_kind 'unplanned' in the views below.
ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS incident_kind Nullable(String);  -- unplanned, drill, maintenance

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS impact_started_at Nullable(DateTime64(3, 'UTC'));

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS milestone Nullable(String);  -- incident_corrected: which milestone

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS milestone_at Nullable(DateTime64(3, 'UTC'));  -- incident_corrected: its new time

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS planned_start Nullable(DateTime64(3, 'UTC'));  -- maintenance_scheduled

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS planned_end Nullable(DateTime64(3, 'UTC'));  -- maintenance_scheduled, exclusive

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS slo Nullable(String);  -- slo_burn: SLO name

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS burn_alert Nullable(String);  -- slo_burn: page, ticket

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS burn_state Nullable(String);  -- slo_burn: opened, resolved

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS burn_rate Nullable(Float64);  -- slo_burn: long-window burn rate

ALTER TABLE ops_events ADD COLUMN IF NOT EXISTS long_window_s Nullable(Int64);  -- slo_burn: long window, seconds

DROP VIEW IF EXISTS incidents;

-- One row per incident (maintenance windows are in maintenance_windows). Columns:
--   severity, title, regions, services  as on the first event of the incident
--   kind  unplanned, drill (planned work); the latest event's kind wins
--   <milestone>_at  the latest incident_corrected of that milestone if any, else the first
--                   event marking it (NULL: not reached yet)
--   impact_started_at  corrected, else the latest impact_started_at any event gave (NULL: unknown)
--   <milestone>_corrected_by / _corrected_at  producer and time of the winning correction
CREATE VIEW IF NOT EXISTS incidents AS
SELECT
    incident_id,
    argMin(severity, occurred_at) AS severity,
    argMin(title, occurred_at) AS title,
    argMin(regions, occurred_at) AS regions,
    argMin(services, occurred_at) AS services,
    coalesce(argMaxIf(milestone_at, occurred_at, event_type = 'incident_corrected' AND milestone = 'opened'),
             min(if(event_type = 'incident_opened', occurred_at, NULL))) AS opened_at,
    coalesce(argMaxIf(milestone_at, occurred_at, event_type = 'incident_corrected' AND milestone = 'detected'),
             min(if(event_type = 'incident_detected', occurred_at, NULL))) AS detected_at,
    coalesce(argMaxIf(milestone_at, occurred_at, event_type = 'incident_corrected' AND milestone = 'acknowledged'),
             min(if(event_type = 'incident_acknowledged', occurred_at, NULL))) AS acknowledged_at,
    coalesce(argMaxIf(milestone_at, occurred_at, event_type = 'incident_corrected' AND milestone = 'mitigated'),
             min(if(event_type = 'incident_mitigated', occurred_at, NULL))) AS mitigated_at,
    coalesce(argMaxIf(milestone_at, occurred_at, event_type = 'incident_corrected' AND milestone = 'resolved'),
             min(if(event_type = 'incident_resolved', occurred_at, NULL))) AS resolved_at,
    coalesce(argMaxIf(milestone_at, occurred_at,
                      event_type = 'incident_corrected' AND milestone = 'impact_started'),
             argMaxIf(impact_started_at, occurred_at, impact_started_at IS NOT NULL))
        AS impact_started_at,
    coalesce(argMax(incident_kind, occurred_at), 'unplanned') AS kind,
    argMaxIf(producer, occurred_at, event_type = 'incident_corrected' AND milestone = 'impact_started') AS impact_started_corrected_by,
    maxIf(occurred_at, event_type = 'incident_corrected' AND milestone = 'impact_started') AS impact_started_corrected_at,
    argMaxIf(producer, occurred_at, event_type = 'incident_corrected' AND milestone = 'opened') AS opened_corrected_by,
    maxIf(occurred_at, event_type = 'incident_corrected' AND milestone = 'opened') AS opened_corrected_at,
    argMaxIf(producer, occurred_at, event_type = 'incident_corrected' AND milestone = 'detected') AS detected_corrected_by,
    maxIf(occurred_at, event_type = 'incident_corrected' AND milestone = 'detected') AS detected_corrected_at,
    argMaxIf(producer, occurred_at, event_type = 'incident_corrected' AND milestone = 'acknowledged') AS acknowledged_corrected_by,
    maxIf(occurred_at, event_type = 'incident_corrected' AND milestone = 'acknowledged') AS acknowledged_corrected_at,
    argMaxIf(producer, occurred_at, event_type = 'incident_corrected' AND milestone = 'mitigated') AS mitigated_corrected_by,
    maxIf(occurred_at, event_type = 'incident_corrected' AND milestone = 'mitigated') AS mitigated_corrected_at,
    argMaxIf(producer, occurred_at, event_type = 'incident_corrected' AND milestone = 'resolved') AS resolved_corrected_by,
    maxIf(occurred_at, event_type = 'incident_corrected' AND milestone = 'resolved') AS resolved_corrected_at
FROM ops_events FINAL
WHERE incident_id IS NOT NULL AND event_type != 'maintenance_scheduled'
GROUP BY incident_id;

-- One row per maintenance window; the latest maintenance_scheduled of an id wins (an end equal
-- to the start cancels the window). starts_at inclusive, ends_at exclusive.
CREATE VIEW IF NOT EXISTS maintenance_windows AS
SELECT
    incident_id AS window_id,
    argMax(title, occurred_at) AS title,
    argMax(regions, occurred_at) AS regions,
    argMax(planned_start, occurred_at) AS starts_at,
    argMax(planned_end, occurred_at) AS ends_at,
    argMax(producer, occurred_at) AS scheduled_by
FROM ops_events FINAL
WHERE event_type = 'maintenance_scheduled'
GROUP BY incident_id;

-- Planned work: maintenance windows and drills (work: maintenance or drill; work_id: the window's or
-- the drill's id), as (regions, starts_at, ends_at) with ends_at
-- exclusive; empty regions means everywhere. A drill runs from its opened_at to its resolved_at
-- (still running: to the end of time). SLO budgets, availability, MTTR and MTBF leave what falls
-- inside out by default.
CREATE VIEW IF NOT EXISTS planned_work AS
SELECT regions, starts_at, ends_at, 'maintenance' AS work, window_id AS work_id
FROM maintenance_windows
WHERE ends_at > starts_at
UNION ALL
SELECT regions, opened_at AS starts_at,
       ifNull(resolved_at, toDateTime64('2105-12-31 00:00:00', 3, 'UTC')) AS ends_at,
       'drill' AS work, incident_id AS work_id
FROM incidents
WHERE incidents.kind = 'drill' AND opened_at IS NOT NULL;
