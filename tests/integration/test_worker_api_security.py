"""The worker's HTTP API behind a bearer token, with bounded inputs and a per-client rate.

Two real workers share the partitions of one session topic on the real broker, both started
with LEDGER_API_TOKEN (a worker takes its settings from the environment it is started in), so a
request for a key the other worker owns is forwarded with the token and still answered.
"""
from __future__ import annotations

import http.client
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from projections.fold import fold_all
from schemas.codec import encode
from streams.fold.render import session_document
from streams.fold.web import RateLimit
from streams.kafka.partitioner import partition_of
from tests.support.factories import session_script
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka

TOKEN = f"ledger-{uuid.uuid4().hex}"
RATE = 200  # requests a second per client; the burst is 100


@pytest.fixture(scope="module")
def api_settings(kafka_broker, tmp_path_factory):
    return settings_with_own_topics(kafka_broker.bootstrap, tmp_path_factory.mktemp("api") / "state", "api")


@pytest.fixture(scope="module")
def workers(api_settings):
    pair = [WorkerProcess(api_settings, web_port=free_port(), worker_id=name, store="memory")
            for name in ("first", "second")]
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LEDGER_API_TOKEN", TOKEN)
            env.setenv("LEDGER_API_MAX_REQUESTS_PER_S", str(RATE))
            for worker in pair:
                worker.start()
        wait_until(
            lambda: all(w.health() and w.health()["partitions"] for w in pair)
            and {p for w in pair for p in w.health()["partitions"]} == {0, 1, 2},
            timeout_s=120, what="both workers sharing the partitions")
        yield pair
    finally:
        for worker in pair:
            worker.kill()


@pytest.fixture(scope="module")
def sessions(api_settings, workers):
    """Six folded sessions, served (with the token) by the worker that owns each."""
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=30)
    stories = [session_script(session_id, player_id=f"p-{uuid.uuid4().hex[:6]}", start=start, heartbeats=1,
                              end="normal" if n % 2 else None)
               for n, session_id in enumerate(two_per_partition())]
    producer = KafkaProducer(bootstrap_servers=api_settings.bootstrap_servers, acks="all")
    try:
        for event in (e for story in stories for e in story):
            producer.send(api_settings.session_topic, key=event.session_id.encode(), value=encode(event))
        producer.flush()
    finally:
        producer.close()
    folded = fold_all([e for story in stories for e in story])
    documents = {sid: session_document(state) for sid, state in folded.sessions.items()}
    for session_id, wanted in documents.items():
        wait_until(lambda: ask(workers[0], f"/sessions/{session_id}", token=TOKEN)[2] == wanted,
                   timeout_s=30, what=f"session {session_id} served")
    return documents


def two_per_partition() -> list[str]:
    """Session ids, two on each of the three partitions, so each worker owns some of them."""
    ids: list[str] = []
    while len(ids) < 6:
        candidate = str(uuid.uuid4())
        if sum(partition_of(i, 3) == partition_of(candidate, 3) for i in ids) < 2:
            ids.append(candidate)
    return ids


def ask(worker, path, *, token=None, scheme="Bearer", body=None, connection=None):
    """``(status, headers, parsed JSON or text)`` of one GET on the worker's API."""
    own = connection is None
    connection = connection or http.client.HTTPConnection("127.0.0.1", worker.web_port, timeout=5)
    try:
        headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request("GET", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        parsed = json.loads(text) if "json" in response.getheader("Content-Type", "") else text
        return response.status, response.headers, parsed
    finally:
        if own:
            connection.close()


def test_without_a_token_only_health_answers(workers, sessions):
    session_id = next(iter(sessions))
    for path in (f"/sessions/{session_id}", "/players/anyone", "/live/concurrency", "/metrics",
                 "/live/concurrency/local"):
        status, headers, body = ask(workers[0], path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert body["error"] == "unauthorized" and "Authorization" in body["message"]
    status, _, health = ask(workers[0], "/health")
    assert status == 200 and health["status"] == "ok"


def test_a_wrong_token_is_refused_and_never_echoed(workers, sessions):
    session_id = next(iter(sessions))
    for token, scheme in ((TOKEN + "x", "Bearer"), (TOKEN[:-1], "Bearer"), ("", "Bearer"), (TOKEN, "Basic")):
        status, headers, body = ask(workers[0], f"/sessions/{session_id}", token=token, scheme=scheme)
        assert status == 401, (token, scheme)
        assert "Bearer" in headers["WWW-Authenticate"]
        assert TOKEN not in json.dumps(body)
    assert TOKEN not in workers[0].log_path.read_text(errors="replace")


def test_the_right_token_gets_every_session_from_either_worker(workers, sessions):
    owned = [set(w.health()["partitions"]) for w in workers]
    keys_of = [{sid for sid in sessions if partition_of(sid, 3) in mine} for mine in owned]
    assert all(keys_of), f"each worker owns one of the sessions: {owned}"
    for worker in workers:  # half of these answers come from the other worker, forwarded
        for session_id, wanted in sessions.items():
            status, _, body = ask(worker, f"/sessions/{session_id}", token=TOKEN)
            assert (status, body) == (200, wanted)
    status, _, live = ask(workers[1], "/live/concurrency", token=TOKEN)
    assert status == 200 and live["complete"] and live["partitions"] == [0, 1, 2]


def test_a_request_body_on_a_get_is_ignored(workers, sessions):
    session_id, wanted = next(iter(sessions.items()))
    status, _, body = ask(workers[0], f"/sessions/{session_id}", token=TOKEN,
                          body=json.dumps({"session_id": "someone-else", "x": "y" * 50_000}))
    assert (status, body) == (200, wanted)


def test_oversized_and_malformed_ids_are_refused_naming_the_parameter(workers, sessions):
    cases = {
        "/sessions/" + "a" * 129: "session_id",
        "/players/" + "b" * 5000: "player_id",
        "/sessions/bad%20id": "session_id",
        "/players/semi;colon": "player_id",
        "/players/%3Cscript%3E": "player_id",
        "/sessions/line%0Abreak": "session_id",
    }
    for path, parameter in cases.items():
        status, _, body = ask(workers[0], path, token=TOKEN)
        assert status == 400, path
        assert body["error"] == "bad_id" and body["parameter"] == parameter
        assert parameter in body["message"] and "b" * 200 not in body["message"]
    status, _, body = ask(workers[0], "/players/" + "c" * 128, token=TOKEN)
    assert status == 404 and body["error"] == "not_found"


def test_bad_filters_are_refused_naming_the_parameter(workers, sessions):
    cases = {
        "region=" + "r" * 65: "region",
        "region=EU-WEST": "region",
        "region=eu-west%0A": "region",
        "region=eu-west&region=us-east": "region",
        "platform=gameboy": "platform",
        "platform=" + "pc" * 40: "platform",
        "cross_play=maybe": "cross_play",
    }
    for query, parameter in cases.items():
        status, _, body = ask(workers[0], f"/live/concurrency?{query}", token=TOKEN)
        assert status == 400, query
        assert body["error"] == "bad_query" and body["parameter"] == parameter
    status, _, live = ask(workers[0], "/live/concurrency?region=eu-west&platform=pc&cross_play=true",
                          token=TOKEN)
    assert status == 200 and live["live"] >= 0


def test_a_client_faster_than_the_rate_gets_429_with_retry_after_and_others_do_not(workers, sessions):
    def hammer(_):
        connection = http.client.HTTPConnection("127.0.0.1", workers[1].web_port, timeout=5,
                                                source_address=("127.0.0.2", 0))  # a client of its own
        try:
            return [ask(workers[1], "/health", connection=connection) for _ in range(60)]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [answer for batch in pool.map(hammer, range(8)) for answer in batch]
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) >= RATE // 2  # the burst
    refused = [(headers, body) for status, headers, body in answers if status == 429]
    assert refused, statuses
    assert all(int(headers["Retry-After"]) >= 1 for headers, _ in refused)
    assert refused[0][1]["error"] == "too_many_requests"
    status, _, body = ask(workers[1], f"/sessions/{next(iter(sessions))}", token=TOKEN)
    assert status == 200, body  # from 127.0.0.1, another client
    time.sleep(1.0)
    connection = http.client.HTTPConnection("127.0.0.1", workers[1].web_port, timeout=5,
                                            source_address=("127.0.0.2", 0))
    try:
        assert ask(workers[1], "/health", connection=connection)[0] == 200  # the bucket refilled
    finally:
        connection.close()


def test_the_bucket_allows_the_burst_then_one_request_per_interval():
    limit = RateLimit(rate=2.0, burst=3, max_clients=2)
    assert [limit.wait_s("a", now=10.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.wait_s("a", now=10.0) == pytest.approx(0.5)
    assert limit.wait_s("b", now=10.0) == 0.0  # another client has a bucket of its own
    assert limit.wait_s("a", now=10.5) == 0.0
    assert limit.wait_s("a", now=10.5) == pytest.approx(0.5)
    assert [limit.wait_s("a", now=20.0) for _ in range(4)][-1] > 0  # refilled to the burst, not beyond


def test_the_bucket_forgets_the_least_recently_seen_client_beyond_its_bound():
    limit = RateLimit(rate=1.0, burst=1, max_clients=2)
    limit.wait_s("a", now=0.0)
    limit.wait_s("b", now=0.0)
    assert limit.wait_s("a", now=0.0) > 0 and limit.wait_s("b", now=0.0) > 0
    limit.wait_s("c", now=0.0)  # "a" was seen least recently
    assert limit.wait_s("a", now=0.0) == 0.0
