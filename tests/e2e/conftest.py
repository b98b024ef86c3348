"""All four services as real processes against the session broker and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.devstack import DEV_KEYS, create_key
from shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

SERVICES = ("intake", "classifier", "router", "enforcement")
ROOT = Path(__file__).resolve().parents[2]


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {**env, "TNS_HTTP_PORT": str(self.port)}
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)


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
    env = {
        **os.environ,
        "TNS_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TNS_DATABASE_URL": postgres.url,
        "TNS_TOPIC_NAMESPACE": namespace,
        "TNS_CONSUMER_POLL_MS": "50",
        "TNS_LOG_JSON": "false",
    }
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
