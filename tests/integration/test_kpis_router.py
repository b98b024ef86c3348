"""Router KPIs on the real broker and database, checked against figures the test computes itself.

Reports are routed (two settled by the policy, four sent to review), three are decided by hand
through the review API and re-reviewed by QA; the KPI routes must agree with the timestamps the
decisions carry and with an independent Cohen's kappa.
"""

from __future__ import annotations

import math
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from shared.events import utcnow
from shared.taxonomy import PolicyArea
from tests.harness import eventually
from tests.integration.test_review_api import REMOVE, desk
from tests.integration.test_router_routing import classified

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

KEEP = {"outcome": "no_action", "reason": "not abusive"}


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    # percentile_cont is linear interpolation between closest ranks, numpy's default.
    p50, p90, p95 = np.percentile(values, [50, 90, 95])
    return float(p50), float(p90), float(p95)


def _row(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    [row] = [r for r in rows if r["key"] == key]
    return row


async def test_kpis_match_the_decisions_taken_by_the_policy_and_by_hand(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    policy = {"qa": {"human_share": 1.0, "automated_share": 0.0}}
    async with desk(
        kafka, postgres, namespace, tmp_path, db, policy=policy, queue_metrics_interval_seconds=0.2
    ) as d:
        lang = f"x{d.tag}"  # a language no other test uses isolates this test's reports
        now = utcnow()
        ago = [timedelta(hours=30), timedelta(hours=2), timedelta(hours=1), timedelta(minutes=40)]
        reviewed = [
            classified(PolicyArea.HARASSMENT, 0.6, received_at=now - a, language=lang) for a in ago
        ]
        automated = [
            classified(
                PolicyArea.HARASSMENT, 0.95, received_at=now - timedelta(minutes=10), language=lang
            ),
            classified(
                PolicyArea.HARASSMENT, 0.1, received_at=now - timedelta(minutes=5), language=lang
            ),
        ]
        # A scams case nobody works: its deadline is ahead but no reviewer is on shift.
        unworked = classified(PolicyArea.SCAMS_FRAUD, 0.5, language=lang)
        await d.route(*reviewed, *automated, unworked)

        queue, qa_queue = d.queue("harassment"), d.queue("qa")
        alice = await d.reviewer("alice", f"review:{queue}")
        auditor = await d.reviewer("auditor", f"review:{qa_queue}")
        ops = await d.reviewer("ops", "kpi:read")
        bounds: list[float] = []
        # Earliest deadline first: the 30-hour-old report (already late) comes first.
        for body in (REMOVE, KEEP, REMOVE):
            t0 = time.monotonic()
            case = (await d.claim(queue, alice)).json()
            assert (await d.decide(case["case_id"], alice, body)).status_code == 200
            bounds.append(time.monotonic() - t0)
        # QA agrees with the first two decisions and not with the third.
        for body in (REMOVE, KEEP, KEEP):
            sample = (await d.claim(qa_queue, auditor)).json()
            assert (await d.decide(sample["case_id"], auditor, body)).status_code == 200
        await d.decisions.wait_for(5)  # two automated, three by hand

        async def get(path: str) -> Any:
            r = await d.api.get(path, headers=ops)
            assert r.status_code == 200, r.text
            return r.json()

        by_queue = await get("/v1/kpis/time-to-action?by=queue")
        by_lang = await get("/v1/kpis/time-to-action?by=language")
        by_who = await get("/v1/kpis/time-to-action?by=decided_by")
        sla = await get("/v1/kpis/sla?by=queue")
        flow = await get(f"/v1/kpis/flow?queue={queue}")
        aht = await get("/v1/kpis/handle-time?by=reviewer")
        qa = await get("/v1/kpis/qa?by=reviewer")
        qa_by_queue = await get("/v1/kpis/qa?by=queue")
        # Decisions were all taken after ``now``: a window from then holds them all, one up to
        # then none; a window that ends before it starts closes no case, open ones still count.
        from_now = await get(f"/v1/kpis/time-to-action?by=language&since={quote(now.isoformat())}")
        to_now = await get(f"/v1/kpis/time-to-action?by=language&until={quote(now.isoformat())}")
        inverted = await get(
            f"/v1/kpis/sla?by=queue&since={quote(now.isoformat())}"
            f"&until={quote((now - timedelta(hours=1)).isoformat())}"
        )
        refused = await d.api.get("/v1/kpis/sla", headers=alice)
        refused_everywhere = {
            path: (await d.api.get(path, headers=alice)).status_code
            for path in (
                "/v1/kpis/time-to-action",
                "/v1/kpis/flow",
                "/v1/kpis/handle-time",
                "/v1/kpis/qa",
                "/v1/kpis/automation",
                "/v1/kpis/breach-risk",
                f"/v1/capacity/forecast?queue={queue}",
                "/v1/report",
            )
        }
        bad_by = await d.api.get("/v1/kpis/sla?by=colour", headers=ops)
        bad_since = await d.api.get("/v1/kpis/sla?since=yesterday", headers=ops)

        async def breach_gauge() -> float | None:
            text = (await d.api.get("/metrics")).text
            m = re.search(
                rf'^tns_router_queue_projected_breaches\{{queue="{d.queue("scams")}"\}} (\S+)$',
                text,
                re.MULTILINE,
            )
            return float(m.group(1)) if m else None

        projected = await eventually(breach_gauge)
        risk = await get("/v1/kpis/breach-risk")

    # Independent figures: receipt times the test chose, decision times the events carry.
    received = {
        e.payload.report.report_id: e.payload.report.received_at for e in [*reviewed, *automated]
    }
    seconds: dict[str, list[float]] = {"human": [], "automated": []}
    for dm in d.published():
        p = dm.payload
        for rid in p.report_ids or [p.report_id]:
            seconds[p.decided_by.value].append((p.decided_at - received[rid]).total_seconds())
    assert len(seconds["human"]) == 3 and len(seconds["automated"]) == 2

    human = _row(by_queue, queue)
    assert human["decisions"] == 3
    expected = _percentiles(seconds["human"])
    got = (human["median_seconds"], human["p90_seconds"], human["p95_seconds"])
    assert got == pytest.approx(expected, abs=1e-3)
    mine = _row(by_lang, lang)
    assert mine["decisions"] == 5
    assert mine["median_seconds"] == pytest.approx(
        _percentiles(seconds["human"] + seconds["automated"])[0], abs=1e-3
    )
    assert {"human", "automated"} <= {r["key"] for r in by_who}
    assert _row(from_now, lang)["decisions"] == 5
    assert lang not in {r["key"] for r in to_now}
    s = _row(inverted, queue)
    assert (s["closed"], s["open"], s["attainment"]) == (0, 1, None)

    # SLA: harassment is due 24 h after receipt; the 30-hour-old case was decided late.
    s = _row(sla, queue)
    assert (s["closed"], s["closed_within_sla"], s["open"], s["open_past_sla"]) == (3, 2, 1, 0)
    assert s["attainment"] == pytest.approx(2 / 3)
    assert _row(sla, qa_queue)["closed"] == 3

    # Flow: four cases arrived and three were completed in this queue; one remains.
    assert sum(r["arrivals"] for r in flow) == 4
    assert sum(r["completions"] for r in flow) == 3
    assert flow[-1]["backlog"] == 1

    # Handle time: claim to decision, never more than the wall time around each pair of calls.
    a = _row(aht, f"alice-{d.tag}")
    assert a["decisions"] == 3
    assert 0 < a["aht_seconds"] <= sum(bounds) / 3

    # QA: accuracy 2/3 and the kappa scikit-learn computes on the same pairs.
    labels = ["action/remove_content", "no_action", "action/remove_content"]
    audited = ["action/remove_content", "no_action", "no_action"]
    q = _row(qa, f"alice-{d.tag}")
    assert (q["pairs"], q["agreed"]) == (3, 2)
    assert q["accuracy"] == pytest.approx(2 / 3)
    assert q["kappa"] == pytest.approx(cohen_kappa_score(labels, audited))
    assert q["kappa"] == pytest.approx(0.4)
    assert _row(qa_by_queue, queue)["pairs"] == 3

    # Breach projection: nobody works the scams queue, so its open case will miss its deadline.
    assert projected == 1.0
    [scams] = [r for r in risk if r["queue"] == d.queue("scams")]
    assert (scams["backlog"], scams["reviewers"], scams["projected_breaches"]) == (1, 0, 1)
    assert scams["seconds_to_clear"] is None
    [worked] = [r for r in risk if r["queue"] == queue]
    assert (worked["backlog"], worked["reviewers"], worked["projected_breaches"]) == (1, 1, 0)

    assert refused.status_code == 403
    assert set(refused_everywhere.values()) == {403}, refused_everywhere
    assert bad_by.status_code == 422 and "by" in bad_by.text
    assert bad_since.status_code == 422 and "since" in bad_since.text


async def test_capacity_plan_answers_the_published_erlang_example_and_names_bad_fields(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        ops = await d.reviewer("ops", "kpi:read")
        # Three cases opened this hour; history up to the next hour's start holds them, and the
        # forecast of a day's history (too short for a season) is its hourly mean.
        await d.route(*(classified(PolicyArea.HARASSMENT, 0.6) for _ in range(3)))
        next_hour = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        forecast = await d.api.get(
            "/v1/capacity/forecast",
            params={
                "queue": d.queue("harassment"),
                "days": 1,
                "horizon_hours": 6,
                "until": next_hour.isoformat(),
            },
            headers=ops,
        )
        plan = {
            "queues": [
                {
                    "queue": "chat",
                    "model": "erlang_c",
                    "arrivals_per_hour": 200,
                    "aht_seconds": 180,
                    "target_seconds": 20,
                    "service_level": 0.8,
                    "occupancy_cap": 0.85,
                    "shrinkage": 0.3,
                },
                {
                    "queue": "scams",
                    "model": "backlog",
                    "arrivals_per_hour": 30,
                    "aht_seconds": 600,
                    "backlog": 480,
                    "clearance_hours": 8,
                    "occupancy_cap": 0.75,
                    "shrinkage": 0.2,
                },
            ]
        }
        ok = await d.api.post("/v1/capacity/plan", json=plan, headers=ops)
        missing = await d.api.post(
            "/v1/capacity/plan",
            json={"queues": [{**plan["queues"][0], "service_level": None}]},
            headers=ops,
        )
        huge = await d.api.post(
            "/v1/capacity/plan",
            json={"queues": [{**plan["queues"][0], "arrivals_per_hour": 1e7, "aht_seconds": 3600}]},
            headers=ops,
        )
        negative = await d.api.post(
            "/v1/capacity/plan",
            json={"queues": [{**plan["queues"][1], "aht_seconds": -1}]},
            headers=ops,
        )
    hours = forecast.json()
    assert len(hours) == 6
    assert hours[0]["hour"] == next_hour.isoformat()
    # 3 arrivals over 24 hours of history (zeros kept): 0.125 an hour.
    assert {round(h["arrivals"], 6) for h in hours} == {0.125}
    chat, scams = ok.json()
    assert (chat["seats"], round(chat["service_level"], 4)) == (14, 0.8884)
    assert (scams["seats"], scams["fte"]) == (20, 25.0)
    assert missing.status_code == 422 and "service_level" in missing.text
    # 10 million Erlangs: planned (by bisection), not refused.
    assert huge.status_code == 200, huge.text
    [big] = huge.json()
    assert big["load_erlangs"] == 1e7 and big["seats"] >= math.ceil(1e7 / 0.85)
    assert negative.status_code == 422 and "queues.0.aht_seconds" in negative.text
