-- Incident milestones: MTTD, MTTA, MTTM and MTTR, each as mean, p50 and p90 (seconds), over
-- incidents opened in [from_, to) touching `region` ('' = any). Milestone times are the
-- incidents view's (a correction wins). Impact start is impact_started_at, else the first
-- disconnect of the earliest disconnect-spike minute in the incident's regions in the hour up to
-- its opening (empty regions: any region); with neither, MTTD is unknown for that incident.
-- Quantiles are exact: with n durations sorted, q is the value at 0-based position floor(q * n).
-- A duration whose end is before its start is out of order: never averaged, the incident is
-- flagged. Drills are planned work: left out unless include_planned = 1, and counted apart.
WITH
    spike_first AS
    (
        SELECT a.anomaly_region AS region, a.window_start AS window_start,
               min(d.occurred_at) AS first_disruption
        FROM
        (
            SELECT DISTINCT anomaly_region, window_start
            FROM ops_events FINAL
            WHERE event_type = 'anomaly_detected' AND anomaly_kind = 'disconnect_spike'
        ) AS a
        INNER JOIN
        (
            SELECT region, occurred_at, toDateTime64(toStartOfMinute(occurred_at), 3, 'UTC') AS minute
            FROM session_events FINAL
            WHERE event_type = 'disconnected'
        ) AS d ON d.region = a.anomaly_region AND d.minute = a.window_start
        GROUP BY region, window_start
    ),
    period AS
    (
        SELECT *
        FROM incidents
        WHERE opened_at >= {from_:DateTime64(3, 'UTC')} AND opened_at < {to:DateTime64(3, 'UTC')}
          AND ({region:String} = '' OR has(regions, {region:String}))
    ),
    scoped AS
    (
        SELECT * FROM period WHERE {include_planned:UInt8} = 1 OR kind != 'drill'
    ),
    inferred AS
    (
        SELECT s.incident_id AS incident_id, min(toNullable(f.first_disruption)) AS spike_start
        FROM scoped AS s CROSS JOIN spike_first AS f
        WHERE (empty(s.regions) OR has(s.regions, f.region))
          AND f.window_start >= s.opened_at - INTERVAL 1 HOUR AND f.window_start <= s.opened_at
        GROUP BY s.incident_id
    ),
    timed AS
    (
        SELECT
            s.incident_id AS incident_id, s.opened_at AS opened_at, s.detected_at AS detected_at,
            s.acknowledged_at AS acknowledged_at, s.mitigated_at AS mitigated_at,
            s.resolved_at AS resolved_at,
            coalesce(s.impact_started_at, i.spike_start) AS impact_at
        FROM scoped AS s LEFT JOIN inferred AS i ON i.incident_id = s.incident_id
    )
SELECT
    count() AS incidents,                                           -- incidents counted
    (SELECT count() FROM period) - count() AS planned_excluded,     -- drills left out (0 with include_planned)
    countIf(impact_at IS NULL) AS impact_unknown,                   -- no impact start known: no MTTD
    countIf(mttd_x >= 0) AS mttd_n,                                  -- incidents with impact start -> detected, in order
    avgIf(mttd_x, mttd_x >= 0) AS mttd_mean_s,                         -- mean impact start -> detected, seconds (NULL: none)
    if(mttd_n = 0, NULL, arraySort(groupArrayIf(mttd_x, mttd_x >= 0))[toUInt64(floor(0.5 * mttd_n)) + 1]) AS mttd_p50_s,  -- median, seconds
    if(mttd_n = 0, NULL, arraySort(groupArrayIf(mttd_x, mttd_x >= 0))[toUInt64(floor(0.9 * mttd_n)) + 1]) AS mttd_p90_s,  -- 90th percentile, seconds
    countIf(mtta_x >= 0) AS mtta_n,                                  -- incidents with opened -> acknowledged, in order
    avgIf(mtta_x, mtta_x >= 0) AS mtta_mean_s,                         -- mean opened -> acknowledged, seconds (NULL: none)
    if(mtta_n = 0, NULL, arraySort(groupArrayIf(mtta_x, mtta_x >= 0))[toUInt64(floor(0.5 * mtta_n)) + 1]) AS mtta_p50_s,  -- median, seconds
    if(mtta_n = 0, NULL, arraySort(groupArrayIf(mtta_x, mtta_x >= 0))[toUInt64(floor(0.9 * mtta_n)) + 1]) AS mtta_p90_s,  -- 90th percentile, seconds
    countIf(mttm_x >= 0) AS mttm_n,                                  -- incidents with opened -> mitigated, in order
    avgIf(mttm_x, mttm_x >= 0) AS mttm_mean_s,                         -- mean opened -> mitigated, seconds (NULL: none)
    if(mttm_n = 0, NULL, arraySort(groupArrayIf(mttm_x, mttm_x >= 0))[toUInt64(floor(0.5 * mttm_n)) + 1]) AS mttm_p50_s,  -- median, seconds
    if(mttm_n = 0, NULL, arraySort(groupArrayIf(mttm_x, mttm_x >= 0))[toUInt64(floor(0.9 * mttm_n)) + 1]) AS mttm_p90_s,  -- 90th percentile, seconds
    countIf(mttr_x >= 0) AS mttr_n,                                  -- incidents with opened -> resolved, in order
    avgIf(mttr_x, mttr_x >= 0) AS mttr_mean_s,                         -- mean opened -> resolved, seconds (NULL: none)
    if(mttr_n = 0, NULL, arraySort(groupArrayIf(mttr_x, mttr_x >= 0))[toUInt64(floor(0.5 * mttr_n)) + 1]) AS mttr_p50_s,  -- median, seconds
    if(mttr_n = 0, NULL, arraySort(groupArrayIf(mttr_x, mttr_x >= 0))[toUInt64(floor(0.9 * mttr_n)) + 1]) AS mttr_p90_s,  -- 90th percentile, seconds
    countIf(disordered) AS out_of_order,                          -- incidents with a milestone out of order
    arraySort(groupArrayIf(incident_id, disordered)) AS out_of_order_ids  -- which
FROM
(
    SELECT
        incident_id, impact_at,
        dateDiff('millisecond', impact_at, detected_at) / 1000 AS mttd_x,
        dateDiff('millisecond', opened_at, acknowledged_at) / 1000 AS mtta_x,
        dateDiff('millisecond', opened_at, mitigated_at) / 1000 AS mttm_x,
        dateDiff('millisecond', opened_at, resolved_at) / 1000 AS mttr_x,
        ifNull(detected_at < impact_at, 0) OR
        ifNull(opened_at < impact_at, 0) OR
        ifNull(acknowledged_at < opened_at, 0) OR
        ifNull(mitigated_at < opened_at, 0) OR
        ifNull(resolved_at < opened_at, 0) OR
        ifNull(resolved_at < acknowledged_at, 0) OR
        ifNull(resolved_at < mitigated_at, 0) AS disordered
    FROM timed
)
