"""Each reliability metric on a small history, against numbers worked out by hand."""
from __future__ import annotations

import re

from datetime import timedelta

import pytest

from analytics.errors import BadReportParameter, UnknownReport
from analytics.reports import report_names, run_report
from analytics.rows import write_events
from projections.fold import fold_session
from projections.session_state import timeout_event
from tests.support.factories import T0, ops_event, session_event, session_script

DAY = timedelta(days=1)


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def incident(incident_id, regions=("eu-west",), **lifecycle_minutes):
    """Ops events of one incident: opened=0, acknowledged=5, ... in minutes after T0."""
    return [ops_event(f"incident_{step}", occurred_at=at(minute), incident_id=incident_id,
                      regions=regions)
            for step, minute in lifecycle_minutes.items()]


def test_mttr_mtta_mtbf_from_incident_lifecycles(warehouse):
    write_events(warehouse,
                 incident("INC-1", opened=0, acknowledged=5, resolved=30)
                 + incident("INC-2", opened=60, acknowledged=70, resolved=150)
                 + incident("INC-3", regions=("us-east",), opened=120)  # still open
                 + incident("INC-1", opened=0))  # a re-delivered opening changes nothing
    period = dict(from_=T0, to=T0 + DAY)

    # resolved: INC-1 30 min, INC-2 90 min -> (1800 + 5400) / 2 = 3600 s; INC-3 open, not in the mean
    assert run_report(warehouse, "mttr", **period) == [{"incidents": 3, "resolved": 2, "mttr_s": 3600.0, "planned_excluded": 0}]
    # acknowledged: 5 min and 10 min -> (300 + 600) / 2 = 450 s
    assert run_report(warehouse, "mtta", **period) == [{"incidents": 3, "acknowledged": 2, "mtta_s": 450.0, "planned_excluded": 0}]
    # openings at 0, 60, 120 min -> (120 - 0) min / (3 - 1) = 60 min = 3600 s
    assert run_report(warehouse, "mtbf", **period) == [{"incidents": 3, "mtbf_s": 3600.0, "planned_excluded": 0}]
    # only eu-west: INC-1 and INC-2 -> one gap of 60 min
    assert run_report(warehouse, "mtbf", region="eu-west", **period) == [{"incidents": 2, "mtbf_s": 3600.0, "planned_excluded": 0}]
    assert run_report(warehouse, "mttr", region="ap-northeast", **period) == [
        {"incidents": 0, "resolved": 0, "mttr_s": None, "planned_excluded": 0}]


def test_change_failure_rate_counts_deploys_followed_by_an_incident_in_a_shared_region(warehouse):
    def deploy(deploy_id, minute, regions):
        return ops_event("deploy_finished", occurred_at=at(minute), deploy_id=deploy_id, regions=regions)

    write_events(warehouse, [
        deploy("DEP-1", 0, ("eu-west",)),              # INC-A opens 30 min later in eu-west: failed
        deploy("DEP-2", 100, ("us-east",)),            # INC-B opens 70 min later: outside 60 min
        deploy("DEP-3", 200, ("eu-west", "us-east")),  # INC-C opens 10 min later in us-east: failed
        deploy("DEP-4", 300, ("ap-northeast",)),       # INC-D opens 5 min later but in eu-west
        *incident("INC-A", opened=30),
        *incident("INC-B", regions=("us-east",), opened=170),
        *incident("INC-C", regions=("us-east",), opened=210),
        *incident("INC-D", opened=305),
    ])

    # 2 failed of 4 deploys = 0.5
    assert run_report(warehouse, "change_failure_rate", from_=T0, to=T0 + DAY) == [
        {"deploys": 4, "failed_deploys": 2, "change_failure_rate": 0.5}]
    # a 90-minute window also catches DEP-2 -> 3 / 4
    assert run_report(warehouse, "change_failure_rate", from_=T0, to=T0 + DAY, window_minutes=90) == [
        {"deploys": 4, "failed_deploys": 3, "change_failure_rate": 0.75}]


def test_error_rate_and_availability_count_abnormal_ends_among_ended_sessions(warehouse):
    for end in ["normal", "normal", "quit", "kicked", "error", "server_crash", "timed_out",
                "server_shutdown", "maintenance"]:
        write_events(warehouse, session_script(end=end))
    requested = session_script(heartbeats=0, end=None)[0]                   # never started:
    write_events(warehouse, [requested, timeout_event(fold_session([requested]), T0 + DAY, 30, 60)])
    write_events(warehouse, session_script(end=None))                       # open: not counted
    write_events(warehouse, session_script(end="error", platform="xbox"))   # filtered by platform

    rows = run_report(warehouse, "error_rate", from_=T0, to=T0 + DAY, platform="pc")

    # pc ended: 10; abnormal: error, server_crash, timed_out, reservation_timed_out = 4 -> 4/10;
    # server_shutdown and maintenance are not abnormal; availability 6/10
    assert rows == [{"sessions_ended": 10, "abnormal": 4, "play_timeouts": 1, "matchmaking_failures": 1,
                     "error_rate": pytest.approx(4 / 10), "availability": pytest.approx(6 / 10),
                     "planned_excluded": 0}]
    assert run_report(warehouse, "availability", from_=T0, to=T0 + DAY)[0]["sessions_ended"] == 11


def test_latency_quantiles_by_region_and_platform(warehouse):
    sid = "00000000-0000-4000-8000-00000000000a"
    latencies = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000]
    write_events(warehouse, [
        session_event("heartbeat", session_id=sid, seq=n, occurred_at=at(n), latency_ms=ms)
        for n, ms in enumerate(latencies, start=1)
    ] + [session_event("heartbeat", latency_ms=5, region="us-east", platform="ios")])

    rows = run_report(warehouse, "latency", from_=T0, to=T0 + DAY)

    # n = 10 sorted: p50 = position floor(0.5*10) = 5 -> 60; p95 -> floor(9.5) = 9 -> 1000; p99 -> 9 -> 1000
    assert [{k: r[k] for k in ("region", "platform", "heartbeats", "p50_ms", "p95_ms", "p99_ms")}
            for r in rows] == [
        {"region": "eu-west", "platform": "pc", "heartbeats": 10, "p50_ms": 60, "p95_ms": 1000, "p99_ms": 1000},
        {"region": "us-east", "platform": "ios", "heartbeats": 1, "p50_ms": 5, "p95_ms": 5, "p99_ms": 5},
    ]


def test_concurrency_per_minute_and_its_peak(warehouse):
    def session(start_minute, end_minute, end="normal"):
        events = [session_event("started", seq=1, occurred_at=at(start_minute))]
        sid = events[0].session_id
        if end == "open":
            events.append(session_event("heartbeat", session_id=sid, seq=2, occurred_at=at(end_minute)))
        else:
            events.append(session_event("ended", session_id=sid, seq=2, occurred_at=at(end_minute), reason=end))
        return events

    write_events(warehouse, session(0, 3) + session(0.5, 2) + session(1, 1.5)
                 + session(2, 4.5, end="open"))  # open: live until its last event at 4.5

    rows = run_report(warehouse, "concurrency", from_=T0, to=at(6))

    # sampled at minute starts; live when started_at <= t < end
    #   t=0: A(0-3)                     -> 1
    #   t=1: A, B(0.5-2), C(1-1.5)      -> 3
    #   t=2: A, D(2-4.5) (B ended at 2) -> 2
    #   t=3: D                          -> 1
    #   t=4: D                          -> 1
    #   t=5: nobody                     -> 0
    assert [(r["minute"], r["concurrent"]) for r in rows] == [
        (at(0), 1), (at(1), 3), (at(2), 2), (at(3), 1), (at(4), 1), (at(5), 0)]
    assert run_report(warehouse, "concurrency_peak", from_=T0, to=at(6)) == [
        {"minute": at(1), "peak_concurrent": 3}]


def test_concurrency_counts_a_session_spanning_the_period_whose_end_came_in_a_later_batch(warehouse):
    # started before the period and ended after it, the end written apart from the rest
    session = session_script(start=at(0), heartbeats=1, end="normal")
    write_events(warehouse, session[:-1])
    write_events(warehouse, [session[-1].model_copy(update={"occurred_at": at(10)})])
    write_events(warehouse, session_script(start=at(20), heartbeats=1))  # after the period

    rows = run_report(warehouse, "concurrency", from_=at(2), to=at(5))

    assert [(r["minute"], r["concurrent"]) for r in rows] == [(at(2), 1), (at(3), 1), (at(4), 1)]


def test_churn_is_players_not_seen_in_the_next_period_of_equal_length(warehouse):
    write_events(warehouse, [
        session_event("heartbeat", player_id="ana", occurred_at=T0),
        session_event("heartbeat", player_id="ana", occurred_at=T0 + 1.5 * DAY),  # returns
        session_event("heartbeat", player_id="ben", occurred_at=T0 + 0.5 * DAY),  # never again
        session_event("heartbeat", player_id="cai", occurred_at=T0 + 0.9 * DAY),
        session_event("heartbeat", player_id="cai", occurred_at=T0 + 2.5 * DAY),  # too late
        session_event("heartbeat", player_id="dee", occurred_at=T0 + 1.2 * DAY),  # new next period
    ])

    # active in [T0, T0+1d): ana, ben, cai = 3; seen again in [T0+1d, T0+2d): ana -> churned 2, 2/3
    assert run_report(warehouse, "churn", from_=T0, to=T0 + DAY) == [
        {"active_players": 3, "returned_players": 1, "churned_players": 2,
         "churn_rate": pytest.approx(2 / 3)}]


@pytest.fixture
def incident_history(warehouse):
    """INC-9 in eu-west from minute 10 to 70; four eu-west players and one elsewhere."""
    write_events(warehouse, incident("INC-9", opened=10, resolved=70))
    # ana: disconnected at 20, reconnected after 5 min (300000 ms) -> 5 player-minutes; plays next day
    ana = session_script(player_id="ana", start=at(15), heartbeats=1, disconnect_and_reconnect=True,
                         downtime=timedelta(minutes=5), end="normal", platform="pc", cross_play=True)
    # ben: session ends with server_crash at 40 -> loses 70 - 40 = 30 player-minutes; never returns
    ben = session_script(player_id="ben", start=at(39), heartbeats=0, end="server_crash",
                         platform="xbox", cross_play=False)
    # cai: plays normally inside the window (undisrupted); never returns
    cai = session_script(player_id="cai", start=at(30), heartbeats=2, end="normal", platform="pc")
    # dee: plays normally inside the window (undisrupted); returns the next day
    dee = session_script(player_id="dee", start=at(30), heartbeats=2, end="normal", platform="pc")
    # eve: disconnected in us-east: not in the incident's regions
    eve = session_script(player_id="eve", start=at(20), disconnect_and_reconnect=True, region="us-east")
    later = [session_event("heartbeat", player_id=p, occurred_at=T0 + DAY) for p in ("ana", "dee")]
    write_events(warehouse, ana + ben + cai + dee + eve + later)
    return warehouse


def test_incident_impact_by_region_platform_and_cross_play(incident_history):
    rows = run_report(incident_history, "incident_impact", incident_id="INC-9")

    # ana's reconnect: 300000 ms = 5 min; ben's crash at minute 40: 70 - 40 = 30 min
    # (ben: started at 39 + 2 s queue, ended 1 s later -> 39 min 03 s; 70 - 39.05 = 30.95 min)
    assert rows == [
        {"region": "eu-west", "platform": "pc", "cross_play": True,
         "sessions_disrupted": 1, "unique_players": 1, "player_minutes_lost": 5.0},
        {"region": "eu-west", "platform": "xbox", "cross_play": False,
         "sessions_disrupted": 1, "unique_players": 1, "player_minutes_lost": 30.95},
    ]


def _overruling_verdict(events, after):
    """The worker's timed_out verdict, ``after`` the session's `ended`, which overrules it."""
    heartbeat = max(e.occurred_at for e in events if e.event_type == "heartbeat")
    last = events[-1]
    return session_event("timed_out", session_id=last.session_id, player_id=last.player_id, seq=0,
                         occurred_at=last.occurred_at + after, producer="ledger-worker",
                         platform=last.platform, cross_play=last.cross_play,
                         last_heartbeat_at=heartbeat, timeout_s=30)


@pytest.fixture
def verdict_history(warehouse):
    """INC-5 in eu-west from minute 10 to 70: timeout verdicts that stand and verdicts overruled."""
    write_events(warehouse, incident("INC-5", opened=10, resolved=70))
    # fay: last heartbeat 20:12, the verdict at 20:42 stands -> 70 - 20.2 = 49.8 player-minutes
    fay = session_script(player_id="fay", start=at(20), heartbeats=1, end="timed_out",
                         platform="switch", cross_play=False)
    # gus: ended normally at 30:13; the verdict 5 s later is overruled: no disruption
    gus = session_script(player_id="gus", start=at(30), heartbeats=1, end="normal", platform="pc")
    gus.append(_overruling_verdict(gus, timedelta(seconds=5)))
    # hal: disconnected 2 min, ended normally, then an overruled verdict: only the 2 min count
    hal = session_script(player_id="hal", start=at(40), heartbeats=1, disconnect_and_reconnect=True,
                         downtime=timedelta(minutes=2), end="normal", platform="ios", cross_play=False)
    hal.append(_overruling_verdict(hal, timedelta(seconds=5)))
    # jo: ended at 68:13; the overruled verdict falls on the window's last instant, 70:00
    jo = session_script(player_id="jo", start=at(68), heartbeats=1, end="normal", platform="xbox")
    jo.append(_overruling_verdict(jo, at(70) - jo[-1].occurred_at))
    # kim: a standing verdict in us-east, outside the incident's regions
    kim = session_script(player_id="kim", start=at(20), heartbeats=1, end="timed_out", region="us-east")
    # lee: ended at 9:13, before the window; only the overruled verdict falls in it: not in the window
    lee = session_script(player_id="lee", start=at(9), heartbeats=1, end="normal", platform="pc")
    lee.append(_overruling_verdict(lee, at(10.5) - lee[-1].occurred_at))
    # mo: played in the window; the overruled verdict after its end is no return
    mo = session_script(player_id="mo", start=at(69), heartbeats=1, end="normal", platform="pc")
    mo.append(_overruling_verdict(mo, at(71) - mo[-1].occurred_at))
    write_events(warehouse, fay + gus + hal + jo + kim + lee + mo)
    # hal's reconnect delivered again: the history keeps it once
    write_events(warehouse, [e for e in hal if e.event_type == "reconnected"])
    return warehouse


def test_incident_impact_counts_standing_timeouts_not_overruled_ones(verdict_history):
    rows = run_report(verdict_history, "incident_impact", incident_id="INC-5")

    assert rows == [
        {"region": "eu-west", "platform": "ios", "cross_play": False,
         "sessions_disrupted": 1, "unique_players": 1, "player_minutes_lost": 2.0},
        {"region": "eu-west", "platform": "switch", "cross_play": False,
         "sessions_disrupted": 1, "unique_players": 1, "player_minutes_lost": 49.8},
    ]


def test_post_incident_churn_counts_an_overruled_timeout_as_no_disruption(verdict_history):
    rows = run_report(verdict_history, "post_incident_churn", incident_id="INC-5")

    # disrupted: fay (standing verdict), hal (disconnected); undisrupted: gus, jo, mo; lee was not
    # in the window; none returns
    assert rows == [
        {"cohort": "disrupted", "players": 2, "churned": 2, "churn_rate": 1.0},
        {"cohort": "undisrupted", "players": 3, "churned": 3, "churn_rate": 1.0},
    ]


def test_post_incident_churn_compares_disrupted_and_undisrupted_players(incident_history):
    rows = run_report(incident_history, "post_incident_churn", incident_id="INC-9")

    # disrupted: ana (returns), ben (gone) -> 1/2; undisrupted: cai (gone), dee (returns) -> 1/2
    assert rows == [
        {"cohort": "disrupted", "players": 2, "churned": 1, "churn_rate": 0.5},
        {"cohort": "undisrupted", "players": 2, "churned": 1, "churn_rate": 0.5},
    ]


def test_post_incident_churn_follow_up_is_bounded(incident_history):
    # with 0 follow-up days nobody can return: everyone churned
    rows = run_report(incident_history, "post_incident_churn", incident_id="INC-9", follow_days=0)

    assert [(r["cohort"], r["churned"]) for r in rows] == [("disrupted", 2), ("undisrupted", 2)]


def test_reports_refuse_unknown_names_and_bad_parameters(warehouse):
    assert "mttr" in report_names()
    with pytest.raises(UnknownReport, match="known reports: .*mttr"):
        run_report(warehouse, "apdex")
    with pytest.raises(BadReportParameter, match="'to' is required"):
        run_report(warehouse, "mttr", from_=T0)
    with pytest.raises(BadReportParameter, match="must be later than from_"):
        run_report(warehouse, "mttr", from_=T0, to=T0)
    with pytest.raises(BadReportParameter, match="'platform' is not a parameter"):
        run_report(warehouse, "mttr", from_=T0, to=T0 + DAY, platform="pc")


def test_the_minute_rollup_counts_each_disconnect_once(incident_history):
    rows = run_report(incident_history, "minute_rollup", from_=T0, to=T0 + DAY)

    # ana disconnects at 15 min + 2 s + 10 s + 1 s (eu-west), eve at 20 min + 2 s + 30 s + 1 s (us-east)
    assert sum(r["disconnects"] for r in rows) == 2
    assert [r["minute"] for r in rows if r["disconnects"]] == [at(15), at(20)]


def test_the_html_report_is_one_self_contained_page(incident_history, tmp_path):
    from analytics.html_report import write_html_report

    page = write_html_report(incident_history, tmp_path / "report.html", T0, T0 + timedelta(hours=2))
    html = page.read_text()

    assert all(f"id='chart-{name}'" in html for name in ("concurrency", "disruptions", "latency"))
    assert "var uPlot=" in html and "LedgerCharts" in html, "the chart library is inlined"
    assert "INC-9" in html and '"label": "INC-9"' in html, "the incident is listed and marked on the charts"
    assert "player-minutes lost" in html and "MTTR" in html and "churn" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|<link|<script src""", html), \
        "the page loads nothing from anywhere"
    # the SLO budgets and burn rates sit beside the incident milestones
    assert "<td>MTTR</td>" in html and "<td>MTTD</td>" in html
    assert "<th>budget left</th>" in html and "<th>burn 1h</th>" in html
    assert all(name in html for name in ("session-success", "heartbeat-latency",
                                         "reconnect-success", "matchmaking-time"))



def test_incident_milestones_mean_p50_p90_with_corrections_drills_and_disorder(warehouse):
    """Four incidents opened at minute 0 of different hours; times in minutes after T0.

    INC-A: impact -10 (explicit), detected -2, opened 0, ack 2, mitigated 10, resolved 40.
    INC-B: opened 60, detected 63, ack 64, mitigated 80, resolved 90; impact from a spike:
           spike minute 55 in eu-west whose first disconnect is at 55.5 -> MTTD 63 - 55.5 = 7.5.
    INC-C: opened 120, ack 130, resolved 119 (out of order), then a correction puts
           resolved at 150 -> in order after all; a second, later correction (160) wins.
    INC-D: opened 200, resolved 190: out of order, never averaged.
    GD-1:  a drill opened 300, resolved 310: left out unless include_planned.

    MTTD (s): A 480, B 450 -> n 2, mean 465, p50 = sorted[floor(1)] = 480, p90 = 480.
    MTTA (s): A 120, B 240, C 600 -> mean 320, p50 = sorted[1] = 240, p90 = sorted[2] = 600.
    MTTM (s): A 600, B 1200 -> mean 900, p50 1200, p90 1200.
    MTTR (s): A 2400, B 1800, C 2400 (160 - 120 min) -> mean 2200, p50 = 2400, p90 = 2400;
              D is -600: out of order, not in n.
    """
    spike = ops_event("anomaly_detected", occurred_at=at(56), region="eu-west",
                      window_start=at(55), count=30, threshold=20, kind="disconnect_spike")
    disconnects = [session_event("disconnected", region="eu-west", occurred_at=at(m))
                   for m in (55.5, 55.8)]
    write_events(warehouse, [spike, *disconnects]
                 + incident("INC-A", opened=0, detected=-2, acknowledged=2, mitigated=10, resolved=40)
                 + [ops_event("incident_mitigated", occurred_at=at(10.5), incident_id="INC-A",
                              impact_started_at=at(-10))]
                 + incident("INC-B", opened=60, detected=63, acknowledged=64, mitigated=80, resolved=90)
                 + incident("INC-C", opened=120, acknowledged=130, resolved=119)
                 + [ops_event("incident_corrected", occurred_at=at(m), incident_id="INC-C",
                              milestone="resolved", milestone_at=at(t), producer=who)
                    for m, t, who in ((170, 150, "alice"), (171, 160, "bob"))]
                 + incident("INC-D", opened=200, resolved=190)
                 + [ops_event(f"incident_{s}", occurred_at=at(m), incident_id="GD-1", kind="drill")
                    for s, m in (("opened", 300), ("resolved", 310))])
    period = dict(from_=T0, to=T0 + DAY)

    [row] = run_report(warehouse, "incident_milestones", **period)

    assert (row["incidents"], row["planned_excluded"], row["impact_unknown"]) == (4, 1, 2)
    assert (row["mttd_n"], row["mttd_mean_s"], row["mttd_p50_s"], row["mttd_p90_s"]) == (2, 465.0, 480.0, 480.0)
    assert (row["mtta_n"], row["mtta_mean_s"], row["mtta_p50_s"], row["mtta_p90_s"]) == (3, 320.0, 240.0, 600.0)
    assert (row["mttm_n"], row["mttm_mean_s"], row["mttm_p50_s"], row["mttm_p90_s"]) == (2, 900.0, 1200.0, 1200.0)
    assert (row["mttr_n"], row["mttr_mean_s"], row["mttr_p50_s"], row["mttr_p90_s"]) == (3, 2200.0, 2400.0, 2400.0)
    assert (row["out_of_order"], row["out_of_order_ids"]) == (1, ["INC-D"])
    [corrected] = warehouse.query("SELECT resolved_at, resolved_corrected_by FROM incidents "
                                  "WHERE incident_id = 'INC-C'")
    assert (corrected["resolved_at"], corrected["resolved_corrected_by"]) == (at(160), "bob")
    # mttr: the same definition, out of order and drills left out
    assert run_report(warehouse, "mttr", **period) == [
        {"incidents": 4, "resolved": 3, "mttr_s": 2200.0, "planned_excluded": 1}]
    [planned] = run_report(warehouse, "incident_milestones", include_planned=1, **period)
    # the drill adds MTTR 600 s: (2400 + 1800 + 2400 + 600) / 4 = 1800
    assert (planned["incidents"], planned["planned_excluded"], planned["mttr_mean_s"]) == (5, 0, 1800.0)


def test_availability_leaves_sessions_ending_in_planned_work_out(warehouse):
    """Sessions start at minutes 0, 30 and 60 and end about 32 s later: normal, error, error.
    Maintenance MW-2 covers eu-west over minutes [29, 40), so the error at ~30.5 is left out:
    2 ended, 1 abnormal -> availability 1/2. With planned work: 3 ended, 2 abnormal -> 1/3.
    A us-east-only window over the minute-60 session changes nothing (other region)."""
    for minute, end in ((0, "normal"), (30, "error"), (60, "error")):
        write_events(warehouse, session_script(start=at(minute), end=end))
    write_events(warehouse, [
        ops_event("maintenance_scheduled", incident_id="MW-2", regions=("eu-west",),
                  planned_start=at(29), planned_end=at(40)),
        ops_event("maintenance_scheduled", incident_id="MW-3", regions=("us-east",),
                  planned_start=at(59), planned_end=at(70))])
    period = dict(from_=T0, to=T0 + DAY)

    [left_out] = run_report(warehouse, "availability", **period)
    [included] = run_report(warehouse, "availability", include_planned=1, **period)

    assert (left_out["sessions_ended"], left_out["abnormal"], left_out["planned_excluded"]) == (2, 1, 1)
    assert left_out["availability"] == pytest.approx(1 / 2)
    assert (included["sessions_ended"], included["abnormal"], included["planned_excluded"]) == (3, 2, 0)


def test_uptime_per_region_counts_minutes_inside_outages(warehouse):
    """Period: 100 minutes from T0. Regions seen: eu-west, us-east (a session event each).

    INC-U1 sev1 eu-west [10, 30): 20 minutes down in eu-west.
    INC-U2 sev3 eu-west [40, 50): sev3 is not an outage.
    INC-U3 sev2 with no regions [25, 35): everywhere; eu-west already down 25..29, adds 30..34
           (5); us-east gets 10.
    Two paging burns on an SLO cut to us-east open at 60: the 1 h page resolves at 62, the 6 h
    page at 65: minutes 60..64 down in us-east (5; each alert is its own interval).
    A ticket burn in us-east [70, 90) is not paging.
    GD-9, a sev1 drill in us-east [80, 95): planned, not down; with include_planned, 15 more.
    eu-west: 25 down of 100 -> 0.75. us-east: 15 of 100 -> 0.85 (30 -> 0.70 with planned).
    """
    def inc(incident_id, severity, opened, resolved, regions=("eu-west",), **extra):
        return [ops_event(f"incident_{step}", occurred_at=at(m), incident_id=incident_id,
                          severity=severity, regions=regions, **extra)
                for step, m in (("opened", opened), ("resolved", resolved))]

    def burn(alert, state, minute, opened, long_window_s=3600):
        return ops_event("slo_burn", occurred_at=at(minute), slo="hb-us", region="us-east",
                         alert=alert, state=state, window_start=at(opened),
                         long_window_s=long_window_s)

    write_events(warehouse, [session_event("heartbeat", region="eu-west", occurred_at=at(1)),
                             session_event("heartbeat", region="us-east", occurred_at=at(1))]
                 + inc("INC-U1", "sev1", 10, 30) + inc("INC-U2", "sev3", 40, 50)
                 + inc("INC-U3", "sev2", 25, 35, regions=())
                 + [burn("page", "opened", 60, 60), burn("page", "resolved", 62, 60),
                    burn("page", "opened", 60, 60, 21600), burn("page", "resolved", 65, 60, 21600),
                    burn("ticket", "opened", 70, 70), burn("ticket", "resolved", 90, 70)]
                 + inc("GD-9", "sev1", 80, 95, regions=("us-east",), kind="drill"))
    period = dict(from_=T0, to=at(100))

    rows = run_report(warehouse, "uptime", **period)
    planned = run_report(warehouse, "uptime", include_planned=1, region="us-east", **period)

    assert [(r["region"], r["minutes"], r["down_minutes"]) for r in rows] == [
        ("eu-west", 100, 25), ("us-east", 100, 15)]
    assert [r["uptime"] for r in rows] == [pytest.approx(0.75), pytest.approx(0.85)]
    assert [(r["region"], r["down_minutes"]) for r in planned] == [("us-east", 30)]
