-- The sessions a deploy verdict compares: one row per session started in [from_, to) in the
-- deploy's regions (all regions when it names none). The caller splits them into canary (the
-- deploy's build) and baseline (every other build). How each session ended is the end rule's
-- (session_summary), as the ledger knows it now; its events are those in [from_, to).
WITH (SELECT argMin(regions, occurred_at) FROM ops_events FINAL
      WHERE deploy_id = {deploy_id:String}) AS deploy_regions
SELECT
    s.session_id AS session_id,
    e.build AS build,                                       -- the session's build (its first event's)
    s.status != 'open' AS ended,                            -- 1: ended or timed out
    ifNull(s.end_reason IN ('error', 'server_crash', 'timed_out', 'reservation_timed_out'), 0)
        AS abnormal,                                        -- 1: ended abnormally
    e.disconnects > 0 AS disconnected,                      -- 1: at least one `disconnected`
    e.reconnects > 0 AS reconnected,                        -- 1: at least one `reconnected`
    e.latency_p95_ms AS latency_p95_ms,                     -- the session's heartbeat latency p95, ms (NULL: no heartbeat)
    e.queue_ms AS queue_ms                                  -- matchmaking time from `started`, ms (NULL: none seen)
FROM session_summary AS s
INNER JOIN
(
    SELECT
        session_id,
        argMin(build, seq) AS build,
        countIf(event_type = 'disconnected') AS disconnects,
        countIf(event_type = 'reconnected') AS reconnects,
        arraySort(groupArrayIf(latency_ms, event_type = 'heartbeat')) AS latencies,
        if(empty(latencies), NULL,
           latencies[toUInt64(floor(0.95 * length(latencies))) + 1]) AS latency_p95_ms,
        anyIf(queue_ms, event_type = 'started') AS queue_ms
    FROM session_events FINAL
    WHERE occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {to:DateTime64(3, 'UTC')}
    GROUP BY session_id
) AS e ON e.session_id = s.session_id
WHERE s.started_at >= {from_:DateTime64(3, 'UTC')} AND s.started_at < {to:DateTime64(3, 'UTC')}
  AND (empty(deploy_regions) OR has(deploy_regions, s.region))
ORDER BY session_id
