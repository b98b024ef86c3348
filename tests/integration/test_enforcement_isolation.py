"""Tenant isolation: a product client's key reaches only its own client's enforcement records.

Client B holds every scope client A holds; it must neither see A's actions, strikes, audit
records or appeal statistics, nor confirm A's actions (over HTTP or the confirmations topic),
nor appeal A's decisions. An operations key with ``enforcement:read_all`` sees across clients.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement.app import create_app
from services.enforcement.settings import EnforcementSettings
from shared.events import (
    ActionConfirmed,
    ActionStatus,
    Actor,
    Confirmation,
    utcnow,
)
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea
from tests.harness import eventually, running, service_env
from tests.integration.test_enforcement import ALL_SCOPES, auth
from tests.integration.test_enforcement_lifecycle import decision, send

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def owned_by(client: str, **kw: Any) -> Any:
    d = decision(**kw)
    return d.model_copy(update={"payload": d.payload.model_copy(update={"client_id": client})})


async def test_a_second_client_can_neither_read_nor_change_the_first_clients_records(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, db: AsyncEngine
) -> None:
    topics = Topics(namespace)
    a, b = f"client-a-{uuid.uuid4().hex[:6]}", f"client-b-{uuid.uuid4().hex[:6]}"
    account = f"acct-{uuid.uuid4().hex[:8]}"
    area = PolicyArea.SCAMS_FRAUD
    reviewer = Actor(kind="reviewer", actor_id="reviewer-cy")
    first = owned_by(a, owner=account, area=area, actor=reviewer)
    # B decides on an account of the same id on its own platform: a strike of B's, not A's.
    other = owned_by(b, owner=account, area=area)
    subject, decision_id = first.payload.subject.subject_id, first.payload.decision_id
    settings = EnforcementSettings(**service_env(kafka, postgres, namespace))
    async with running(create_app(settings)) as api:
        key_a = await auth(db, *ALL_SCOPES, client=a)
        key_b = await auth(db, *ALL_SCOPES, client=b)
        ops = await auth(db, *ALL_SCOPES, "enforcement:read_all", client="operations")
        await send(kafka, topics.decisions, first, other)

        async def actions_seen_by_a() -> list[dict[str, Any]] | None:
            got = await api.get(f"/v1/subjects/{subject}/actions", headers=key_a)
            items: list[dict[str, Any]] = got.json()["items"]
            return items or None

        # The removal and the ladder's account action are written in one transaction.
        actions_a = await eventually(actions_seen_by_a)
        action = next(x for x in actions_a if x["action"] == "remove_content")
        action_id = action["action_id"]
        assert {x["client_id"] for x in actions_a} == {a}

        async def b_strike() -> dict[str, Any] | None:
            got = (await api.get(f"/v1/accounts/{account}/strikes", headers=key_b)).json()
            return got if got["items"] else None

        # Reads: nothing of A's reaches B.
        assert (await api.get(f"/v1/subjects/{subject}/actions", headers=key_b)).json() == {
            "items": []
        }
        one = await api.get(f"/v1/actions/{action_id}", headers=key_b)
        assert one.status_code == 404
        assert one.json()["error"]["code"] == "not_found"
        strikes_b = await eventually(b_strike)
        assert [s["decision_id"] for s in strikes_b["items"]] == [str(other.payload.decision_id)]
        strikes_a = (await api.get(f"/v1/accounts/{account}/strikes", headers=key_a)).json()
        # Each client's ladder counts its own strikes only.
        assert [s["decision_id"] for s in strikes_a["items"]] == [str(decision_id)]
        weight = strikes_a["items"][0]["weight"]
        assert strikes_a["active_weight"] == strikes_b["active_weight"] == weight
        for params in ({"subject": subject}, {"decision": str(decision_id)}, {"actor": a}, {}):
            page = (await api.get("/v1/audit", params=params, headers=key_b)).json()
            assert all(r["client_id"] == b for r in page["items"]), params
            assert str(decision_id) not in {r["decision_id"] for r in page["items"]}
        for route in ("/v1/audit/verify", "/v1/audit/checkpoints"):
            refused = await api.get(route, headers=key_b)
            assert refused.status_code == 403, route
            assert "enforcement:read_all" in refused.json()["error"]["message"]
        stats_b = (await api.get("/v1/stats/appeals", headers=key_b)).json()["items"]
        assert {s["policy_area"]: s["decisions"] for s in stats_b} == {area.value: 1}

        # Writes: B's confirmation and appeal are refused as if the records did not exist.
        forged = await api.post(
            f"/v1/actions/{action_id}/confirmations", json={"status": "failed"}, headers=key_b
        )
        assert forged.status_code == 404
        # Not even the operations key writes for a client.
        assert (
            await api.post(
                f"/v1/actions/{action_id}/confirmations", json={"status": "failed"}, headers=ops
            )
        ).status_code == 404
        body = {"decision_id": str(decision_id), "appellant": "affected_user"}
        squatted = await api.post("/v1/appeals", json=body, headers=key_b)
        assert squatted.status_code == 404
        lodged = await api.post("/v1/appeals", json=body, headers=key_a)
        assert lodged.status_code == 201, lodged.text

        # Over the topic: B says it failed, then A says it applied (same subject, same
        # partition, in this order). Were B's taken, A's would change nothing.
        def confirmation(producer: str, status: ActionStatus) -> ActionConfirmed:
            return ActionConfirmed(
                event_id=uuid.uuid4(),
                producer=producer,
                correlation_id=first.payload.report_id,
                payload=Confirmation(
                    action_id=action_id,
                    subject_id=subject,
                    status=status,
                    confirmed_at=utcnow(),
                ),
            )

        await send(
            kafka,
            topics.action_confirmations,
            confirmation(b, ActionStatus.FAILED),
            confirmation(a, ActionStatus.APPLIED),
        )

        async def settled() -> dict[str, Any] | None:
            got: dict[str, Any] = (await api.get(f"/v1/actions/{action_id}", headers=key_a)).json()
            return got if got["status"] != "issued" else None

        assert (await eventually(settled))["status"] == "applied"
        trail_a = (await api.get("/v1/audit", params={"subject": subject}, headers=key_a)).json()
        # Operations sees across clients, explicitly.
        seen_by_ops = (await api.get(f"/v1/subjects/{subject}/actions", headers=ops)).json()
        strikes_ops = (await api.get(f"/v1/accounts/{account}/strikes", headers=ops)).json()
        audit_ops = (
            await api.get("/v1/audit", params={"decision": str(decision_id)}, headers=ops)
        ).json()
        stats_ops = (await api.get("/v1/stats/appeals", headers=ops)).json()["items"]
        verify_ops = await api.get("/v1/audit/verify", headers=ops)
        metrics = (await api.get("/metrics")).text
    acts = [(r["act"], r["actor_id"]) for r in trail_a["items"]]
    assert ("action_applied", a) in acts
    assert ("appeal_lodged", a) in acts
    assert not any(actor == b for _, actor in acts)
    assert all(r["client_id"] == a for r in trail_a["items"])
    assert {x["action_id"] for x in seen_by_ops["items"]} == {x["action_id"] for x in actions_a}
    assert strikes_ops["active_weight"] == 2 * weight
    assert {r["act"] for r in audit_ops["items"]} >= {"decision_recorded", "action_issued"}
    assert next(s for s in stats_ops if s["policy_area"] == area.value)["decisions"] >= 2
    assert verify_ops.status_code == 200
    refused_lines = [
        line
        for line in metrics.splitlines()
        if line.startswith("tns_enforcement_confirmations_refused_total{")
        and 'reason="other_client"' in line
    ]
    assert refused_lines and float(refused_lines[0].rsplit(" ", 1)[1]) >= 1
