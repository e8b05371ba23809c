-- Customer impact of one incident, by region, platform and cross_play. The incident's window runs
-- from its opening to its resolution (still open: to the last event in the ledger). A session is
-- disrupted when, inside the window and in one of the incident's regions, it was disconnected,
-- ended with error or server_crash, or timed out. Player-minutes lost per disrupted session:
-- the downtime of its reconnections in the window, plus, if it ended abnormally in the window,
-- the time from that end (timed out: from its last heartbeat) to the end of the window. A timeout
-- verdict overruled by an earlier `ended` (the end rule, session_summary) is no disruption.
WITH
    (SELECT any(regions) FROM incidents WHERE incident_id = {incident_id:String}) AS incident_regions,
    (SELECT any(opened_at) FROM incidents WHERE incident_id = {incident_id:String}) AS window_start,
    ifNull((SELECT any(resolved_at) FROM incidents WHERE incident_id = {incident_id:String}),
           (SELECT max(occurred_at) FROM session_events)) AS window_end
SELECT
    session_region AS region,                               -- region of the disrupted sessions
    session_platform AS platform,                           -- their platform
    session_cross_play AS cross_play,                       -- whether they had cross-play on
    count() AS sessions_disrupted,                          -- disrupted sessions
    uniqExact(player_id) AS unique_players,                 -- distinct players among them
    round(sum(lost_ms) / 60000, 3) AS player_minutes_lost   -- summed minutes lost, see above
FROM
(
    SELECT
        session_id,
        any(player_id) AS player_id,
        any(region) AS session_region,
        any(platform) AS session_platform,
        any(cross_play) AS session_cross_play,
        ifNull(sumIf(downtime_ms, event_type = 'reconnected'), 0) AS reconnect_ms,
        min(if(event_type = 'timed_out' OR (event_type = 'ended' AND end_reason IN ('error', 'server_crash')),
               if(event_type = 'timed_out', last_heartbeat_at, occurred_at), NULL)) AS abnormal_end,
        countIf(event_type IN ('disconnected', 'timed_out')
                OR (event_type = 'ended' AND end_reason IN ('error', 'server_crash'))) AS disruptions,
        reconnect_ms + if(abnormal_end IS NULL, 0,
                          greatest(0, dateDiff('millisecond', abnormal_end, window_end))) AS lost_ms
    -- PREWHERE runs before FINAL collapses re-delivered copies; every copy of an event has its
    -- time and region, so the same rows survive, and only the window's rows are collapsed. The
    -- end rule (session_summary) is read only for sessions with a verdict in the window.
    FROM session_events FINAL
    PREWHERE occurred_at >= window_start AND occurred_at <= window_end
         AND has(incident_regions, region)
    WHERE event_type != 'timed_out'
       OR session_id NOT IN (SELECT session_id FROM session_summary
                             WHERE session_id IN (SELECT session_id FROM session_events
                                                  PREWHERE occurred_at >= window_start
                                                       AND occurred_at <= window_end
                                                       AND has(incident_regions, region)
                                                  WHERE event_type = 'timed_out')
                               AND status = 'ended' AND timeout_at IS NOT NULL)
    GROUP BY session_id
    HAVING disruptions > 0
)
GROUP BY region, platform, cross_play
ORDER BY region, platform, cross_play
