-- Churn after one incident, disrupted players against an undisrupted cohort. Window as in
-- incident_impact.sql. Disrupted: disconnected, ended with error/server_crash, or timed out in the
-- window in one of the incident's regions. Undisrupted: active in the window in those regions, not
-- disrupted. Churned: no session event after the window end, up to follow_days days after it. A
-- timeout verdict overruled by an earlier `ended` (the end rule, session_summary) is no disruption.
WITH
    (SELECT any(regions) FROM incidents WHERE incident_id = {incident_id:String}) AS incident_regions,
    (SELECT any(opened_at) FROM incidents WHERE incident_id = {incident_id:String}) AS window_start,
    ifNull((SELECT any(resolved_at) FROM incidents WHERE incident_id = {incident_id:String}),
           (SELECT max(occurred_at) FROM session_events)) AS window_end,
    window_end + toIntervalDay({follow_days:UInt32}) AS follow_end,
    -- every player with an event in the window in the incident's regions: only they can be in a
    -- cohort, so only their events are grouped and the end rule read only for their verdicts
    window_players AS (SELECT DISTINCT player_id FROM session_events
                       PREWHERE occurred_at >= window_start AND occurred_at <= window_end
                            AND has(incident_regions, region))
SELECT
    if(disrupted, 'disrupted', 'undisrupted') AS cohort,    -- which cohort the row describes
    count() AS players,                                     -- players in the cohort
    countIf(NOT returned) AS churned,                       -- of those, not seen in the follow-up
    churned / players AS churn_rate                         -- churned / players
FROM
(
    SELECT
        player_id,
        max(occurred_at >= window_start AND occurred_at <= window_end AND has(incident_regions, region)
            AND (event_type IN ('disconnected', 'timed_out')
                 OR (event_type = 'ended' AND ifNull(end_reason, '') IN ('error', 'server_crash'))))
            AS disrupted,
        max(occurred_at > window_end) AS returned
    FROM session_events
    WHERE occurred_at >= window_start AND occurred_at < follow_end
      AND player_id IN (SELECT player_id FROM window_players)
      AND (event_type != 'timed_out'
           OR session_id NOT IN (SELECT session_id FROM session_summary
                                 WHERE session_id IN (SELECT session_id FROM session_events
                                                      PREWHERE occurred_at >= window_start
                                                           AND occurred_at < follow_end
                                                           AND event_type = 'timed_out'
                                                      WHERE player_id IN (SELECT player_id FROM window_players))
                                   AND status = 'ended' AND timeout_at IS NOT NULL))
    GROUP BY player_id
    HAVING max(occurred_at <= window_end AND has(incident_regions, region)) = 1
)
GROUP BY cohort
ORDER BY cohort
