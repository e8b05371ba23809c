-- Time-based uptime per region over [from_, to): the share of minutes not inside an unplanned
-- sev1/sev2 incident or a paging SLO burn alert touching the region. A minute [t, t + 1 min)
-- is down when its start t lies in such an interval [start, end): an incident from opened_at to
-- resolved_at, an alert from its opening (window_start) to its slo_burn resolved event; either
-- still open runs to `to`. Severity is the incident's first. An incident with no regions, or an
-- alert on an SLO not cut by region (region 'all'), touches every region. Regions are those
-- with a session event in the period or an incident or alert in it; `region` filters ('' = any).
-- Drills and maintenance windows are planned work: not downtime unless include_planned = 1.
WITH
    (
        SELECT groupArray((regions, starts, ends)) FROM
        (
            SELECT regions, opened_at AS starts, ifNull(resolved_at, {to:DateTime64(3, 'UTC')}) AS ends
            FROM incidents
            WHERE severity IN ('sev1', 'sev2') AND opened_at IS NOT NULL
              AND (kind != 'drill' OR {include_planned:UInt8} = 1)
            UNION ALL
            SELECT if(any(anomaly_region) = 'all', [], [any(anomaly_region)]) AS regions,
                   window_start AS starts,
                   ifNull(minIf(occurred_at, burn_state = 'resolved'), {to:DateTime64(3, 'UTC')}) AS ends
            FROM ops_events FINAL
            WHERE event_type = 'slo_burn' AND burn_alert = 'page'
            GROUP BY slo, anomaly_region, long_window_s, window_start
            UNION ALL
            SELECT regions, starts_at AS starts, ends_at AS ends
            FROM planned_work
            WHERE {include_planned:UInt8} = 1 AND work = 'maintenance'
        )
    ) AS down,
    minutes AS
    (
        SELECT {from_:DateTime64(3, 'UTC')} + toIntervalMinute(number) AS minute
        FROM numbers(toUInt64(greatest(dateDiff('minute', {from_:DateTime64(3, 'UTC')},
                                                          {to:DateTime64(3, 'UTC')}), 0)))
    ),
    regions_seen AS
    (
        SELECT DISTINCT region FROM session_events FINAL
        WHERE occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
        UNION DISTINCT
        SELECT arrayJoin(d.1) AS region FROM (SELECT arrayJoin(down) AS d)
        WHERE d.2 < {to:DateTime64(3, 'UTC')} AND d.3 > {from_:DateTime64(3, 'UTC')}
    )
SELECT
    r.region AS region,                                           -- hosting region
    count() AS minutes,                                           -- whole minutes in the period
    countIf(arrayExists(w -> (empty(w.1) OR has(w.1, r.region)) AND m.minute >= w.2 AND m.minute < w.3,
                        down)) AS down_minutes,                   -- minutes inside an outage
    1 - down_minutes / minutes AS uptime                          -- share of minutes up
FROM regions_seen AS r CROSS JOIN minutes AS m
WHERE {region:String} = '' OR r.region = {region:String}
GROUP BY r.region
ORDER BY r.region
