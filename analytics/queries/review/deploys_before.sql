-- Deploys started in the lookback_minutes before an instant `at` (an incident's opening), latest
-- first, with their outcome (NULL: not finished).
SELECT
    deploy_id,                                              -- the deploy
    service,                                                -- what was deployed
    version,                                                -- to which version
    regions,                                                -- where (empty: everywhere)
    started_at,                                             -- first deploy_started
    finished_at,                                            -- first deploy_finished (NULL: not yet)
    outcome                                                 -- success, failure, rolled_back (NULL: not finished)
FROM deploys
WHERE started_at IS NOT NULL
  AND started_at <= {at:DateTime64(3, 'UTC')}
  AND started_at >= {at:DateTime64(3, 'UTC')} - toIntervalMinute({lookback_minutes:UInt32})
ORDER BY started_at DESC
LIMIT 20
