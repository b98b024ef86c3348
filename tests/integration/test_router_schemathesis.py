"""Schemathesis against the router's review API, on a served process (real broker and DB).

Every documented operation is fuzzed with generated and example inputs: no response may be a
server error, and every response must match the status codes and schemas the document declares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

pytestmark = [pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def served(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    env = {
        **os.environ,
        "TNS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TNS_DATABASE_URL": postgres.url,
        "TNS_TOPIC_NAMESPACE": namespace,
        "TNS_LOG_JSON": "false",
        "TNS_LOG_LEVEL": "WARNING",
        "TNS_HTTP_PORT": str(free_port()),
    }
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.router",
            "keys",
            "create",
            "--reviewer",
            "fuzz",
            "--scopes",
            "review:*,ops:read",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    key = json.loads(created.stdout.strip().splitlines()[-1])["key"]
    log = (tmp_path / "router.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.router", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{env['TNS_HTTP_PORT']}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "router.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "router did not become ready"
            time.sleep(0.2)
        yield url, key
    finally:
        proc.terminate()
        proc.wait(30)


def test_openapi_documents_the_review_routes(served: tuple[str, str]) -> None:
    url, _ = served
    doc = httpx.get(f"{url}/openapi.json").json()
    for path in (
        "/v1/queues/{queue}/claim",
        "/v1/cases/{case_id}",
        "/v1/cases/{case_id}/decision",
        "/v1/cases/{case_id}/confirmation",
        "/v1/cases/{case_id}/escalate",
        "/v1/cases/{case_id}/release",
        "/v1/cases/{case_id}/notes",
    ):
        assert path in doc["paths"]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    served: tuple[str, str],
) -> None:
    url, key = served
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    auth = {"Authorization": f"Bearer {key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: Case) -> None:
            case.call_and_validate(base_url=url, headers=auth, checks=CHECKS)

        check()
