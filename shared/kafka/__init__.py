"""Kafka I/O: topic names, the one producer (its two strategies) and the one consumer loop."""

from shared.kafka.consumer import ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer, OutgoingRecord, Publication
from shared.kafka.topics import Topics

__all__ = [
    "ConsumerLoop",
    "EventProducer",
    "HandlerContext",
    "OutgoingRecord",
    "Publication",
    "Topics",
]
