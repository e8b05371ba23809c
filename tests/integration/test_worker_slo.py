"""The worker's live SLO burn alerts against the real broker: slo_burn events and gauges."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kafka import KafkaProducer

from ledger.child import wait_until
from ledger.stack import free_port
from ledger.worker_process import WorkerProcess
from schemas.codec import decode, encode
from tests.support.factories import session_event
from tests.support.kafka import read_all
from tests.support.ledger_settings import settings_with_own_topics

pytestmark = pytest.mark.kafka

SLO_FILE = """\
apiVersion: openslo/v1
kind: SLO
metadata: {{name: hb-{region}}}
spec:
  service: game-sessions
  indicator:
    metadata: {{name: heartbeat-latency}}
    spec:
      metricSource:
        type: ledger
        spec: {{sli: heartbeat_latency, threshold: 100, region: {region}}}
  timeWindow: [{{duration: 7d, isRolling: true}}]
  budgetingMethod: Occurrences
  objectives: [{{target: 0.9}}]
"""


def test_a_fast_burn_opens_alerts_and_recovery_resolves_the_pages(kafka_broker, tmp_path):
    """SLO: 90 % of heartbeats in the region at or under 100 ms over 7 days (budget 10 %).
    Alerts scaled to 7 d: page 14.4 x 7/30 = 3.36 (1 h & 5 m), page 6 x 7/30 = 1.4 (6 h & 30 m),
    ticket 1 x 7/30 = 0.233 (3 d & 6 h); at least 5 events.

    10 slow beats a minute ago: error rate 100 % -> burn 10 in every window: all three open.
    Then 90 fast beats: 10 bad of 100 -> burn 1.0 everywhere: below 3.36 and 1.4, the pages
    resolve; above 0.233, the ticket stays open. The burn-rate gauge then reads 1.0.
    """
    region = f"slo-{uuid.uuid4().hex[:6]}"
    settings = settings_with_own_topics(kafka_broker.bootstrap, tmp_path / "state", "slo")
    slo_file = tmp_path / "slos.yaml"
    slo_file.write_text(SLO_FILE.format(region=region))
    settings = settings.model_copy(update={"slo_file": slo_file})
    worker = WorkerProcess(settings, web_port=free_port(), burn_check_interval_s=0.5,
                           burn_min_events=5).start()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    try:
        worker.wait_ready(timeout_s=120)
        now = datetime.now(timezone.utc)

        def beats(latency_ms: int, count: int) -> None:
            """``count`` sessions, each requested, started and one heartbeat a minute ago."""
            for _ in range(count):
                session = str(uuid.uuid4())
                at = now - timedelta(seconds=62)
                for event in [
                    session_event("requested", session_id=session, seq=1, region=region, occurred_at=at),
                    session_event("started", session_id=session, seq=2, region=region,
                                  occurred_at=at + timedelta(seconds=1)),
                    session_event("heartbeat", session_id=session, seq=3, region=region,
                                  latency_ms=latency_ms, occurred_at=at + timedelta(seconds=2)),
                ]:
                    producer.send(settings.session_topic, key=session.encode(), value=encode(event))
            producer.flush()

        def burns():
            return [e for e in (decode(r.value) for r in read_all(settings.bootstrap_servers,
                                                                   settings.ops_topic))
                    if e.event_type == "slo_burn"]

        beats(500, 10)
        opened = wait_until(lambda: len(burns()) >= 3 and burns(), timeout_s=60,
                            what="three burn alerts opened")
        assert sorted((e.payload.alert, e.payload.long_window_s, e.payload.state) for e in opened) == [
            ("page", 3600, "opened"), ("page", 21600, "opened"), ("ticket", 259200, "opened")]
        assert {e.payload.slo for e in opened} == {f"hb-{region}"}
        assert all(e.payload.burn_rate == pytest.approx(10.0) for e in opened)

        beats(50, 90)
        after = wait_until(lambda: len(burns()) >= 5 and burns(), timeout_s=60,
                           what="the two pages resolved")
        resolved = [e for e in after if e.payload.state == "resolved"]
        assert sorted(e.payload.long_window_s for e in resolved) == [3600, 21600]
        page = next(e for e in opened if e.payload.long_window_s == 3600)
        assert next(e for e in resolved if e.payload.long_window_s == 3600).payload.window_start == \
            page.payload.window_start
        rate = f'ledger_slo_burn_rate{{slo="hb-{region}",window="1h"}} 1.0'
        text = wait_until(lambda: rate in worker.get("/metrics")[1] and worker.get("/metrics")[1],
                          timeout_s=30, what="the burn-rate gauge at 1.0")
        budget = [line for line in text.splitlines()
                  if line.startswith(f'ledger_slo_error_budget_remaining{{slo="hb-{region}"}}')]
        assert [float(line.split()[-1]) for line in budget] == [pytest.approx(0.0, abs=1e-9)]
    finally:
        producer.close()
        worker.kill()
