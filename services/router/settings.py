from __future__ import annotations

from pathlib import Path

from shared.config import ServiceSettings

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.yaml"


class RouterSettings(ServiceSettings):
    service_name: str = "router"
    http_port: int = 8003
    policy_path: Path = DEFAULT_POLICY
