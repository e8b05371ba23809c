-- How long a replaced part stays on disk, from the MergeTree settings: old_parts_lifetime (kept
-- at least this long after it stops being active), max_cleanup_delay_period and
-- cleanup_delay_period_random_add (the longest the cleanup may wait between runs). Seconds.
SELECT name, toUInt64OrZero(value) AS seconds
FROM system.merge_tree_settings
WHERE name IN ('old_parts_lifetime', 'max_cleanup_delay_period', 'cleanup_delay_period_random_add')
