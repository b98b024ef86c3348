"""All four services as real processes against the session broker and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from devstack.run import DEV_KEYS, create_key
from tests.harness import ServiceProcess, process_env

SERVICES = ("intake", "classifier", "router", "enforcement")


class Stack:
    def __init__(
        self,
        services: dict[str, ServiceProcess],
        keys: dict[str, str],
        namespace: str,
    ) -> None:
        self.services = services
        self.keys = keys
        self.namespace = namespace

    @property
    def api_key(self) -> str:
        """The product client's intake key."""
        return self.keys["intake"]

    def auth(self, service: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[service]}"}

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]


@pytest.fixture
def stack(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str, tmp_path: Path
) -> Iterator[Stack]:
    env = process_env(kafka, postgres, namespace)
    keys = {
        service: create_key(service, env, flag, "e2e", scopes)
        for service, _, flag, _, scopes in DEV_KEYS
    }
    services = {name: ServiceProcess(name, env, tmp_path) for name in SERVICES}
    try:
        for s in services.values():
            s.start()
        yield Stack(services, keys, namespace)
    finally:
        for s in services.values():
            s.stop()
