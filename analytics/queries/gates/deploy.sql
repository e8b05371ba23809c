-- One deploy, as a verdict needs it (empty: no such deploy).
SELECT
    deploy_id,                                              -- the deploy asked for
    build,                                                  -- build it rolls out (NULL: not said, ops_event v1)
    regions,                                                -- regions it targets ([]: all)
    started_at,                                             -- first deploy_started (NULL: none)
    finished_at,                                            -- first deploy_finished (NULL: still rolling out)
    outcome                                                 -- from deploy_finished
FROM deploys
WHERE deploy_id = {deploy_id:String}
