"""Erased players: who they were (as a keyed hash only) and the anonymous token that replaces them.

An erasure removes who a player was, not that their sessions happened: every copy the ledger
controls keeps the session's facts (times, region, platform, the verdicts counted in MTTR,
churn and impact) with the player's identifiers replaced:

- ``player_id`` becomes the erasure's token, ``erased-<32 hex>``: random, drawn once per player,
  so it says nothing of the id, yet one player's sessions still count as one player in churn
  and unique-player figures;
- the fields that link to other records of that person (``party_id``, ``trace_id``,
  ``matchmaking_ticket``) are cleared.

Region, platform, build, input method and accessibility settings stay: they are the
dimensions aggregates are cut by and, without the id, they belong to no one.

The registry of erasures (a compacted topic, streams.kafka.erasures) never holds a player id:
each erasure is keyed by ``erasure_key``, SHA-256 of a domain tag, the deployment's optional
pepper (``LEDGER_ERASURE_PEPPER``) and the id. Anyone holding an id (and the pepper) can ask
whether it was erased; no one can list whose data it was. Readers that meet an event hash its
``player_id`` and, on a match, put the token in its place (``ErasedPlayers.anonymise``), so
replay, rebuild and the history sink never bring an erased id back.

Everything here is pure.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

from projections.errors import BadErasure

TOKEN_PREFIX = "erased-"
_DOMAIN = b"session-ledger/erasure/v1\x00"
CLEARED_FIELDS = ("party_id", "trace_id", "matchmaking_ticket")
"""Record fields, besides ``player_id``, cleared (set to None) in an erased player's events."""
_CACHE_LIMIT = 200_000
"""Player ids whose verdict ``ErasedPlayers`` remembers before it starts over (hashing is the cost
it saves: a player sends a heartbeat every few seconds)."""


def erasure_key(player_id: str, pepper: bytes = b"") -> str:
    """The registry key of ``player_id``: hex SHA-256 of the domain tag, the pepper and the id."""
    return hashlib.sha256(_DOMAIN + pepper + b"\x00" + player_id.encode("utf-8")).hexdigest()


def is_token(player_id: str | None) -> bool:
    """Whether ``player_id`` is an erasure token (already anonymous)."""
    return bool(player_id) and player_id.startswith(TOKEN_PREFIX)


@dataclass(frozen=True)
class Erasure:
    """One erased player, as the registry keeps it: no player id, only its key and token."""

    key: str
    token: str
    requested_at: datetime
    reason: str = ""

    @classmethod
    def new(cls, player_id: str, pepper: bytes = b"", *, reason: str = "",
            now: datetime | None = None) -> "Erasure":
        """A fresh erasure of ``player_id`` with a new random token."""
        if not player_id or not player_id.strip():
            raise BadErasure("player_id is empty: name the player to erase")
        if is_token(player_id):
            raise BadErasure(f"player_id {player_id!r} is an erasure token: that player is already erased")
        return cls(key=erasure_key(player_id, pepper), token=TOKEN_PREFIX + uuid.uuid4().hex,
                   requested_at=now or datetime.now(timezone.utc), reason=reason)

    def to_json(self) -> bytes:
        record = asdict(self)
        record["requested_at"] = self.requested_at.isoformat()
        return json.dumps(record, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> "Erasure":
        try:
            record = json.loads(raw)
            erasure = cls(key=str(record["key"]), token=str(record["token"]),
                          requested_at=datetime.fromisoformat(record["requested_at"]),
                          reason=str(record.get("reason") or ""))
        except (ValueError, KeyError, TypeError) as error:
            raise BadErasure(f"erasure record unreadable: {error!r}") from error
        if len(erasure.key) != 64 or not is_token(erasure.token):
            raise BadErasure(f"erasure record has a bad key or token: {erasure.key!r}, {erasure.token!r}")
        return erasure


@dataclass(frozen=True)
class Receipt:
    """What one layer removed for one erasure, as that layer reports it to the registry.

    ``layer`` is ``worker`` (the live tables; ``instance`` names the worker and ``partitions``
    the session partitions it applied the erasure to) or ``history`` (the warehouse).
    ``removed`` counts what was removed or anonymised, by place (``{"players": 1, ...}``).
    ``last_copy_by`` is when the last physical copy of the old values goes (a compaction, a
    merge, a part removal), or None when the layer holds none once ``done_at`` has passed.
    """

    key: str
    layer: str
    instance: str
    done_at: datetime
    removed: dict = field(default_factory=dict)
    partitions: tuple = ()
    last_copy_by: datetime | None = None
    note: str = ""

    @property
    def registry_key(self) -> str:
        """Its key in the registry topic: the erasure key, then layer and instance, so a later
        receipt of the same layer and instance replaces an earlier one under compaction."""
        return f"{self.key}/{self.layer}/{self.instance}"

    def to_json(self) -> bytes:
        record = asdict(self)
        record["kind"] = "receipt"
        record["done_at"] = self.done_at.isoformat()
        record["last_copy_by"] = None if self.last_copy_by is None else self.last_copy_by.isoformat()
        record["partitions"] = list(self.partitions)
        return json.dumps(record, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes | str) -> "Receipt":
        try:
            record = json.loads(raw)
            last = record.get("last_copy_by")
            return cls(key=str(record["key"]), layer=str(record["layer"]),
                       instance=str(record["instance"]),
                       done_at=datetime.fromisoformat(record["done_at"]),
                       removed=dict(record.get("removed") or {}),
                       partitions=tuple(int(p) for p in record.get("partitions") or ()),
                       last_copy_by=None if last is None else datetime.fromisoformat(last),
                       note=str(record.get("note") or ""))
        except (ValueError, KeyError, TypeError) as error:
            raise BadErasure(f"erasure receipt unreadable: {error!r}") from error


def is_receipt(raw: bytes | str) -> bool:
    """Whether a registry value is a receipt (erasures carry no ``kind``)."""
    return b'"kind": "receipt"' in (raw if isinstance(raw, bytes) else raw.encode("utf-8"))


class ErasedPlayers:
    """The erasures known to one reader, and the test every event's ``player_id`` goes through.

    ``token_for`` costs a dict lookup for a player seen before and one SHA-256 for a new one;
    with no erasure known it is a no-op. ``add`` may be called from another thread (a registry
    follower) while a reader calls ``token_for``: each step replaces whole dicts, never mutates
    one in place.
    """

    def __init__(self, pepper: bytes = b"", erasures=()) -> None:
        self.pepper = pepper
        self._by_key: dict[str, Erasure] = {}
        self._verdicts: dict[str, str | None] = {}
        self.version = 0
        """Bumped by every ``add`` that learns a new erasure (readers compare it to rescan)."""
        for erasure in erasures:
            self.add(erasure)

    def __len__(self) -> int:
        return len(self._by_key)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def add(self, erasure: Erasure) -> bool:
        """Learn ``erasure``; False if its key was known (the first token stays)."""
        if erasure.key in self._by_key:
            return False
        self._by_key = {**self._by_key, erasure.key: erasure}
        self._verdicts = {}
        self.version += 1
        return True

    def get(self, key: str) -> Erasure | None:
        return self._by_key.get(key)

    def erasures(self) -> list[Erasure]:
        return list(self._by_key.values())

    def token_for(self, player_id: str) -> str | None:
        """The token that replaces ``player_id``, or None if that player is not erased."""
        if not self._by_key:
            return None
        verdicts = self._verdicts
        try:
            return verdicts[player_id]
        except KeyError:
            pass
        erasure = self._by_key.get(erasure_key(player_id, self.pepper))
        token = erasure.token if erasure is not None else None
        if len(verdicts) >= _CACHE_LIMIT:
            verdicts = self._verdicts = {}
        verdicts[player_id] = token
        return token

    def anonymise(self, record):
        """``record`` (a ``SessionRecord`` or any NamedTuple with the same fields) as it must be
        kept: unchanged for a player not erased, else with the token and cleared links."""
        token = self.token_for(record.player_id) if self._by_key else None
        if token is None:
            return record
        return record._replace(player_id=token, **{name: None for name in CLEARED_FIELDS})

    def anonymise_event(self, event):
        """A ``SessionEvent`` model as it must be kept (``anonymise`` for models)."""
        token = self.token_for(event.player_id) if self._by_key else None
        if token is None:
            return event
        payload = event.payload
        if getattr(payload, "matchmaking_ticket", None) is not None:
            payload = payload.model_copy(update={"matchmaking_ticket": None})
        return event.model_copy(update={"player_id": token, "party_id": None, "trace_id": None,
                                        "payload": payload})

    def anonymise_all(self, records: list) -> list:
        """``records`` with every erased player's events anonymised (the same list when none is)."""
        if not self._by_key:
            return records
        return [self.anonymise(record) for record in records]
