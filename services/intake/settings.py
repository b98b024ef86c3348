from __future__ import annotations

from pydantic import Field

from shared.config import ServiceSettings


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Micro-batching of accepted reports: one transaction and one round of broker acks per batch.
    write_batch_max: int = Field(default=256, ge=1, le=5000)
    write_linger_ms: float = Field(default=2.0, ge=0, le=1000)
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
