"""Typed settings shared by every service, read from ``TNS_*`` environment variables."""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings every service has. Each service subclasses it with its own fields."""

    model_config = SettingsConfigDict(env_prefix="TNS_", extra="ignore", frozen=True)

    service_name: str = "tns"
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    # Apache Kafka supports the idempotent producer; the embedded Tansu broker does not.
    kafka_enable_idempotence: bool = False
    kafka_client_id: str | None = None
    # How long the producer lets a batch fill before sending it. Every publisher hands the
    # producer whole record batches (``Publication``) and intake's writer batches too, so a wait
    # only adds latency to every hop.
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    # Prefixes every topic name so tests and tenants can share one broker.
    topic_namespace: str = ""
    topic_partitions: int = Field(default=3, ge=1, le=1024)
    consumer_group: str | None = None
    consumer_batch_max: int = Field(default=500, ge=1, le=10_000)
    consumer_poll_ms: int = Field(default=200, ge=1, le=60_000)
    # How long the broker may hold a fetch that finds nothing new. Tansu answers such a fetch
    # when this wait is over, not when a message arrives, so a message that finds its consumer
    # caught up waits for it at every hop: with the client's default (500 ms) a bare produce ->
    # consume round trip took 200 ms, with 10 ms it takes 4 ms (measured). The cost is polling:
    # an idle consumer asks 1,000 / wait times a second (at 10 ms: about 6 % of a core in the
    # consumer and 5 % in the broker). Consumers on the path of a report use this wait; the
    # others (history, appeals, confirmations, status) the background one.
    consumer_fetch_wait_ms: int = Field(default=10, ge=0, le=10_000)
    consumer_background_fetch_wait_ms: int = Field(default=250, ge=0, le=10_000)
    # How long a silent member stays in its group. A SIGKILLed instance's partitions wait for it
    # to expire: on Tansu a restarted member got its partitions back after about 1.5 times this
    # plus 2 s (measured: 10 s -> 18 s, 6 s -> 11 s, 3 s -> 7 s). Heartbeats go every second.
    consumer_session_timeout_ms: int = Field(default=6_000, ge=3_000, le=300_000)
    # This process's name in its consumer groups (static membership, KIP-345), or unset for
    # dynamic membership. On Apache Kafka a member that restarts under the same name takes its
    # partitions back without a rebalance, instead of waiting for its old self's session to
    # expire. It must be unique among the instances running at once and the same across a
    # restart of one: in Kubernetes the pod name, which a restarted container keeps. Each
    # consumer loop appends its own name. Tansu (the embedded broker) holds every join and sync
    # of a static member for 3 s each, so there it costs more than it saves.
    kafka_group_instance_id: str | None = Field(default=None, min_length=1, max_length=200)
    handler_max_retries: int = Field(default=5, ge=0, le=100)
    handler_backoff_initial_s: float = Field(default=0.2, gt=0, le=60)
    handler_backoff_max_s: float = Field(default=10.0, gt=0, le=600)
    database_url: str = "postgresql+asyncpg://postgres@/postgres?host=.devstack/pg"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_echo: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    migrate_on_start: bool = True

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg://")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _hosts_with_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return value

    @property
    def group_id(self) -> str:
        """The consumer group: explicit, else one per service and namespace."""
        return self.consumer_group or f"{self.topic_namespace}tns-{self.service_name}"


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment, or stop the process naming the bad setting."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        lines = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]).upper()
            lines.append(f"  {prefix}{name}: {error['msg']}")
        sys.stderr.write("invalid settings:\n" + "\n".join(lines) + "\n")
        raise SystemExit(2) from None
