"""Registered kinds of source (legal order, law enforcement, regulator, advertiser), end to end
from intake's registry to the router's review tasks, on the real broker and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.intake.registry import add_authority
from services.router.app import create_app as create_router
from shared.events import ReviewTask, ReviewTaskCreated, Source, SourceKind
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea
from tests.factories import make_classified, report_body
from tests.harness import TopicWatcher, running
from tests.integration.test_intake_notices import Start, new_key, received, start  # noqa: F401
from tests.integration.test_review_api import REMOVE, desk
from tests.integration.test_router_routing import classified, produce, settings, write_policy

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DAY = timedelta(hours=24)  # the taxonomy's target time to action for violent extremism
# The shipped policy: what each registered kind is due in, for a violent-extremism notice.
DUE = {
    SourceKind.LEGAL_ORDER: timedelta(hours=1),  # the terrorist-content removal-order clock
    SourceKind.LAW_ENFORCEMENT: DAY * 0.33,
    SourceKind.REGULATOR: DAY * 0.5,
    SourceKind.ADVERTISER: DAY * 1.5,
}
COARSE = {
    SourceKind.LEGAL_ORDER: Source.AUTHORITY_ORDER,
    SourceKind.LAW_ENFORCEMENT: Source.AUTHORITY_ORDER,
    SourceKind.REGULATOR: Source.AUTHORITY_ORDER,
    SourceKind.ADVERTISER: Source.USER_NOTICE,
}


def _metric(text: str, source: str) -> float:
    match = re.search(
        rf'^tns_router_routed_by_source_total\{{route="review",source="{source}"\}} (\S+)$',
        text,
        re.M,
    ) or re.search(
        rf'^tns_router_routed_by_source_total\{{source="{source}",route="review"\}} (\S+)$',
        text,
        re.M,
    )
    return float(match.group(1)) if match else 0.0


async def test_each_registered_kind_gets_its_own_deadline_and_priority_and_a_claim_gets_none(
    start: Start,  # noqa: F811
    db: AsyncEngine,
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
) -> None:
    topics = Topics(namespace)
    async with start():  # applies the migrations
        pass
    registered: dict[SourceKind, dict[str, str]] = {}
    for kind in SourceKind:
        client, _, auth = await new_key(db)
        await add_authority(
            db,
            authority_id=f"{kind.value}-{client}",
            name=f"registered {kind.value}",
            client_id=client,
            key_id=None,
            kind=kind,
        )
        registered[kind] = auth
    _, _, anyone = await new_key(db)
    body = report_body("join the attack on", category="violent_extremism")
    sent: dict[str, tuple[SourceKind, bool]] = {}  # report id: (kind sent or claimed, registered)
    async with (
        start() as intake,
        TopicWatcher(kafka.bootstrap_servers, topics.reports_received) as t,
    ):
        for kind in SourceKind:
            claim = {**body, "source": COARSE[kind].value, "source_kind": kind.value}
            for auth, is_registered in ((registered[kind], True), (anyone, False)):
                subject = {**body["subject"], "subject_id": f"msg-{uuid.uuid4().hex[:8]}"}
                r = await intake.post(
                    "/v1/reports", json={**claim, "subject": subject}, headers=auth
                )
                assert r.status_code == 202, r.text
                sent[r.json()["report_id"]] = (kind, is_registered)
        await t.wait_for(len(sent))
    reports = {str(e.payload.report_id): e.payload for e in received(t)}
    assert set(reports) == set(sent)
    for report_id, (kind, is_registered) in sent.items():
        report = reports[report_id]
        if is_registered:
            assert (report.source, report.source_kind) == (COARSE[kind], kind)
        else:
            assert (report.source, report.source_kind) == (Source.USER_NOTICE, None)

    # The router on the events as intake published them (the classifier's scores stand in).
    tag = uuid.uuid4().hex[:8]
    queue = f"extremism-{tag}"
    app = create_router(settings(kafka, postgres, namespace, write_policy(tmp_path, tag)))
    async with (
        running(app) as router,
        TopicWatcher(kafka.bootstrap_servers, topics.review(queue)) as review,
    ):
        before = (await router.get("/metrics")).text
        await produce(
            kafka,
            namespace,
            [make_classified(r, {PolicyArea.VIOLENT_EXTREMISM: 0.5}) for r in reports.values()],
        )
        await review.wait_for(len(sent))
        after = (await router.get("/metrics")).text
    tasks: dict[str, ReviewTask] = {}
    for record in review.records:
        task = ReviewTaskCreated.from_bytes(record.value).payload
        tasks[str(task.report.report_id)] = task
    assert set(tasks) == set(sent)

    for report_id, (kind, is_registered) in sent.items():
        task, report = tasks[report_id], reports[report_id]
        due = task.deadline - report.received_at
        if is_registered:
            assert task.report.source_kind is kind
            assert abs(due - DUE[kind]) < timedelta(seconds=1), (kind, due)
        else:
            # A claimed kind is dropped: an ordinary notice, due in the area's own time.
            assert (task.report.source, task.report.source_kind) == (Source.USER_NOTICE, None)
            assert due == DAY, (kind, due)
    legal_order = next(
        tasks[r] for r, (k, reg) in sent.items() if reg and k is SourceKind.LEGAL_ORDER
    )
    assert legal_order.reason == "legal clock terrorist-content-removal-order"

    def prio(kind: SourceKind) -> int:
        return next(tasks[r].priority for r, (k, reg) in sent.items() if reg and k is kind)

    notice = next(tasks[r].priority for r, (_, reg) in sent.items() if not reg)
    assert (
        prio(SourceKind.LEGAL_ORDER)
        > prio(SourceKind.LAW_ENFORCEMENT)
        > prio(SourceKind.REGULATOR)
        > notice
        > prio(SourceKind.ADVERTISER)
    )
    # The router counts routed reports by their registered kind (a bounded label).
    for kind in SourceKind:
        assert _metric(after, kind.value) - _metric(before, kind.value) == 1, kind
    assert _metric(after, "user_notice") - _metric(before, "user_notice") == len(SourceKind)


async def test_decisions_carry_the_kind_for_statements_of_reasons(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    """A reviewer's decision on a referral and an automated one on an advertiser's complaint."""
    async with desk(kafka, postgres, namespace, tmp_path, db) as d:
        referral = classified(
            PolicyArea.HARASSMENT,
            0.99,
            source=Source.AUTHORITY_ORDER,
            source_kind=SourceKind.LAW_ENFORCEMENT,
        )
        complaint = classified(
            PolicyArea.HARASSMENT,
            0.99,
            source=Source.USER_NOTICE,
            source_kind=SourceKind.ADVERTISER,
        )
        await d.route(referral, complaint)
        alice = await d.reviewer("alice", f"review:{d.queue('harassment')}")
        case = await d.claim_eventually(d.queue("harassment"), alice)
        # An authority's referral is never settled by machine, whatever the score.
        assert case["report_ids"] == [str(referral.payload.report.report_id)]
        assert case["task"]["report"]["source_kind"] == "law_enforcement"
        decided = await d.decide(case["case_id"], alice, REMOVE)
        assert decided.status_code == 200, decided.text
        await d.decisions.wait_for(2)
    by_report = {e.payload.report_id: e.payload for e in d.published()}
    human = by_report[referral.payload.report.report_id]
    automated = by_report[complaint.payload.report.report_id]
    assert (human.decided_by.value, human.source, human.source_kind) == (
        "human",
        Source.AUTHORITY_ORDER,
        SourceKind.LAW_ENFORCEMENT,
    )
    assert (automated.decided_by.value, automated.source, automated.source_kind) == (
        "automated",
        Source.USER_NOTICE,
        SourceKind.ADVERTISER,
    )
