"""The Faust, mode and aiokafka internals ``faust_compat`` relies on still exist, with the shape
it uses; a failure names the internal and the installed library version."""
from __future__ import annotations

import asyncio
import inspect
import re
from contextvars import ContextVar
from importlib.metadata import version
from pathlib import Path

import faust
import faust.streams
import faust.stores.rocksdb
import mode
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher
from faust.transport.conductor import Conductor
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.producer import ProducerBuffer

from streams.fold import faust_compat as compat
from streams.fold.intake import BatchConsumer, BatchConsumerThread, BatchTransport, LedgerApp
from streams.fold.producer import PatientBuffer, PatientProducer

DISTRIBUTIONS = {"faust": "faust-streaming", "mode": "mode-streaming", "aiokafka": "aiokafka"}
OWNERS = {
    "faust.streams": faust.streams,
    "faust.App": faust.App,
    "TopicConductor": Conductor,
    "ProducerBuffer": ProducerBuffer,
    "aiokafka_driver.Producer": aiokafka_driver.Producer,
    "aiokafka_driver.Consumer": aiokafka_driver.Consumer,
    "AIOKafkaConsumerThread": aiokafka_driver.AIOKafkaConsumerThread,
    "rocksdb.Store": faust.stores.rocksdb.Store,
    "Service": mode.Service,
    "AIOKafkaConsumer": AIOKafkaConsumer,
    "Fetcher": Fetcher,
}
METHODS = {
    # (owner, internal): the parameters after self, as faust_compat passes them
    ("faust.App", "_new_transport"): [],
    ("faust.App", "_new_producer_transport"): [],
    ("ProducerBuffer", "_send_pending"): ["fut"],
    ("aiokafka_driver.Consumer", "_new_consumer_thread"): [],
    ("aiokafka_driver.Consumer", "_drain_messages"): ["fetcher"],
    ("aiokafka_driver.Consumer", "_wait_next_records"): ["timeout"],
    ("aiokafka_driver.Consumer", "_to_message"): ["tp", "record"],
    ("aiokafka_driver.Consumer", "_getmany"): ["active_partitions", "timeout"],
    ("aiokafka_driver.Consumer", "_get_active_partitions"): [],
    ("aiokafka_driver.Consumer", "_set_active_tps"): ["tps"],
    ("aiokafka_driver.Consumer", "_add_gap"): ["tp", "offset_from", "offset_to"],
    ("AIOKafkaConsumerThread", "_create_worker_consumer"): ["transport"],
    ("AIOKafkaConsumerThread", "_ensure_consumer"): [],
    ("rocksdb.Store", "_db_for_partition"): ["partition"],
}
HOOKS = {
    # the public names faust_compat's subclasses add: none may exist on the library class
    compat.App: ["transport_class"],
    compat.ConsumerThread: ["client_built"],
    compat.Consumer: ["consumer_thread_class", "fetcher_loop", "next_records"],
    compat.ProducerBuffer: ["hand_to_client"],
}
PROJECT_SUBCLASSES = [LedgerApp, BatchTransport, BatchConsumer, BatchConsumerThread, PatientBuffer,
                      PatientProducer]


def where(library: str, owner: str, name: str) -> str:
    return f"{DISTRIBUTIONS[library]} {version(DISTRIBUTIONS[library])}: {owner}.{name}"


def set_in_source(cls: type, name: str) -> bool:
    """Whether a method of ``cls`` or of a class it inherits from assigns ``self.<name>``."""
    assigned = re.compile(rf"self\.{name}\s*(:[^=\n]*)?=[^=]")
    for klass in inspect.getmro(cls):
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        if assigned.search(source):
            return True
    return False


@pytest.fixture(scope="module")
def fresh_consumer():
    """Faust's own aiokafka consumer, as a plain app builds it (no broker is asked)."""
    app = faust.App("compat-probe", broker="kafka://127.0.0.1:9", autodiscover=False)
    return app.consumer


@pytest.mark.parametrize("library, owner, name", compat.INTERNALS, ids=lambda v: str(v))
def test_every_internal_still_exists(library, owner, name, fresh_consumer):
    target = OWNERS[owner]
    present = hasattr(target, name) or (inspect.isclass(target) and set_in_source(target, name))
    if owner == "aiokafka_driver.Consumer":
        present = hasattr(fresh_consumer, name)
    assert present, f"{where(library, owner, name)} is gone: faust_compat relies on it"


@pytest.mark.parametrize("owner, name", list(METHODS), ids=lambda v: str(v))
def test_every_internal_method_takes_what_compat_passes(owner, name):
    library = next(lib for lib, o, n in compat.INTERNALS if (o, n) == (owner, name))
    method = getattr(OWNERS[owner], name, None)
    assert callable(method), f"{where(library, owner, name)} is no longer a method"
    params = list(inspect.signature(method).parameters.values())[1:]
    expected = METHODS[owner, name]
    names = [p.name for p in params[:len(expected)]]
    rest_required = [p.name for p in params[len(expected):]
                     if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert names == expected and not rest_required, (
        f"{where(library, owner, name)} takes ({', '.join(p.name for p in params)}) now; "
        f"faust_compat passes ({', '.join(expected)})")


def test_the_consumer_state_has_the_shape_compat_reads(fresh_consumer):
    consumer, tp = fresh_consumer, faust.types.TP("compat-probe", 0)
    version_ = where("faust", "aiokafka_driver.Consumer", "")
    assert compat.read_offsets(consumer)[tp] is None, f"{version_}_read_offset: no longer None-default"
    assert compat.committed_offsets(consumer)[tp] is None, f"{version_}_committed_offset: not None-default"
    index, acked = compat.acked_offsets(consumer, tp)
    assert isinstance(index, set) and isinstance(acked, list), f"{version_}_acked_index/_acked changed"
    assert isinstance(compat.acked_count(consumer), int), f"{version_}_n_acked is no longer a count"
    assert compat.commit_due(consumer) in (True, False), f"{version_}_commit_every changed"
    assert isinstance(compat.buffered_partitions(consumer), set), f"{version_}_buffered_partitions changed"
    assert isinstance(compat.paused_partitions(consumer), set), f"{version_}_paused_partitions changed"
    assert compat.is_stopped(consumer) is False, where("mode", "Service", "_stopped") + " changed"
    assert compat.client_if_built(consumer) is None, where("faust", "AIOKafkaConsumerThread", "_consumer")
    assert isinstance(compat.acking_topics(consumer.app), set), where("faust", "TopicConductor", "_acking_topics")


def test_the_current_event_is_a_context_variable():
    assert isinstance(faust.streams._current_event, ContextVar), \
        where("faust", "faust.streams", "_current_event") + " is no longer a ContextVar"

    class Event:
        message = None

    event = Event()
    with compat.current_event(event):
        assert faust.streams._current_event.get()() is event
    assert faust.streams._current_event.get(None) is None


def test_an_aiokafka_client_has_the_fetch_wait_and_minimum_compat_sets():
    async def build():
        client = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")
        compat.set_fetch_max_wait(client, 50)
        compat.set_fetch_min_bytes(client, 4096)
        subscriptions, coordinator, fetcher = compat.client_parts(client)
        return client._fetch_max_wait_ms, client._fetch_min_bytes, subscriptions, coordinator, fetcher

    wait_ms, min_bytes, subscriptions, coordinator, fetcher = asyncio.run(build())
    assert (wait_ms, min_bytes) == (50, 4096)
    started = inspect.getsource(AIOKafkaConsumer.start)  # the fetcher is built from both when it starts
    assert "self._fetch_max_wait_ms" in started and "self._fetch_min_bytes" in started, \
        where("aiokafka", "AIOKafkaConsumer", "_fetch_min_bytes") + " is no longer what start() reads"
    assert hasattr(subscriptions, "subscription"), where("aiokafka", "AIOKafkaConsumer", "_subscription")
    assert coordinator is None and fetcher is None  # built only once the client starts


def test_the_buffer_hands_each_message_to_the_hook():
    handed = []

    class Buffer(compat.ProducerBuffer):
        async def hand_to_client(self, fut):
            handed.append(fut)

    asyncio.run(Buffer()._send_pending("message"))
    assert handed == ["message"]


@pytest.mark.parametrize("cls", list(HOOKS), ids=lambda c: c.__name__)
def test_the_hooks_compat_adds_are_not_library_names(cls):
    base = cls.__mro__[1]
    taken = [name for name in HOOKS[cls] if hasattr(base, name)]
    assert not taken, f"{base.__module__}.{base.__name__} now defines {taken}: rename the hook"


@pytest.mark.parametrize("cls", PROJECT_SUBCLASSES, ids=lambda c: c.__name__)
def test_the_project_overrides_no_library_internal_outside_compat(cls):
    """A private method or attribute the project adds to a library class must not be one the
    library has (a library upgrade adding it would be overridden silently)."""
    library_bases = [k for k in cls.__mro__ if k.__module__.split(".")[0] in DISTRIBUTIONS]
    ours = [name for k in cls.__mro__ if k.__module__.startswith("streams.fold.")
            and k.__module__ != compat.__name__ for name in vars(k)
            if name.startswith("_") and not name.startswith("__") and name != "_abc_impl"]
    taken = [name for name in ours if any(name in vars(base) for base in library_bases)]
    assert not taken, f"{cls.__name__} overrides library internals {taken}: fence them in faust_compat"


def test_every_private_name_compat_touches_is_listed():
    source = Path(compat.__file__).read_text()
    touched = set(re.findall(r"(?<![\w])\w+\.(_[a-z]\w*)", source))
    touched |= set(re.findall(r"\"(_[a-z]\w*)\"", source))
    touched |= set(re.findall(r"def (_[a-z]\w*)", source))
    touched |= set(re.findall(r"import (_[a-z]\w*)", source))
    listed = {name for _library, _owner, name in compat.INTERNALS}
    assert touched <= listed, f"faust_compat touches {sorted(touched - listed)} without listing them"
