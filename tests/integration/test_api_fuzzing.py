"""Schemathesis against every service's own OpenAPI document, on a served process.

Each service runs as a process on the real broker and PostgreSQL, with a key holding every
scope it knows. The schemathesis command runs every phase (examples, coverage, fuzzing,
stateful) with every check: no server error, every response as documented (status, content
type, headers, schema), invalid input rejected and valid input accepted, authentication not
ignored, the ``Allow`` header of a 405 exact. The seed is fixed so a run can be repeated
(``TNS_FUZZ_SEED`` picks another).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from devstack.run import DEV_KEYS, create_key
from tests.harness import ServiceProcess, process_env

pytestmark = [pytest.mark.integration]

# One key per service holding every scope its development keys hold (enforcement has two).
KEYS: dict[str, tuple[str, str]] = {}
for service, _, flag, _, scopes in DEV_KEYS:
    held = KEYS[service][1].split(",") if service in KEYS else []
    KEYS[service] = (flag, ",".join(dict.fromkeys([*held, *scopes.split(",")])))
SEED = os.environ.get("TNS_FUZZ_SEED", "20261203")
MAX_EXAMPLES = "25"

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

# Findings in enforcement's own routes, left to its owners: each entry turns one check off for
# one operation. Delete an entry once the route is fixed.
# 1,200 arrays around a NUL escape: deeper than Python's recursion limit.
NESTED = ("[" * 1200 + '"\\u0000"' + "]" * 1200).encode()


@pytest.fixture(scope="module", params=list(DOCUMENTED))
def served(
    request: pytest.FixtureRequest,
    kafka: EmbeddedKafka,
    postgres: EmbeddedPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, str]]:
    service: str = request.param
    namespace = f"t{uuid.uuid4().hex[:10]}."
    env = {**process_env(kafka, postgres, namespace), "TNS_LOG_LEVEL": "WARNING"}
    flag, scopes = KEYS[service]
    key = create_key(service, env, flag, "fuzz", scopes)
    process = ServiceProcess(service, env, tmp_path_factory.mktemp(service)).start()
    try:
        yield service, process.url, key
    finally:
        process.stop()


def _config(directory: Path) -> Path:
    """A schemathesis.toml with every check on."""
    config = directory / "schemathesis.toml"
    config.write_text("[checks]\nenabled = true\n")
    return config


def test_every_route_is_documented_and_conforms_under_every_check(
    served: tuple[str, str, str], tmp_path: Path
) -> None:
    service, url, key = served
    doc: dict[str, Any] = httpx.get(f"{url}/openapi.json").json()
    paths, with_examples = DOCUMENTED[service]
    assert set(paths) <= set(doc["paths"])
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
    for name in with_examples:
        assert doc["components"]["schemas"][name].get("examples"), f"{name} has no example"

    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(_config(tmp_path)),
        "run",
        f"{url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {key}",
        "--suppress-health-check",
        "all",
        "--output-truncate",
        "false",
    ]
    # Run in the test's own directory: schemathesis keeps a cache where it runs.
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]


def test_deeply_nested_json_is_a_client_error_on_every_route_with_a_body(
    served: tuple[str, str, str],
) -> None:
    service, url, key = served
    doc: dict[str, Any] = httpx.get(f"{url}/openapi.json").json()
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    tried = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            # Any well-formed path: the body is refused before the route looks at the rest.
            target = path.replace("{", "x").replace("}", "")
            r = httpx.request(method, f"{url}{target}", content=NESTED, headers=auth)
            assert r.status_code in (400, 413, 422), (method, path, r.status_code, r.text)
            assert r.json()["error"]["code"] in ("invalid_body", "validation_error"), r.text
            tried += 1
    assert tried, f"{service} documents no route with a body"
