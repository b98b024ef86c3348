"""KPIs and transparency figures of the whole pipeline: notices in at intake, classified, routed,
one decided by two reviewers through the review API; each service's figures must match what the
test computes from the events it read off the topics."""

from __future__ import annotations

import csv
import io
import random
import string
import uuid
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from devstack.run import create_key
from shared.events import DecisionMade, ReportReceived, utcnow
from shared.kafka.topics import Topics
from tests.e2e.conftest import Stack
from tests.factories import report_body
from tests.harness import TopicWatcher, eventually, process_env

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

REMOVE = {"outcome": "action", "action": "remove_content", "reason": "encourages self-harm"}


async def test_kpis_and_transparency_of_every_service_match_the_events(
    stack: Stack, kafka: EmbeddedKafka, postgres: EmbeddedPostgres
) -> None:
    topics = Topics(stack.namespace)
    env = process_env(kafka, postgres, stack.namespace)
    ops = {
        s: {"Authorization": f"Bearer {create_key(s, env, '--client', 'ops', 'kpi:read')}"}
        for s in ("intake", "enforcement")
    }
    ops["router"] = {
        "Authorization": f"Bearer {create_key('router', env, '--reviewer', 'ops', 'kpi:read')}"
    }
    first, second = (
        {"Authorization": f"Bearer {create_key('router', env, '--reviewer', r, 'review:*')}"}
        for r in (f"rev-a-{uuid.uuid4().hex[:6]}", f"rev-b-{uuid.uuid4().hex[:6]}")
    )
    # A language code no other test sends keeps this test's reports apart in shared tables.
    lang = "q" + random.choice(string.ascii_lowercase)
    reporter = f"kpi-{uuid.uuid4().hex[:8]}"
    bodies = [
        report_body("you are a worthless idiot, go die"),
        report_body("what a lovely photo of your garden"),
        report_body("i do not want to be here anymore", category="self_harm"),
    ]
    for b in bodies:
        b.update(language=lang, reporter={"reporter_id": reporter})
    since = utcnow()
    router, intake, enforcement = (stack[s].url for s in ("router", "intake", "enforcement"))
    async with (
        TopicWatcher(kafka.bootstrap_servers, topics.reports_received) as received_topic,
        TopicWatcher(kafka.bootstrap_servers, topics.decisions) as decisions_topic,
        httpx.AsyncClient(timeout=10) as client,
    ):
        ids = []
        for b in bodies:
            r = await client.post(f"{intake}/v1/reports", json=b, headers=stack.auth("intake"))
            assert r.status_code == 202, r.text
            ids.append(uuid.UUID(r.json()["report_id"]))
        self_harm_id = ids[2]

        def decided() -> dict[uuid.UUID, Any]:
            out = {}
            for rec in decisions_topic.records:
                p = DecisionMade.from_bytes(rec.value).payload
                for rid in p.report_ids or [p.report_id]:
                    out[rid] = p
            return out

        # S0 needs four eyes: one reviewer proposes, the other confirms. Work the queue until
        # this test's case is decided (an earlier test may have left a case in it).
        async def work() -> bool | None:
            if self_harm_id in decided():
                return True
            for who in (first, second):
                case = await _claim(client, router, who)
                if case is None:
                    continue
                url = f"{router}/v1/cases/{case['case_id']}"
                if case["status"] == "awaiting_confirmation":
                    r = await client.post(f"{url}/confirmation", headers=who)
                else:
                    r = await client.post(f"{url}/decision", json=REMOVE, headers=who)
                assert r.status_code == 200, r.text
                return None
            return None

        await eventually(work, timeout=60)
        await eventually(lambda: _all_in(decided(), ids))

        async def get(url: str, headers: dict[str, str], **params: Any) -> Any:
            r = await client.get(url, params=params, headers=headers)
            assert r.status_code == 200, r.text
            return r.json() if "json" in r.headers["content-type"] else r.text

        window = {"since": since.isoformat()}
        by_lang = await get(
            f"{router}/v1/kpis/time-to-action", ops["router"], by="language", **window
        )

        async def intake_settled() -> dict[str, Any] | None:
            until = (utcnow() + timedelta(seconds=1)).isoformat()
            data = await get(
                f"{intake}/v1/transparency", ops["intake"], since=since.isoformat(), until=until
            )
            return data if data["time_to_action"]["actioned"] == 2 else None

        notices = await eventually(intake_settled)
        reporters = await get(f"{intake}/v1/kpis/reporters", ops["intake"], **window)
        until = (utcnow() + timedelta(seconds=1)).isoformat()

        async def enforcement_settled() -> dict[str, Any] | None:
            data = await get(
                f"{enforcement}/v1/transparency", ops["enforcement"], until=until, **window
            )
            n = sum(r["decisions"] for r in data["decisions"])
            return data if n == len({p.decision_id for p in decided().values()}) else None

        figures = await eventually(enforcement_settled)
        figures_csv = await get(
            f"{enforcement}/v1/transparency",
            ops["enforcement"],
            until=until,
            format="csv",
            **window,
        )
        refused = await client.get(f"{router}/v1/kpis/sla", headers=first)

    received = {
        e.payload.report_id: e.payload
        for e in (ReportReceived.from_bytes(r.value) for r in received_topic.records)
    }
    outcome = decided()
    ours = [received[i] for i in ids]
    seconds = [(outcome[r.report_id].decided_at - r.received_at).total_seconds() for r in ours]

    # Router: receipt to decision for this test's three reports (two automated, one by hand).
    [mine] = [r for r in by_lang if r["key"] == lang]
    assert mine["decisions"] == 3
    expected = np.percentile(seconds, [50, 90, 95])
    got = [mine["median_seconds"], mine["p90_seconds"], mine["p95_seconds"]]
    assert got == pytest.approx(list(expected), abs=1e-3)
    assert [outcome[i].outcome.value for i in ids] == ["action", "no_action", "action"]

    # Intake: notices by category and source, the median receipt-to-action time, the reporter.
    expected_notices: dict[tuple[str, str], int] = {}
    for r in ours:
        k = (r.dsa_category.value, r.source.value)
        expected_notices[k] = expected_notices.get(k, 0) + 1
    assert {(n["dsa_category"], n["source"]): n["notices"] for n in notices["notices"]} == (
        expected_notices
    )
    assert notices["notices_total"] == 3
    actioned = [
        s
        for r, s in zip(ours, seconds, strict=True)
        if outcome[r.report_id].outcome.value == "action"
    ]
    assert notices["time_to_action"]["median_seconds_receipt_to_action"] == pytest.approx(
        float(np.median(actioned)), abs=1e-3
    )
    [rep] = [r for r in reporters if r["reporter_id"] == reporter]
    assert (rep["notices"], rep["decided"], rep["actioned"]) == (3, 3, 2)
    assert rep["actionable_rate"] == pytest.approx(2 / 3)

    # Enforcement: decisions by maker and outcome in the window, as the decisions topic had them.
    in_window = {p.decision_id: p for p in outcome.values()}
    expected_decisions: dict[tuple[str, str], int] = {}
    for p in in_window.values():
        k = (p.decided_by.value, p.outcome.value)
        expected_decisions[k] = expected_decisions.get(k, 0) + 1
    assert {(r["decided_by"], r["outcome"]): r["decisions"] for r in figures["decisions"]} == (
        expected_decisions
    )
    assert figures["automated_means"]["automated_decisions"] == sum(
        1 for p in in_window.values() if p.decided_by.value == "automated"
    )
    rows = list(csv.DictReader(io.StringIO(figures_csv)))
    total = sum(
        int(r["value"]) for r in rows if (r["section"], r["metric"]) == ("decisions", "decisions")
    )
    assert total == len(in_window)

    assert refused.status_code == 403


async def _claim(client: httpx.AsyncClient, router: str, who: dict[str, str]) -> Any:
    r = await client.post(f"{router}/v1/queues/self-harm/claim", headers=who)
    return r.json() if r.status_code == 200 else None


async def _all_in(decided: dict[uuid.UUID, Any], ids: list[uuid.UUID]) -> bool:
    return all(i in decided for i in ids)
