-- Record that this warehouse applied one erasure (table erasures, migration 0010).
INSERT INTO erasures (key, token, requested_at, done_at, session_events_rows, sessions_rows, last_copy_by)
SELECT {key:String}, {token:String}, {requested_at:DateTime64(3, 'UTC')},
       {done_at:DateTime64(3, 'UTC')}, {session_events_rows:UInt64}, {sessions_rows:UInt64},
       {last_copy_by:DateTime64(3, 'UTC')}
