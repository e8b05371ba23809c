-- Change failure rate: of the deploys finished in [from_, to) (touching `region`, '' = any), the share
-- followed by an incident opened in [finished_at, finished_at + window_minutes) in a shared region.
WITH (SELECT groupArray((opened_at, regions)) FROM incidents WHERE opened_at IS NOT NULL) AS opened
SELECT
    count() AS deploys,                                     -- deploys finished in the period
    countIf(caused_incident) AS failed_deploys,             -- of those, followed by an incident
    if(count() = 0, NULL, countIf(caused_incident) / count())
        AS change_failure_rate                              -- failed_deploys / deploys (NULL: no deploys)
FROM
(
    SELECT
        arrayExists(i -> i.1 >= finished_at
                     AND i.1 < finished_at + toIntervalMinute({window_minutes:UInt32})
                     AND hasAny(i.2, regions), opened) AS caused_incident
    FROM deploys
    WHERE finished_at >= {from_:DateTime64(3, 'UTC')} AND finished_at < {to:DateTime64(3, 'UTC')}
      AND ({region:String} = '' OR has(regions, {region:String}))
)
