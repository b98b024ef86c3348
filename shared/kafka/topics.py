"""Topic names, namespaced so tests and tenants can share a broker."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events import (
    ActionConfirmed,
    ActionIssued,
    AppealLodged,
    DecisionMade,
    Event,
    ReportClassified,
    ReportReceived,
    ReportRouted,
    ReviewTaskCreated,
    UserNotified,
)

QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic name the pipeline uses, with the namespace applied."""

    namespace: str = ""

    def name(self, base: str) -> str:
        return f"{self.namespace}{base}"

    @property
    def reports_received(self) -> str:
        return self.name(ReportReceived.TOPIC)

    @property
    def reports_classified(self) -> str:
        return self.name(ReportClassified.TOPIC)

    @property
    def reports_routed(self) -> str:
        return self.name(ReportRouted.TOPIC)

    @property
    def action_confirmations(self) -> str:
        return self.name(ActionConfirmed.TOPIC)

    @property
    def notifications(self) -> str:
        return self.name(UserNotified.TOPIC)

    @property
    def appeals(self) -> str:
        return self.name(AppealLodged.TOPIC)

    @property
    def decisions(self) -> str:
        return self.name(DecisionMade.TOPIC)

    @property
    def actions(self) -> str:
        return self.name(ActionIssued.TOPIC)

    def review(self, queue: str) -> str:
        if not QUEUE_NAME.match(queue):
            raise ValueError(f"invalid queue name {queue!r}")
        return self.name(ReviewTaskCreated.TOPIC.format(queue=queue))

    def dlq(self, service: str) -> str:
        return self.name(f"tns.dlq.{service}.v1")

    def for_event(self, event: Event) -> str:
        """The topic an event is published on."""
        if isinstance(event, ReviewTaskCreated):
            return self.review(event.payload.queue)
        return self.name(event.TOPIC)


async def ensure_topics(bootstrap_servers: str, names: list[str], partitions: int) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            # Another replica may create one between our list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing]
                )
    finally:
        await admin.close()
