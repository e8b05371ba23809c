-- Error rate and availability over sessions that ended in [from_, to) (how and when a session
-- ended is the end rule's: session_summary), filtered by region and platform ('' = any).
-- Abnormal: ended with error or server_crash, timed out while playing, or timed out waiting for
-- matchmaking (reservation_timed_out). Sessions still open at `to` are not counted. Sessions
-- that ended inside planned work in their region (a maintenance window, a drill: planned_work)
-- are left out, and counted apart, unless include_planned = 1.
WITH (SELECT groupArray((regions, starts_at, ends_at)) FROM planned_work) AS planned
SELECT
    countIf(counted) AS sessions_ended,                     -- sessions whose end falls in the period
    countIf(counted AND end_reason IN ('error', 'server_crash', 'timed_out', 'reservation_timed_out'))
        AS abnormal,                                        -- ended abnormally
    countIf(counted AND end_reason = 'timed_out') AS play_timeouts,  -- of those, started sessions that fell silent
    countIf(counted AND end_reason = 'reservation_timed_out') AS matchmaking_failures,  -- never started: matchmaking timed out
    if(sessions_ended = 0, NULL, abnormal / sessions_ended) AS error_rate,        -- abnormal / sessions_ended
    if(sessions_ended = 0, NULL, 1 - abnormal / sessions_ended) AS availability,  -- 1 - error_rate
    countIf(NOT counted) AS planned_excluded                -- sessions left out: they ended in planned work
FROM
(
    SELECT end_reason,
           {include_planned:UInt8} = 1
           OR NOT arrayExists(w -> (empty(w.1) OR has(w.1, region)) AND ended_at >= w.2 AND ended_at < w.3,
                              planned) AS counted
    FROM session_summary
    WHERE ended_at >= {from_:DateTime64(3, 'UTC')} AND ended_at < {to:DateTime64(3, 'UTC')}
      AND ({region:String} = '' OR region = {region:String})
      AND ({platform:String} = '' OR platform = {platform:String})
)
