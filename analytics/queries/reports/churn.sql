-- Churn: players active in [from_, to) (any session event; filters: '' = any) who have no session
-- event at all in the next period of the same length, [to, to + (to - from_)).
WITH
    {from_:DateTime64(3, 'UTC')} AS period_start,
    {to:DateTime64(3, 'UTC')} AS period_end,
    period_end + toIntervalMillisecond(dateDiff('millisecond', period_start, period_end)) AS next_end
SELECT
    count() AS active_players,                              -- players active in the period
    countIf(returned) AS returned_players,                  -- of those, active again in the next period
    active_players - returned_players AS churned_players,   -- of those, not seen in the next period
    if(active_players = 0, NULL, churned_players / active_players) AS churn_rate  -- churned / active
FROM
(
    SELECT player_id,
           max(occurred_at >= period_end) AS returned
    FROM session_events
    WHERE occurred_at >= period_start AND occurred_at < next_end
    GROUP BY player_id
    HAVING min(occurred_at) < period_end
       AND countIf(occurred_at < period_end
                   AND ({region:String} = '' OR region = {region:String})
                   AND ({platform:String} = '' OR platform = {platform:String})) > 0
)
