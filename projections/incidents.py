"""Incident milestones: which milestone an ops event marks, and the order milestones must keep.

Pure: no clock, no I/O. ``MilestoneGuard`` is what ``ledger emit`` runs over its input so that
an incident resolved before it was opened is refused at the door; the reports run the same rule
in SQL (analytics/queries/reports/incident_milestones.sql) and flag what slipped past.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from projections.errors import MilestoneOutOfOrder
from schemas.models import INCIDENT_MILESTONE_TYPES, Incident, Milestone, OpsEvent, OpsEventType

NOT_BEFORE: tuple[tuple[Milestone, Milestone], ...] = (
    (Milestone.impact_started, Milestone.detected),
    (Milestone.impact_started, Milestone.opened),
    (Milestone.opened, Milestone.acknowledged),
    (Milestone.opened, Milestone.mitigated),
    (Milestone.opened, Milestone.resolved),
    (Milestone.acknowledged, Milestone.resolved),
    (Milestone.mitigated, Milestone.resolved),
)
"""(earlier, later): ``later`` may not be before ``earlier``. Detection may come before or after
the incident is opened (monitoring often opens it), so detected is only held after impact."""


def milestones_of(event: object) -> list[tuple[Milestone, datetime, str]]:
    """(milestone, time, field that says it) for each milestone an incident event sets; none
    for any other event."""
    if not isinstance(event, OpsEvent):
        return []
    payload = event.payload
    if not isinstance(payload, Incident) or event.event_type is OpsEventType.maintenance_scheduled:
        return []
    if event.event_type is OpsEventType.incident_corrected:
        return [(payload.milestone, payload.milestone_at, "payload.milestone_at")]
    found = []
    name = INCIDENT_MILESTONE_TYPES.get(event.event_type.value)
    if name is not None:
        found.append((Milestone(name), event.occurred_at, "occurred_at"))
    if payload.impact_started_at is not None:
        found.append((Milestone.impact_started, payload.impact_started_at,
                      "payload.impact_started_at"))
    return found


def order_problem(known: dict[Milestone, datetime], milestone: Milestone,
                  at: datetime) -> str | None:
    """Why ``milestone`` at ``at`` breaks the order with the ``known`` milestones, or None."""
    for earlier, later in NOT_BEFORE:
        if milestone is later and earlier in known and at < known[earlier]:
            return f"puts {later.value} at {at.isoformat()}, before {earlier.value} at {known[earlier].isoformat()}"
        if milestone is earlier and later in known and known[later] < at:
            return f"puts {earlier.value} at {at.isoformat()}, after {later.value} at {known[later].isoformat()}"
    return None


@dataclass
class MilestoneGuard:
    """The milestones seen so far, per incident; ``check`` refuses one out of order.

    A first event of a milestone sets it and a correction replaces it (the latest wins), as the
    warehouse's ``incidents`` view does; a later non-correction event of a milestone already set
    (a repeat) is checked but does not move it.
    """

    seen: dict[str, dict[Milestone, datetime]] = field(default_factory=dict)

    def check(self, event: object) -> None:
        """Raise ``MilestoneOutOfOrder`` if ``event`` (any event) breaks its incident's order;
        else record its milestones."""
        marks = milestones_of(event)
        if not marks:
            return
        incident_id = event.payload.incident_id
        known = self.seen.get(incident_id, {})
        for milestone, at, where in marks:
            others = {m: t for m, t in known.items() if m is not milestone}
            problem = order_problem(others, milestone, at)
            if problem is not None:
                raise MilestoneOutOfOrder(incident_id, where, problem)
        known = self.seen.setdefault(incident_id, {})
        corrected = event.event_type is OpsEventType.incident_corrected
        for milestone, at, _ in marks:
            if corrected or milestone not in known or milestone is Milestone.impact_started:
                known[milestone] = at
