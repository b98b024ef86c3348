"""``make report``'s command renders the operations report from the live database."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.enforcement.app import MIGRATIONS as ENFORCEMENT
from services.intake.app import MIGRATIONS as INTAKE
from shared.db import migrate
from shared.events import utcnow
from shared.taxonomy import PolicyArea
from tests.integration.test_review_api import REMOVE, desk
from tests.integration.test_router_routing import classified

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

ROOT = Path(__file__).resolve().parents[2]


async def test_report_renders_charts_and_tables_from_the_database(
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
    db: AsyncEngine,
) -> None:
    for migrations, schema in ((INTAKE, "intake"), (ENFORCEMENT, "enforcement")):
        await asyncio.to_thread(migrate, migrations, postgres.url, schema)
    policy = {"qa": {"human_share": 1.0, "automated_share": 0.0}}
    since = utcnow() - timedelta(hours=2)
    async with desk(kafka, postgres, namespace, tmp_path, db, policy=policy) as d:
        late = classified(PolicyArea.HARASSMENT, 0.6, received_at=utcnow() - timedelta(hours=30))
        await d.route(late, classified(PolicyArea.HARASSMENT, 0.6))
        queue, qa_queue = d.queue("harassment"), d.queue("qa")
        alice = await d.reviewer("alice", f"review:{queue}")
        auditor = await d.reviewer("auditor", f"review:{qa_queue}")
        for _ in range(2):
            case = (await d.claim(queue, alice)).json()
            assert (await d.decide(case["case_id"], alice, REMOVE)).status_code == 200
        for _ in range(2):
            sample = (await d.claim(qa_queue, auditor)).json()
            assert (await d.decide(sample["case_id"], auditor, REMOVE)).status_code == 200
        ops = await d.reviewer("ops", "kpi:read")
        served = await d.api.get("/v1/report", params={"since": since.isoformat()}, headers=ops)
        backwards = await d.api.get(
            "/v1/report",
            params={"since": utcnow().isoformat(), "until": since.isoformat()},
            headers=ops,
        )
        too_long = await d.api.get(
            "/v1/report", params={"since": "0357-07-06T04:42:28Z"}, headers=ops
        )
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/html")
    assert served.text.count("<svg") == 5
    assert f"<td>{queue}</td>" in served.text
    # A backwards period is an empty report, a longer one its last 92 days: both said on the page.
    assert backwards.status_code == 200 and "The period is empty" in backwards.text
    assert backwards.text.count("<svg") == 0
    assert too_long.status_code == 200 and "the last 92 days of the period" in too_long.text
    assert too_long.text.count("<svg") == 5
    until = utcnow() + timedelta(minutes=1)
    out = tmp_path / "report.html"
    args = ["--since", since.isoformat(), "--until", until.isoformat(), "--out", str(out)]
    env = {**os.environ, "TNS_DATABASE_URL": postgres.url}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "opsreport", *args, "--incident"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert html.startswith("<!doctype html>")
    assert html.count("<svg") == 6
    for title in (
        "Reports by time from receipt to decision",
        "SLA attainment per day",
        "Cases per hour and backlog",
        "Reviewers needed",
        "QA accuracy and Cohen&#x27;s kappa per queue",
        "Precision of automated actions",
        "Cases due in the window that missed their deadline",
    ):
        assert title in html
    # The QA table: this queue's two pairs, both agreed (accuracy 1, kappa 1 on one label).
    row = re.search(
        rf"<tr><td>{re.escape(queue)}</td><td>2</td><td>(\S+?)</td><td>(\S+?)</td>", html
    )
    assert row is not None and row.groups() == ("1", "1")
    bad = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "opsreport",
            "--since",
            until.isoformat(),
            "--until",
            since.isoformat(),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "--until must be after --since" in bad.stderr
