"""The router on the real broker and database: routes, cases, shadow policies, circuit breaker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.router.app import create_app
from services.router.models import api_keys
from services.router.settings import DEFAULT_POLICY, RouterSettings
from shared.apikeys import create_key
from shared.events import (
    DecisionMade,
    ReportClassified,
    ReportRouted,
    ReviewTaskCreated,
    Source,
)
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea
from tests.factories import make_classified, make_report
from tests.harness import TopicWatcher, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SCHEMA_FILE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "events"
    / "schemas"
    / "ReviewTaskCreated.v1.schema.json"
)


def write_policy(tmp_path: Path, tag: str, **sections: dict[str, Any]) -> Path:
    """The shipped policy with queues unique to this test, and sections overridden."""
    data = yaml.safe_load(DEFAULT_POLICY.read_text())
    data["version"] = f"live-{tag}"
    data["defaults"]["queue"] = f"general-{tag}"
    for rule in data["areas"].values():
        if "queue" in rule:
            rule["queue"] = f"{rule['queue']}-{tag}"
    data["qa"]["queue"] = f"qa-{tag}"
    data["appeals"]["queue"] = f"appeals-{tag}"
    for name, section in sections.items():
        if isinstance(data.get(name), dict):
            data[name] = {**data[name], **section}
        else:
            data[name] = section
    path = tmp_path / f"policy-{tag}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def settings(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, policy: Path, **extra: Any
) -> RouterSettings:
    return RouterSettings(**service_env(kafka, postgres, namespace), policy_path=policy, **extra)


async def produce(kafka: EmbeddedKafka, namespace: str, events: list[ReportClassified]) -> None:
    topic = Topics(namespace).reports_classified
    await produce_raw(kafka.bootstrap_servers, topic, [(e.key(), e.to_bytes()) for e in events])


def classified(area: PolicyArea, score: float, **report: Any) -> ReportClassified:
    r = make_report(policy_area=area, **report)
    return make_classified(r, {area: score})


def routed(watcher: TopicWatcher) -> dict[uuid.UUID, ReportRouted]:
    events = [ReportRouted.from_bytes(r.value) for r in watcher.records if r.value]
    return {e.payload.report_id: e for e in events}


async def test_s0_report_is_never_closed_automatically(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, tmp_path: Path
) -> None:
    topics = Topics(namespace)
    tag = uuid.uuid4().hex[:8]
    s0 = [classified(PolicyArea.CHILD_SAFETY, score) for score in (0.0, 0.5, 0.999)]
    # Models calling a child-safety report spam keep it in child safety.
    misread = make_report(policy_area=PolicyArea.CHILD_SAFETY)
    s0.append(make_classified(misread, {PolicyArea.SPAM: 0.99}))
    control = classified(PolicyArea.HARASSMENT, 0.99)
    app = create_app(settings(kafka, postgres, namespace, write_policy(tmp_path, tag)))
    async with (
        running(app),
        TopicWatcher(kafka.bootstrap_servers, topics.reports_routed) as routes,
        TopicWatcher(kafka.bootstrap_servers, topics.decisions) as decisions,
    ):
        await produce(kafka, namespace, [*s0, control])
        await routes.wait_for(5)
        await decisions.wait_for(1)
    by_report = routed(routes)
    for e in s0:
        r = by_report[e.payload.report.report_id].payload
        assert r.route.value == "review"
        assert r.queue == f"child-safety-{tag}"
        assert r.case_id is not None
    decided = [DecisionMade.from_bytes(r.value).payload.report_id for r in decisions.records]
    assert decided == [control.payload.report.report_id]


async def test_two_reports_about_one_subject_become_one_case(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    topics = Topics(namespace)
    tag = uuid.uuid4().hex[:8]
    subject = f"msg-{uuid.uuid4().hex[:8]}"
    first = classified(PolicyArea.HARASSMENT, 0.6, subject_id=subject)
    second = classified(PolicyArea.HARASSMENT, 0.7, subject_id=subject, reporter_id="r-2")
    app = create_app(settings(kafka, postgres, namespace, write_policy(tmp_path, tag)))
    queue = f"harassment-{tag}"
    async with (
        running(app),
        TopicWatcher(kafka.bootstrap_servers, topics.reports_routed) as routes,
        TopicWatcher(kafka.bootstrap_servers, topics.review(queue)) as tasks,
    ):
        await produce(kafka, namespace, [first])
        await routes.wait_for(1)
        await produce(kafka, namespace, [second])
        await routes.wait_for(2)
        await tasks.wait_for(2)
    by_report = routed(routes)
    case_ids = {by_report[e.payload.report.report_id].payload.case_id for e in (first, second)}
    assert len(case_ids) == 1 and None not in case_ids
    published = [ReviewTaskCreated.from_bytes(r.value).payload for r in tasks.records]
    assert {t.task_id for t in published} == {published[0].task_id}, "one task per case"
    latest = published[-1]
    assert latest.report_ids == [first.payload.report.report_id, second.payload.report.report_id]
    assert [r.report_id for r in latest.reports] == [first.payload.report.report_id]
    assert latest.priority > published[0].priority, "a later report raises the priority"
    async with db.connect() as conn:
        open_cases = await conn.scalar(
            text("SELECT count(*) FROM router.cases WHERE subject_id = :s"), {"s": subject}
        )
    assert open_cases == 1


async def test_shadow_policy_decisions_are_recorded_without_effect(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    topics = Topics(namespace)
    tag = uuid.uuid4().hex[:8]
    live = write_policy(tmp_path, tag)
    shadow_data = yaml.safe_load(live.read_text())
    shadow_data["version"] = f"shadow-{tag}"
    shadow_data["areas"]["harassment"]["auto_action_at"] = 0.5  # would act on 0.6
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(yaml.safe_dump(shadow_data))
    borderline = classified(PolicyArea.HARASSMENT, 0.6)
    control = classified(PolicyArea.HARASSMENT, 0.99)
    app = create_app(settings(kafka, postgres, namespace, live, shadow_policy_paths=[shadow]))
    async with (
        running(app) as api,
        TopicWatcher(kafka.bootstrap_servers, topics.reports_routed) as routes,
        TopicWatcher(kafka.bootstrap_servers, topics.decisions) as decisions,
    ):
        await produce(kafka, namespace, [borderline, control])
        await routes.wait_for(2)
        await decisions.wait_for(1)
        _, key = await create_key(db, api_keys, client_id=f"ops-{tag}", scopes=["ops:read"])
        agreement = await api.get(
            "/v1/shadow/agreement", headers={"Authorization": f"Bearer {key}"}
        )
    assert routed(routes)[borderline.payload.report.report_id].payload.route.value == "review"
    decided = [DecisionMade.from_bytes(r.value).payload.report_id for r in decisions.records]
    assert decided == [control.payload.report.report_id], "the shadow policy never acts"
    async with db.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT report_id, live_outcome, shadow_outcome FROM router.shadow_outcomes "
                    "WHERE shadow_version = :v"
                ),
                {"v": f"shadow-{tag}"},
            )
        ).all()
    outcomes = {r.report_id: (r.live_outcome, r.shadow_outcome) for r in rows}
    assert outcomes == {
        borderline.payload.report.report_id: ("review", "action"),
        control.payload.report.report_id: ("action", "action"),
    }
    assert agreement.status_code == 200
    [mine] = [a for a in agreement.json() if a["shadow_version"] == f"shadow-{tag}"]
    assert (mine["judged"], mine["agreed"], mine["agreement"]) == (2, 1, 0.5)


async def test_circuit_breaker_trips_on_a_burst_of_automated_actions(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    topics = Topics(namespace)
    tag = uuid.uuid4().hex[:8]
    policy = write_policy(
        tmp_path,
        tag,
        circuit_breaker={
            "window_seconds": 3600,
            "warmup_windows": 0,
            "min_count": 5,
            "factor": 3.0,
            "cooldown_seconds": 3600,
        },
    )
    burst = [classified(PolicyArea.HARASSMENT, 0.99) for _ in range(12)]
    app = create_app(settings(kafka, postgres, namespace, policy))
    async with (
        running(app) as api,
        TopicWatcher(kafka.bootstrap_servers, topics.reports_routed) as routes,
        TopicWatcher(kafka.bootstrap_servers, topics.decisions) as decisions,
    ):
        await produce(kafka, namespace, burst)
        await routes.wait_for(12)
        await decisions.wait_for(4)
        metrics = (await api.get("/metrics")).text
    kinds = [e.payload.route.value for e in routed(routes).values()]
    assert kinds.count("automated_action") == 4
    assert kinds.count("review") == 8
    assert len(decisions.records) == 4
    async with db.connect() as conn:
        reasons = (
            await conn.scalars(
                text(
                    "SELECT DISTINCT reason FROM router.routings WHERE outcome = 'review' "
                    "AND report_id = ANY(:ids)"
                ),
                {"ids": [e.payload.report.report_id for e in burst]},
            )
        ).all()
    assert reasons == ["circuit breaker"]
    assert 'tns_router_circuit_open{policy_area="harassment"} 1.0' in metrics


async def test_review_task_is_read_by_kcat_and_matches_the_committed_schema(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, tmp_path: Path
) -> None:
    kcat = shutil.which("kcat")
    if kcat is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kcat is required in CI (Debian package kcat)")
        pytest.skip("kcat (Debian package kcat) is not installed")
    topics = Topics(namespace)
    tag = uuid.uuid4().hex[:8]
    queue = f"hate-{tag}"
    report = classified(PolicyArea.HATE_SPEECH, 0.5, source=Source.USER_NOTICE, reach=5000)
    app = create_app(settings(kafka, postgres, namespace, write_policy(tmp_path, tag)))
    async with (
        running(app),
        TopicWatcher(kafka.bootstrap_servers, topics.review(queue)) as tasks,
    ):
        await produce(kafka, namespace, [report])
        [record] = await tasks.wait_for(1)
        # librdkafka 2.0 cannot parse the embedded broker's ApiVersions v3 answer, so kcat is
        # pinned to the 0.9 protocol set, which has no offset lookup: it reads the message at
        # its partition and offset. Against Apache Kafka, `kcat -C -t <topic>` works as is.
        result = subprocess.run(
            [
                kcat,
                "-C",
                "-b",
                kafka.bootstrap_servers,
                "-X",
                "api.version.request=false",
                "-X",
                "broker.version.fallback=0.9.0",
                "-t",
                topics.review(queue),
                "-p",
                str(record.partition),
                "-o",
                str(record.offset),
                "-c",
                "1",
                "-q",
                "-f",
                "%s\n",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout.strip().splitlines()[0])
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator(schema).validate(message)
    assert message["payload"]["queue"] == queue
    assert message["payload"]["report"]["report_id"] == str(report.payload.report.report_id)
    assert message["payload"]["case_id"]
