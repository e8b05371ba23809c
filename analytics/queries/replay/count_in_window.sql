-- How many session events [from_, until) holds (one region, or '' = all): the total for progress.
SELECT count() AS n
FROM session_events FINAL
WHERE occurred_at >= {from_:DateTime64(3, 'UTC')} AND occurred_at < {until:DateTime64(3, 'UTC')}
  AND ({region:String} = '' OR region = {region:String})
