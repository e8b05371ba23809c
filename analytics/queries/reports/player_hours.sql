-- Player-hours played in [from_, to) by region and platform: each started session counts the
-- part of [started_at, live_until) inside the period (live_until: its end, or its last event
-- while open), in hours.
SELECT
    region,                                                 -- region of the sessions
    platform,                                               -- platform of the sessions
    count() AS sessions,                                    -- sessions live at some point in the period
    sum(dateDiff('millisecond', greatest(started_at, {from_:DateTime64(3, 'UTC')}),
                 least(live_until, {to:DateTime64(3, 'UTC')}))) / 3600000 AS player_hours  -- hours played in the period
FROM session_summary
WHERE started_at IS NOT NULL
  AND started_at < {to:DateTime64(3, 'UTC')} AND live_until > {from_:DateTime64(3, 'UTC')}
GROUP BY region, platform
ORDER BY region, platform
