from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.config import ServiceSettings

DEFAULT_POLICY = Path(__file__).with_name("policies") / "default.yaml"


class RouterSettings(ServiceSettings):
    service_name: str = "router"
    http_port: int = 8003
    policy_path: Path = DEFAULT_POLICY
    # Candidate policies judged on the live traffic without acting (JSON list in the environment).
    shadow_policy_paths: list[Path] = Field(default_factory=list)
    # How long a claimed case stays with a reviewer who goes silent.
    lease_seconds: float = Field(default=900.0, gt=0, le=86400)
    # How often per-queue gauges are recomputed from the database.
    queue_metrics_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Handle time assumed for a queue's breach projection until reviewers' handle time is measured.
    default_handle_seconds: float = Field(default=600.0, gt=0, le=86400)
