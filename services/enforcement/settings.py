from __future__ import annotations

from shared.config import ServiceSettings


class EnforcementSettings(ServiceSettings):
    service_name: str = "enforcement"
    http_port: int = 8004
