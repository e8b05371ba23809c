"""The worker's producer buffer offers a refused message again instead of dying with it."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from kafka.errors import KafkaTimeoutError

from streams.fold import producer as patient
from streams.kafka.backoff import Backoff


class RefusingChannel:
    """A channel whose client refuses the first ``refusals`` messages it is offered."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.published: list[str] = []

    async def publish_message(self, fut, wait=False):
        if self.refusals:
            self.refusals -= 1
            raise KafkaTimeoutError("metadata not available while the broker restarts")
        self.published.append(fut.name)


def message(channel, name):
    return SimpleNamespace(name=name, message=SimpleNamespace(channel=channel))


def test_a_refused_message_is_offered_again_and_the_order_is_kept(monkeypatch, caplog):
    monkeypatch.setattr(patient.PatientBuffer, "backoff", Backoff(initial_s=0.001, max_s=0.004))
    channel = RefusingChannel(refusals=3)

    async def story():
        buffer = patient.PatientBuffer()
        for name in ("first", "second", "third"):
            await buffer.hand_to_client(message(channel, name))

    asyncio.run(story())

    assert channel.published == ["first", "second", "third"]
    assert channel.refusals == 0
    assert sum("refused a message" in r.message for r in caplog.records) == 3
    assert any("after 3 refusal(s)" in r.message for r in caplog.records)


def test_while_stopping_a_refusal_fails_the_message_instead_of_waiting(monkeypatch):
    channel = RefusingChannel(refusals=1)

    async def story():
        buffer = patient.PatientBuffer()
        monkeypatch.setattr(type(buffer), "should_stop", property(lambda self: True))
        fut = asyncio.get_running_loop().create_future()
        fut.message = SimpleNamespace(channel=channel)
        with pytest.raises(KafkaTimeoutError):
            await buffer.hand_to_client(fut)
        return fut

    fut = asyncio.run(story())
    assert isinstance(fut.exception(), KafkaTimeoutError)
