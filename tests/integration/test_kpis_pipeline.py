"""Router and enforcement together on the real broker and database: reports routed, some decided
by the policy and some by hand, an action applied, an automated decision appealed and reversed;
enforcement's KPIs and its transparency JSON and CSV must match what the test computes from the
events it saw."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement.app import create_app as create_enforcement
from services.enforcement.ladder import load_policy as load_enforcement_policy
from services.enforcement.settings import EnforcementSettings
from shared.events import (
    ActionConfirmed,
    ActionIssued,
    ActionStatus,
    AppealLodged,
    Confirmation,
    DecidedBy,
    Source,
    utcnow,
)
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea, dsa_category
from tests.harness import TopicWatcher, eventually, produce_raw, running
from tests.integration.test_enforcement import auth
from tests.integration.test_enforcement_lifecycle import settings as enforcement_settings
from tests.integration.test_review_api import REMOVE, desk
from tests.integration.test_router_routing import classified

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

KEEP = {"outcome": "no_action", "reason": "not abusive"}
HARASSMENT = dsa_category(PolicyArea.HARASSMENT).value


async def test_transparency_figures_match_the_traffic_and_the_decisions_taken_by_hand(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    topics = Topics(namespace)
    since = utcnow()
    policy = {"qa": {"human_share": 0.0, "automated_share": 0.0}}
    es: EnforcementSettings = enforcement_settings(kafka, postgres, namespace)
    async with (
        desk(kafka, postgres, namespace, tmp_path, db, policy=policy) as d,
        running(create_enforcement(es)) as enforcement,
        TopicWatcher(kafka.bootstrap_servers, topics.actions) as actions_out,
        TopicWatcher(kafka.bootstrap_servers, topics.appeals) as appeals_out,
    ):
        auto_action = classified(PolicyArea.HARASSMENT, 0.95)
        auto_dismiss = classified(PolicyArea.HARASSMENT, 0.1)
        flagged = classified(PolicyArea.HARASSMENT, 0.6, source=Source.TRUSTED_FLAGGER)
        ordinary = classified(PolicyArea.HARASSMENT, 0.6)
        await d.route(auto_action, auto_dismiss, flagged, ordinary)

        queue = d.queue("harassment")
        alice = await d.reviewer("alice", f"review:{queue}")
        bob = await d.reviewer("bob", f"review:{d.queue('appeals')}")
        # The trusted flagger's notice is due first, so it is claimed first.
        for body in (REMOVE, KEEP):
            case = (await d.claim(queue, alice)).json()
            assert (await d.decide(case["case_id"], alice, body)).status_code == 200
        await d.decisions.wait_for(4)

        # The product client applies the automated removal.
        async def automated_removal() -> ActionIssued | None:
            for r in actions_out.records:
                a = ActionIssued.from_bytes(r.value)
                if (
                    a.payload.report_id == auto_action.payload.report.report_id
                    and a.payload.action.value == "remove_content"
                ):
                    return a
            return None

        removal = await eventually(automated_removal)
        applied_at = utcnow()
        # The client whose notice led to the action confirms it (records are the client's).
        owner = auto_action.payload.report.client_id
        confirmation = ActionConfirmed(
            producer=owner,
            correlation_id=removal.correlation_id,
            payload=Confirmation(
                action_id=removal.payload.action_id,
                subject_id=removal.payload.subject.subject_id,
                status=ActionStatus.APPLIED,
                confirmed_at=applied_at,
            ),
        )
        await produce_raw(
            kafka.bootstrap_servers,
            topics.action_confirmations,
            [(confirmation.key(), confirmation.to_bytes())],
        )

        # The affected user appeals the automated removal; a reviewer finds no violation.
        lodger = await auth(db, "appeals:write", client=owner)
        ops = await auth(db, "kpi:read", client=f"ops-{d.tag}")
        automated_decision = next(
            dm.payload for dm in d.published() if dm.payload.report_id == removal.payload.report_id
        )
        lodged = await enforcement.post(
            "/v1/appeals",
            json={
                "decision_id": str(automated_decision.decision_id),
                "appellant": "affected_user",
                "statement": "It was a quote.",
            },
            headers=lodger,
        )
        assert lodged.status_code == 201, lodged.text
        (record,) = await appeals_out.wait_for(1)
        lodged_at = AppealLodged.from_bytes(record.value).payload.lodged_at
        appeal_case = await d.claim_eventually(d.queue("appeals"), bob)
        assert (await d.decide(appeal_case["case_id"], bob, KEEP)).status_code == 200
        await d.decisions.wait_for(5)

        async def report(fmt: str) -> Any:
            r = await enforcement.get(
                "/v1/transparency",
                params={
                    "since": since.isoformat(),
                    "until": (utcnow() + timedelta(seconds=1)).isoformat(),
                    "format": fmt,
                },
                headers=ops,
            )
            assert r.status_code == 200, r.text
            return r.json() if fmt == "json" else r.text

        async def settled() -> dict[str, Any] | None:
            data = await report("json")
            done = data["complaints"]["reversed"] == 1 and data["time_to_action"]["applied"] == 1
            return data if done else None

        data = await eventually(settled)
        decided_seen = utcnow()
        by_action = (
            await enforcement.get(
                "/v1/kpis/time-to-action",
                params={"since": since.isoformat(), "by": "action"},
                headers=ops,
            )
        ).json()
        text_csv = await report("csv")
        automation = (
            await enforcement.get(
                "/v1/kpis/automation", params={"since": since.isoformat()}, headers=ops
            )
        ).json()
        empty = await enforcement.get(
            "/v1/transparency",
            params={"since": since.isoformat(), "until": since.isoformat()},
            headers=ops,
        )
        no_scope = await enforcement.get(
            "/v1/transparency",
            params={"since": since.isoformat(), "until": utcnow().isoformat()},
            headers=lodger,
        )

    decisions = [dm.payload for dm in d.published() if dm.payload.appeal is None]
    issued = [
        a.payload
        for a in (ActionIssued.from_bytes(r.value) for r in actions_out.records)
        if a.payload.reverses is None
        and a.payload.decision_id in {x.decision_id for x in decisions}
    ]

    # Notices by category and source: three ordinary notices and one from a trusted flagger.
    assert data["notices"] == [
        {"dsa_category": HARASSMENT, "source": "trusted_flagger", "notices": 1},
        {"dsa_category": HARASSMENT, "source": "user_notice", "notices": 3},
    ]
    assert (data["notices_total"], data["trusted_flagger_notices"]) == (4, 1)

    # Decisions by maker and outcome, as published.
    expected_decisions: dict[tuple[str, str], int] = {}
    for x in decisions:
        k = (x.decided_by.value, x.outcome.value)
        expected_decisions[k] = expected_decisions.get(k, 0) + 1
    assert {(r["decided_by"], r["outcome"]): r["decisions"] for r in data["decisions"]} == (
        expected_decisions
    )
    assert expected_decisions == {
        ("automated", "action"): 1,
        ("automated", "no_action"): 1,
        ("human", "action"): 1,
        ("human", "no_action"): 1,
    }

    # Actions by type, as issued on the actions topic; removals carry the policy's ground.
    by_type: dict[str, int] = {}
    automated_actions = 0
    for a in issued:
        by_type[a.action.value] = by_type.get(a.action.value, 0) + 1
        automated_actions += a.decided_by is DecidedBy.AUTOMATED
    got_by_type: dict[str, int] = {}
    for r in data["actions"]:
        got_by_type[r["action"]] = got_by_type.get(r["action"], 0) + r["actions"]
    assert got_by_type == by_type and by_type["remove_content"] == 2
    assert sum(r["automated"] for r in data["actions"]) == automated_actions
    ground = load_enforcement_policy(es.policy_path).ground(PolicyArea.HARASSMENT)[0]
    expected_ground = (
        f"DECISION_GROUND_{'ILLEGAL' if ground == 'illegal' else 'INCOMPATIBLE'}_CONTENT"
    )
    assert {r["ground"] for r in data["actions"] if r["action"] == "remove_content"} == {
        expected_ground
    }

    # Time to action: the one applied action, from its decision to the client's confirmation.
    tta = data["time_to_action"]
    assert (tta["actions"], tta["applied"]) == (len(issued), 1)
    assert tta["median_seconds_decision_to_applied"] == pytest.approx(
        (applied_at - automated_decision.decided_at).total_seconds(), abs=1e-3
    )

    # From receipt: the decision carries its report's receipt time, so enforcement measures
    # time to action from the moment the notice arrived, not from the decision.
    assert automated_decision.received_at == auto_action.payload.report.received_at
    [removals] = [r for r in by_action if r["key"] == "remove_content"]
    assert removals["applied_with_receipt"] == 1
    assert removals["median_seconds_from_receipt_to_applied"] == pytest.approx(
        (applied_at - auto_action.payload.report.received_at).total_seconds(), abs=1e-3
    )

    # Complaints: one lodged, decided and reversed; decided between the verdict and our look.
    c = data["complaints"]
    assert (c["received"], c["decided"], c["reversed"]) == (1, 1, 1)
    verdict = next(dm.payload for dm in d.published() if dm.payload.appeal is not None)
    low = (verdict.decided_at - lodged_at).total_seconds()
    assert low <= c["median_decision_seconds"] <= (decided_seen - lodged_at).total_seconds()

    # Automated means: two automated decisions, the one appealed was reversed.
    m = data["automated_means"]
    assert (m["automated_decisions"], m["appeals_decided"], m["appeals_reversed"]) == (2, 1, 1)
    assert (m["error_rate"], m["accuracy"]) == (1.0, 0.0)
    [harassment] = [r for r in automation if r["policy_area"] == "harassment"]
    assert (harassment["decisions"], harassment["automated"]) == (4, 2)
    assert harassment["automation_rate"] == 0.5
    assert harassment["precision_from_appeals"] == 0.0

    # The CSV carries the same figures.
    rows = list(csv.DictReader(io.StringIO(text_csv)))
    cell = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert cell[("notices", f"{HARASSMENT}|trusted_flagger", "notices")] == "1"
    assert cell[("notices", f"{HARASSMENT}|user_notice", "notices")] == "3"
    assert cell[("totals", "", "notices_total")] == "4"
    assert cell[("complaints", "", "reversed")] == "1"
    assert cell[("actions", f"{expected_ground}|remove_content", "actions")] == "2"
    assert float(cell[("time_to_action", "", "median_seconds_decision_to_applied")]) == (
        pytest.approx(tta["median_seconds_decision_to_applied"])
    )

    # A period that ends where it starts is empty: every count is zero, nothing is refused.
    assert empty.status_code == 200, empty.text
    nothing = empty.json()
    assert (nothing["notices_total"], nothing["decisions"], nothing["actions"]) == (0, [], [])
    assert no_scope.status_code == 403
