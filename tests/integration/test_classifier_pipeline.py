"""The classifier running on the real broker and PostgreSQL: scores, signals, versions, context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.classifier.app import create_app
from services.classifier.models import reporter_stats
from services.classifier.settings import ClassifierSettings
from services.classifier.training import Row, export_labels, read_rows
from shared.events import ActionType, Classification, ReportClassified, Source
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea
from tests.factories import make_decision, make_received, make_report
from tests.harness import TopicWatcher, eventually, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def classifier(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ClassifierSettings(**service_env(kafka, postgres, namespace))
    async with running(create_app(settings)) as client:
        yield client


async def _classify(
    kafka: EmbeddedKafka, namespace: str, reports: list[object]
) -> dict[uuid.UUID, Classification]:
    topics = Topics(namespace)
    events = [make_received(r) for r in reports]  # type: ignore[arg-type]
    async with TopicWatcher(kafka.bootstrap_servers, topics.reports_classified) as out:
        await produce_raw(
            kafka.bootstrap_servers,
            topics.reports_received,
            [(e.key(), e.to_bytes()) for e in events],
        )
        wanted = {e.payload.report_id for e in events}

        async def all_there() -> dict[uuid.UUID, Classification] | None:
            got = {
                c.payload.report.report_id: c.payload.classification
                for c in (ReportClassified.from_bytes(r.value) for r in out.records)
            }
            return got if wanted <= set(got) else None

        return await eventually(all_there, timeout=60)


async def test_reports_come_out_classified_with_scores_signals_weights_and_versions(
    classifier: httpx.AsyncClient, kafka: EmbeddedKafka, namespace: str
) -> None:
    abusive = make_report("you are a w0rthless 1d10t, go die")
    phishing = make_report(
        "your account will be suspended, verify your account at http://paypa1-login.com/verify",
        policy_area=PolicyArea.SCAMS_FRAUD,
    )
    benign = make_report("lovely photo of the lake, where was this taken?")
    got = await _classify(kafka, namespace, [abusive, phishing, benign])

    a = got[abusive.report_id]
    assert a.top_policy_area is PolicyArea.HARASSMENT and a.top_score >= 0.9
    names = {s.name for s in a.signals}
    assert {"model:profanity", "rule:harassment.insults", "rule:harassment.go_die"} <= names
    assert all(s.weight > 0 for s in a.signals)

    p = got[phishing.report_id]
    assert p.top_policy_area is PolicyArea.SCAMS_FRAUD and p.top_score >= 0.9
    assert {"url:brand_lookalike", "rule:scams_fraud.account_verification"} <= {
        s.name for s in p.signals
    }

    b = got[benign.report_id]
    # Only the text models' low probabilities, kept so that scores keep their ranking.
    assert {s.name for s in b.signals} <= {"model:spam", "model:profanity"}
    assert all(s.score < 0.2 for s in b.signals) and b.top_score < 0.2

    for c in got.values():
        assert {
            "rules",
            "model:profanity",
            "model:spam",
            "urls",
            "hashes",
            "context",
            "calibration",
        } <= set(c.versions)
        assert c.versions["calibration"].startswith("cal-")
        assert c.missing_signals == []
        assert c.context.reporter_reputation == 0.5  # a reporter with no history is neutral


async def test_context_counts_distinct_reporters_and_learns_from_decisions(
    classifier: httpx.AsyncClient, kafka: EmbeddedKafka, namespace: str, db: AsyncEngine
) -> None:
    subject = f"msg-{uuid.uuid4().hex[:8]}"
    reporter = f"rep-{uuid.uuid4().hex[:8]}"
    text = "shut up you pathetic loser"
    first = make_report(text, subject_id=subject, reporter_id=reporter)
    second = make_report(text, subject_id=subject, reporter_id=f"other-{reporter}")
    got = await _classify(kafka, namespace, [first])
    assert got[first.report_id].context.distinct_reporters == 1
    got = await _classify(kafka, namespace, [second])
    assert got[second.report_id].context.distinct_reporters == 2

    # A reviewer actions the first report: the reporter gains reputation, the subject history.
    decision = make_decision(subject_id=subject, report_id=first.report_id)
    await produce_raw(
        kafka.bootstrap_servers,
        Topics(namespace).decisions,
        [(decision.key(), decision.to_bytes())],
    )

    async def stats() -> tuple[int, int] | None:
        async with db.connect() as conn:
            row = (
                await conn.execute(
                    select(reporter_stats.c.notices, reporter_stats.c.actioned).where(
                        reporter_stats.c.reporter_id == reporter
                    )
                )
            ).first()
        return (row.notices, row.actioned) if row else None

    assert await eventually(stats, timeout=60) == (1, 1)

    third = make_report(
        text, subject_id=subject, reporter_id=reporter, source=Source.TRUSTED_FLAGGER
    )
    c = (await _classify(kafka, namespace, [third]))[third.report_id]
    assert c.context.reporter_notices == 1
    assert c.context.reporter_reputation > 0.5
    assert c.context.trusted_flagger is True
    assert c.context.distinct_reporters == 2
    assert [p.action for p in c.context.prior_actions] == [ActionType.REMOVE_CONTENT]
    context_signal = next(s for s in c.signals if s.name == "context")
    assert context_signal.weight > 1
    baseline = got[second.report_id]
    assert c.scores[PolicyArea.HARASSMENT] >= baseline.scores[PolicyArea.HARASSMENT]


async def test_reviewer_decisions_export_as_a_labelled_csv(
    classifier: httpx.AsyncClient,
    kafka: EmbeddedKafka,
    namespace: str,
    db: AsyncEngine,
    tmp_path: Path,
) -> None:
    marker = uuid.uuid4().hex[:8]
    actioned = make_report(f"you are a pathetic loser {marker}")
    dismissed = make_report(f"I disagree with your review {marker}")
    await _classify(kafka, namespace, [actioned, dismissed])
    decisions = [
        make_decision(subject_id=actioned.subject.subject_id, report_id=actioned.report_id),
        make_decision(
            subject_id=dismissed.subject.subject_id, report_id=dismissed.report_id, action=None
        ),
    ]
    await produce_raw(
        kafka.bootstrap_servers,
        Topics(namespace).decisions,
        [(d.key(), d.to_bytes()) for d in decisions],
    )
    out = tmp_path / "labels.csv"

    async def exported() -> list[Row] | None:
        await export_labels(db, out)
        rows = [r for r in read_rows(out) if marker in r.text]
        return rows if len(rows) == 2 else None

    rows = await eventually(exported, timeout=60, interval=0.5)
    assert {r.text: r.label for r in rows} == {
        f"you are a pathetic loser {marker}": "harassment",
        f"I disagree with your review {marker}": "none",
    }


async def test_a_report_without_text_is_still_scored_on_its_reported_area(
    classifier: httpx.AsyncClient, kafka: EmbeddedKafka, namespace: str
) -> None:
    r = make_report("", policy_area=PolicyArea.PRIVACY)
    c = (await _classify(kafka, namespace, [r]))[r.report_id]
    assert c.scores == {PolicyArea.PRIVACY: 0.0}
    assert c.top_policy_area is PolicyArea.PRIVACY
