"""Small hand-worked stories of sessions and incidents that several tests replay."""
from __future__ import annotations

from datetime import timedelta

from tests.support.factories import T0, ops_event, session_script


def incident_story():
    """An eu-west incident from T0+1m to T0+6m: one session drops and comes back, one times out;
    a us-east session plays on undisturbed."""
    dropped = session_script(player_id="p-drop", start=T0, heartbeats=6, heartbeat_every=timedelta(seconds=20),
                             disconnect_and_reconnect=True, downtime=timedelta(seconds=40))
    lost = session_script(player_id="p-lost", start=T0 + timedelta(seconds=30), heartbeats=2,
                          end="timed_out", timeout_s=90)
    calm = session_script(player_id="p-calm", start=T0, heartbeats=10, heartbeat_every=timedelta(seconds=30),
                          region="us-east", platform="xbox")
    incident = dict(incident_id="INC-7", regions=("eu-west",), severity="sev1")
    ops = [ops_event("incident_opened", occurred_at=T0 + timedelta(minutes=1), **incident),
           ops_event("incident_acknowledged", occurred_at=T0 + timedelta(minutes=2), **incident),
           ops_event("incident_mitigated", occurred_at=T0 + timedelta(minutes=4), **incident),
           ops_event("incident_resolved", occurred_at=T0 + timedelta(minutes=6), **incident)]
    return dropped, lost, calm, ops
