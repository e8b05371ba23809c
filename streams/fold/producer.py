"""The worker's producer: Faust's, with a send buffer that outlives a broker outage.

Table writes and ``send_soon`` put messages in Faust's producer buffer, and one background task
hands them to the client in order. In faust-streaming 0.15 that task ends at the first message
the client refuses to take (while the broker restarts, for instance): every message after it
waits forever, changelog records included, and whoever awaits one of them (the session fold
awaits its begin/finish updates) stops with it. The buffer here offers the message again after
a pause instead, as long as it takes, in the order it was put, and says so in the log.

``settle`` waits until everything given to the producer so far is acknowledged: the worker
acknowledges a run of input only after that (intake.py).
"""
from __future__ import annotations

import asyncio
import logging

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types.tuples import FutureMessage

from streams.fold import faust_compat as compat
from streams.kafka import backoff
from streams.kafka.backoff import Backoff

log = logging.getLogger(__name__)

SETTLE_POLL_S = 0.001
"""How often ``settle`` looks whether the buffer has handed everything to the client."""


class PatientBuffer(compat.ProducerBuffer):
    sending: int = 0
    """Messages taken off the queue and not yet handed to the client."""
    backoff: Backoff = backoff.PRODUCE
    """Pauses between offers of a message the client refused."""

    async def hand_to_client(self, fut: FutureMessage) -> None:
        self.sending += 1
        try:
            await self._offer(fut)
        finally:
            self.sending -= 1

    async def _offer(self, fut: FutureMessage) -> None:
        refused = 0
        pause = self.backoff.delay(1)
        while True:
            try:
                await fut.message.channel.publish_message(fut, wait=False)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - logged and offered again, never dropped
                if self.should_stop:
                    fut.set_exception(error)
                    raise
                refused += 1
                log.warning("the producer refused a message for %s (%s: %s); offering it again in %.1f s",
                            fut.message.channel, type(error).__name__, error, pause)
                await asyncio.sleep(pause)
                pause = self.backoff.delay(refused + 1)
            else:
                if refused:
                    log.warning("the producer took the message after %d refusal(s)", refused)
                return


class PatientProducer(aiokafka_driver.Producer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        threaded = getattr(self.buffer, "threaded_producer", None)
        self.buffer = PatientBuffer(loop=self.loop, beacon=self.beacon)
        if threaded is not None:
            self.buffer.threaded_producer = threaded
        self.buffer.app = self.app

    async def settle(self) -> None:
        """Return once every message given to the producer so far is acknowledged by the broker.

        The buffer is drained first (it hands messages to the client in order), then the
        client's own batches are awaited. A run is acknowledged only after this, so its offsets
        are never committed ahead of the changelog records and updates it wrote.
        """
        buffer = self.buffer
        while buffer.size or buffer.sending:
            await asyncio.sleep(SETTLE_POLL_S)
        client = compat.producer_client(self)
        if client is not None:
            await client.flush()
