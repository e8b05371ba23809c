-- Deploys that name a build and began (deploy_started, else deploy_finished) in [from_, to),
-- the ones a report judges, oldest first.
SELECT
    deploy_id,                                              -- the deploy
    build,                                                  -- build it rolls out
    ifNull(started_at, finished_at) AS began_at             -- when it began
FROM deploys
WHERE build IS NOT NULL
  AND ifNull(started_at, finished_at) >= {from_:DateTime64(3, 'UTC')}
  AND ifNull(started_at, finished_at) < {to:DateTime64(3, 'UTC')}
ORDER BY began_at, deploy_id
