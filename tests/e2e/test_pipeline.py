"""A report in at intake, the outcome out on the topics and in the enforcement API."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devstack.embedded import EmbeddedKafka
from shared.events import ActionIssued, ReviewTaskCreated
from shared.kafka.topics import Topics
from tests.e2e.conftest import Stack
from tests.factories import report_body
from tests.harness import TopicWatcher, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]


async def _post(client: httpx.AsyncClient, stack: Stack, body: dict[str, object]) -> str:
    r = await client.post(
        f"{stack['intake'].url}/v1/reports",
        json=body,
        headers={"Authorization": f"Bearer {stack.api_key}"},
    )
    assert r.status_code == 202, r.text
    report_id: str = r.json()["report_id"]
    return report_id


async def test_abusive_is_actioned_benign_dismissed_self_harm_reviewed(
    stack: Stack, kafka: EmbeddedKafka
) -> None:
    topics = Topics(stack.namespace)
    abusive = report_body("you are a worthless idiot, go die")
    benign = report_body("what a lovely photo of your garden")
    # S0 (self-harm): always a person, whatever the score.
    self_harm = report_body("i do not want to be here anymore", category="self_harm")
    async with (
        TopicWatcher(kafka.bootstrap_servers, topics.actions) as actions,
        TopicWatcher(kafka.bootstrap_servers, topics.review("self-harm")) as review,
        httpx.AsyncClient(timeout=10) as client,
    ):
        abusive_id = await _post(client, stack, abusive)
        benign_id = await _post(client, stack, benign)
        self_harm_id = await _post(client, stack, self_harm)
        ours = {abusive_id, benign_id, self_harm_id}

        def our_actions() -> list[ActionIssued]:
            # The tests share one database: another test's overdue action may be re-issued on
            # this topic by the ledger sweep; only this test's reports count.
            got = [ActionIssued.from_bytes(r.value) for r in actions.records]
            return [e for e in got if str(e.payload.report_id) in ours]

        async def first_action() -> list[ActionIssued] | None:
            return our_actions() or None

        [action_event] = await eventually(first_action)
        [task_msg] = await review.wait_for(1)
        enforcement = stack["enforcement"].url

        async def benign_decided() -> list[dict[str, object]] | None:
            page = (
                await client.get(
                    f"{enforcement}/v1/audit",
                    params={"report": benign_id},
                    headers=stack.auth("enforcement"),
                )
            ).json()
            return page["items"] or None

        [benign_audit] = await eventually(benign_decided)
        subject = abusive["subject"]["subject_id"]  # type: ignore[index]
        listed = (
            await client.get(
                f"{enforcement}/v1/subjects/{subject}/actions", headers=stack.auth("enforcement")
            )
        ).json()
    action = action_event.payload
    assert str(action.report_id) == abusive_id
    assert action.action.value == "remove_content"
    assert [a["report_id"] for a in listed["items"]] == [abusive_id]
    assert benign_audit["details"]["outcome"] == "no_action"  # type: ignore[index]
    task = ReviewTaskCreated.from_bytes(task_msg.value).payload
    assert str(task.report.report_id) == self_harm_id
    assert task.queue == "self-harm"
    await asyncio.sleep(0.5)
    assert len(our_actions()) == 1, "only the abusive report is actioned"
