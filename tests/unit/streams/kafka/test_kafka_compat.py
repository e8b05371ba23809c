"""The kafka-python internals ``kafka_compat`` relies on still exist, with the shape it uses; a
failure names the internal and the installed kafka-python version."""
from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import TopicPartition

from streams.kafka import kafka_compat

METHODS = {
    # (internal, method): the parameters after self, as kafka_compat passes them
    ("_accumulator", "append"): ["tp", "timestamp_ms", "key", "value", "headers"],
    ("_sender", "wakeup"): [],
    ("_sender", "force_close"): [],
}


def where(name: str) -> str:
    return f"kafka-python {version('kafka-python')}: KafkaProducer.{name}"


@pytest.fixture(scope="module")
def producer():
    """A producer built as the emitter builds one, for a broker that is not there: building
    asks nothing of the broker."""
    built = KafkaProducer(bootstrap_servers="127.0.0.1:9", api_version=(2, 8), acks="all",
                          enable_idempotence=True, reconnect_backoff_max_ms=50)
    yield built
    kafka_compat.force_close(built)


@pytest.mark.parametrize("library, owner, name", kafka_compat.INTERNALS, ids=lambda v: str(v))
def test_every_internal_is_on_a_fresh_producer(library, owner, name, producer):
    assert hasattr(producer, name), f"{where(name)} is gone: kafka_compat relies on it"


@pytest.mark.parametrize("internal, method", list(METHODS), ids=lambda v: str(v))
def test_every_internal_method_takes_what_compat_passes(internal, method, producer):
    bound = getattr(getattr(producer, internal), method, None)
    assert callable(bound), f"{where(internal)}.{method} is no longer a method"
    params = list(inspect.signature(bound).parameters.values())
    expected = METHODS[internal, method]
    rest_required = [p.name for p in params[len(expected):] if p.default is p.empty
                     and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert [p.name for p in params[:len(expected)]] == expected and not rest_required, (
        f"{where(internal)}.{method} takes ({', '.join(p.name for p in params)}) now; "
        f"kafka_compat passes ({', '.join(expected)})")


def test_enqueue_appends_to_the_accumulator_and_returns_the_record_future(producer):
    future = kafka_compat.enqueue(producer, TopicPartition("compat-probe", 0), b"k", b"v")
    assert isinstance(future, FutureRecordMetadata), (
        f"{where('_accumulator')}.append no longer returns the record's future first")
    assert not future.is_done


def test_an_idempotent_producer_has_no_id_before_its_first_send(producer):
    assert kafka_compat.producer_id(producer) == -1, where("_transaction_manager") + " changed"
    assert kafka_compat.producer_id(None) is None


def test_every_private_name_compat_touches_is_listed():
    source = Path(kafka_compat.__file__).read_text()
    touched = set(re.findall(r"(?<![\w])\w+\.(_[a-z]\w*)", source))
    touched |= set(re.findall(r"\"(_[a-z]\w*)\"", source))
    listed = {name for _library, _owner, name in kafka_compat.INTERNALS}
    assert touched <= listed, f"kafka_compat touches {sorted(touched - listed)} without listing them"
