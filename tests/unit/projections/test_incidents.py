"""Incident milestones keep their order: what ledger emit refuses and why."""
from __future__ import annotations

from datetime import timedelta

import pytest

from projections.errors import MilestoneOutOfOrder
from projections.incidents import MilestoneGuard, milestones_of
from schemas.models import Milestone
from tests.support.factories import T0, ops_event, session_event


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def step(name: str, minute: float, incident_id: str = "INC-1", **payload):
    return ops_event(f"incident_{name}", occurred_at=at(minute), incident_id=incident_id, **payload)


def test_a_lifecycle_in_order_passes_and_is_remembered():
    guard = MilestoneGuard()
    for event in [step("opened", 0, impact_started_at=at(-3)), step("detected", -1),
                  step("acknowledged", 2), step("mitigated", 10), step("resolved", 30)]:
        guard.check(event)
    assert guard.seen["INC-1"] == {Milestone.impact_started: at(-3), Milestone.opened: at(0),
                                   Milestone.detected: at(-1), Milestone.acknowledged: at(2),
                                   Milestone.mitigated: at(10), Milestone.resolved: at(30)}


def test_resolved_before_opened_is_refused_naming_the_field():
    guard = MilestoneGuard()
    guard.check(step("opened", 10))
    with pytest.raises(MilestoneOutOfOrder, match="resolved at .* before opened") as caught:
        guard.check(step("resolved", 5))
    assert caught.value.field == "occurred_at"
    assert Milestone.resolved not in guard.seen["INC-1"]


def test_opened_after_resolved_is_refused_whichever_comes_first():
    guard = MilestoneGuard()
    guard.check(step("resolved", 5))
    with pytest.raises(MilestoneOutOfOrder, match="opened at .* after resolved"):
        guard.check(step("opened", 10))


def test_a_correction_is_checked_and_then_wins():
    guard = MilestoneGuard()
    guard.check(step("opened", 0))
    guard.check(step("resolved", 30))
    with pytest.raises(MilestoneOutOfOrder) as caught:
        guard.check(step("corrected", 40, milestone="resolved", milestone_at=at(-5)))
    assert caught.value.field == "payload.milestone_at"
    guard.check(step("corrected", 41, milestone="resolved", milestone_at=at(20)))
    assert guard.seen["INC-1"][Milestone.resolved] == at(20)


def test_impact_cannot_start_after_detection():
    guard = MilestoneGuard()
    guard.check(step("detected", 0))
    with pytest.raises(MilestoneOutOfOrder, match="impact_started"):
        guard.check(step("opened", 1, impact_started_at=at(0.5)))


def test_incidents_are_kept_apart_and_other_events_pass():
    guard = MilestoneGuard()
    guard.check(step("opened", 10, incident_id="INC-1"))
    guard.check(step("resolved", 5, incident_id="INC-2"))
    guard.check(session_event("heartbeat"))
    guard.check(ops_event("maintenance_scheduled"))
    assert milestones_of(ops_event("deploy_started")) == []
