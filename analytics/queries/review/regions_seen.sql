-- Regions with any session activity in [from_, to) (the overview's region filter offers these).
SELECT DISTINCT region                                      -- a region name
FROM session_minute_rollup
WHERE minute >= toStartOfMinute({from_:DateTime64(3, 'UTC')}) AND minute < {to:DateTime64(3, 'UTC')}
ORDER BY region
