"""Intake's settings (``TNS_*``), on top of the ones every service has."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared.config import ServiceSettings

DEFAULT_MAPPINGS = Path(__file__).with_name("mappings")


class IntakeSettings(ServiceSettings):
    service_name: str = "intake"
    http_port: int = 8001
    # The writer gathers each batch itself; waiting again in the producer only adds latency.
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Micro-batching of accepted reports: one transaction and one round of broker acks per batch.
    write_batch_max: int = Field(default=256, ge=1, le=5000)
    # The linger is short: batches also grow on their own while earlier ones are in flight.
    write_linger_ms: float = Field(default=0.5, ge=0, le=1000)
    # Batches written at once, each on its own database connection (keep under the pool size).
    write_in_flight: int = Field(default=4, ge=1, le=64)
    api_key_cache_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Client reason codes -> policy areas: a folder of YAML files, read and checked at start-up.
    mappings_dir: Path = DEFAULT_MAPPINGS
    # Inline media copies are for small evidence only; larger files are sent as hashes or a URI.
    media_inline_max_bytes: int = Field(default=64 * 1024, ge=0, le=16 * 1024 * 1024)
    batch_max_items: int = Field(default=200, ge=1, le=500)
    # Token bucket per client id and replica: sustained reports per second, and the burst allowed.
    rate_limit_per_second: float = Field(default=2000.0, gt=0, le=1_000_000)
    rate_limit_burst: int = Field(default=4000, ge=1, le=10_000_000)
    # Trusted-flagger registry and reporter standing are cached; changes apply within this time.
    registry_refresh_seconds: float = Field(default=10.0, ge=0, le=3600)
    # Misuse (DSA Art. 23): over the threshold in the window, first a warning, then a hold.
    misuse_window_days: int = Field(default=90, ge=1, le=3650)
    misuse_min_unfounded: int = Field(default=5, ge=1, le=100_000)
    misuse_unfounded_share: float = Field(default=0.5, ge=0.0, le=1.0)
    misuse_hold_hours: float = Field(default=168.0, gt=0, le=24 * 365)
    # How long after a decision the reporter may appeal it (DSA Art. 20: at least six months).
    appeal_window_days: int = Field(default=183, ge=183, le=3650)
