"""Settings whose ledger topics belong to one test (or one module of tests) alone."""
from __future__ import annotations

import uuid
from pathlib import Path

from streams.kafka.topics import ensure_topics
from streams.settings import Settings, load_settings


def settings_with_own_topics(bootstrap: str, state_dir: Path, prefix: str) -> Settings:
    """Settings with ``state_dir`` and new session (3 partitions), ops and dead-letter topics,
    created on the broker at ``bootstrap`` and named ``<prefix>-<kind>-<random>``."""
    suffix = uuid.uuid4().hex[:8]
    settings = load_settings(
        state_dir=state_dir,
        bootstrap_servers=bootstrap,
        session_topic=f"{prefix}-sessions-{suffix}",
        ops_topic=f"{prefix}-ops-{suffix}",
        dead_letter_topic=f"{prefix}-dead-{suffix}",
        erasure_topic=f"{prefix}-erasures-{suffix}",
        partitions=3,
    )
    ensure_topics(bootstrap, {settings.session_topic: 3, settings.ops_topic: 1, settings.dead_letter_topic: 1})
    return settings
