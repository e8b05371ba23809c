"""The local broker's KRaft cluster id is one Kafka's storage tool accepts."""
from __future__ import annotations

import base64
import re

from ledger.stack import _cluster_id


def test_cluster_ids_are_22_url_safe_characters_of_16_bytes_never_starting_with_a_dash():
    ids = [_cluster_id() for _ in range(3000)]  # a dash would lead about 47 of them
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids), [i for i in ids if i[0] == "-"][:3]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)
