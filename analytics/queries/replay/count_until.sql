-- How many session events occurred before `until` (one region, or '' = all): sizes the ranges
-- of `sessions_as_of` and the progress of `replay window --at`.
SELECT count() AS n
FROM session_events
WHERE occurred_at < {until:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
