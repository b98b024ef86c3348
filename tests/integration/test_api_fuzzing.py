"""Schemathesis against every service's own OpenAPI document, on a served process.

Each service runs as a process on the real broker and PostgreSQL, with a key holding every
scope it knows. Every documented operation is fuzzed with its examples and generated inputs: no
response may be a server error, and every response must match the status codes, content types
and schemas the document declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from devstack.run import DEV_KEYS, create_key
from tests.harness import ServiceProcess, process_env

pytestmark = [pytest.mark.integration]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
KEYS = {service: (flag, scopes) for service, _, flag, _, scopes in DEV_KEYS}

# What each service must document: its routes, and the models that must carry examples.
DOCUMENTED: dict[str, tuple[list[str], list[str]]] = {
    "intake": (
        ["/v1/reports", "/v1/reports:batch", "/v1/reports/{report_id}", "/v1/misuse/summary"],
        ["ReportCreate", "ReportAccepted", "ReportRead", "BatchCreate", "BatchResult"],
    ),
    "classifier": (["/v1/banks", "/v1/banks/{name}", "/v1/banks/{name}/hashes"], []),
    "router": (
        [
            "/v1/queues/{queue}/claim",
            "/v1/cases/{case_id}",
            "/v1/cases/{case_id}/decision",
            "/v1/cases/{case_id}/confirmation",
            "/v1/cases/{case_id}/escalate",
            "/v1/cases/{case_id}/release",
            "/v1/cases/{case_id}/notes",
        ],
        [],
    ),
    "enforcement": (
        [
            "/v1/subjects/{subject_id}/actions",
            "/v1/actions/{action_id}/confirmations",
            "/v1/appeals",
            "/v1/audit",
            "/v1/audit/verify",
        ],
        [],
    ),
}


@pytest.fixture(params=list(DOCUMENTED))
def served(
    request: pytest.FixtureRequest,
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    namespace: str,
    tmp_path: Path,
) -> Iterator[tuple[str, str, str]]:
    service: str = request.param
    env = {**process_env(kafka, postgres, namespace), "TNS_LOG_LEVEL": "WARNING"}
    flag, scopes = KEYS[service]
    key = create_key(service, env, flag, "fuzz", scopes)
    process = ServiceProcess(service, env, tmp_path).start()
    try:
        yield service, process.url, key
    finally:
        process.stop()


def test_every_route_is_documented_and_survives_fuzzing(served: tuple[str, str, str]) -> None:
    service, url, key = served
    doc: dict[str, Any] = httpx.get(f"{url}/openapi.json").json()
    paths, with_examples = DOCUMENTED[service]
    assert set(paths) <= set(doc["paths"])
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
    for name in with_examples:
        assert doc["components"]["schemas"][name].get("examples"), f"{name} has no example"

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    auth = {"Authorization": f"Bearer {key}"}
    for result in schema.get_all_operations():
        operation = result.ok()

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
