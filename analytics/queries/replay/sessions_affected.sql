-- Sessions disrupted in [from_, to): disconnected, timed out, or ended with error/server_crash
-- there. regions: comma-separated, '' = every region. The first `limit` by first disruption. A
-- timeout verdict overruled by an earlier `ended` (the end rule, session_summary) is no disruption.
SELECT
    session_id,                  -- the session
    player_id,                   -- its player
    session_region AS region,    -- its region
    session_platform AS platform,-- its platform
    disconnects,                 -- disconnected events in the window
    reconnects,                  -- reconnected events in the window
    timeouts,                    -- 1 if it timed out in the window
    abnormal_ends,               -- 1 if it ended with error or server_crash in the window
    first_disrupted_at           -- its first disruption in the window
FROM
(
    SELECT
        session_id,
        any(player_id) AS player_id,
        any(region) AS session_region,
        any(platform) AS session_platform,
        countIf(event_type = 'disconnected') AS disconnects,
        countIf(event_type = 'reconnected') AS reconnects,
        countIf(event_type = 'timed_out') AS timeouts,
        countIf(event_type = 'ended' AND end_reason IN ('error', 'server_crash')) AS abnormal_ends,
        min(if(event_type IN ('disconnected', 'timed_out')
               OR (event_type = 'ended' AND end_reason IN ('error', 'server_crash')),
               occurred_at, NULL)) AS first_disrupted_at
    FROM session_events FINAL
    WHERE occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
      AND ({regions:String} = '' OR has(splitByChar(',', {regions:String}), region))
      AND (event_type != 'timed_out' OR session_id NOT IN (
          -- the end rule over the sessions timed out in the window only, not the whole history
          SELECT session_id FROM session_summary
          WHERE session_id IN (
                    SELECT session_id FROM session_events
                    WHERE event_type = 'timed_out'
                      AND occurred_at >= {from_:DateTime64(3, 'UTC')}
                      AND occurred_at < {to:DateTime64(3, 'UTC')})
            AND status = 'ended' AND timeout_at IS NOT NULL))
    GROUP BY session_id
    HAVING disconnects + timeouts + abnormal_ends > 0
)
ORDER BY first_disrupted_at, session_id
LIMIT {limit:UInt32}
