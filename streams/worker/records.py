"""Records the worker sends between its own agents."""
from __future__ import annotations

import faust


class Disconnect(faust.Record, serializer="json"):
    """One accepted disconnect, sent to the window counter keyed by region."""

    region: str
    occurred_at: float
    """Epoch seconds of the event: the window is the minute of occurred_at, not of arrival."""
    session_id: str
    seq: int
