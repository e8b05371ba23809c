-- Error rate and availability over sessions that ended in [from_, to) (how and when a session
-- ended is the end rule's: session_summary), filtered by region and platform ('' = any).
-- Abnormal: ended with error or server_crash, timed out while playing, or timed out waiting for
-- matchmaking (reservation_timed_out). Sessions still open at `to` are not counted.
SELECT
    count() AS sessions_ended,                              -- sessions whose end falls in the period
    countIf(end_reason IN ('error', 'server_crash', 'timed_out', 'reservation_timed_out'))
        AS abnormal,                                        -- ended abnormally
    countIf(end_reason = 'timed_out') AS play_timeouts,     -- of those, started sessions that fell silent
    countIf(end_reason = 'reservation_timed_out') AS matchmaking_failures,  -- never started: matchmaking timed out
    if(count() = 0, NULL, abnormal / count()) AS error_rate,                   -- abnormal / sessions_ended
    if(count() = 0, NULL, 1 - abnormal / count()) AS availability              -- 1 - error_rate
FROM session_summary
WHERE ended_at >= {from_:DateTime64(3, 'UTC')} AND ended_at < {to:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
  AND ({platform:String} = '' OR platform = {platform:String})
