-- Parts of the rewritten tables that are no longer active but still on disk: the copies a
-- rewrite (or a merge) replaced, removed once old_parts_lifetime has passed and the cleanup runs.
--   parts  how many
--   bytes  their size on disk
SELECT count() AS parts, sum(bytes_on_disk) AS bytes
FROM system.parts
WHERE database = currentDatabase() AND table IN ('session_events', 'sessions') AND NOT active
