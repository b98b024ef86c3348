"""Kafka I/O: topic names, the event producer and the one consumer loop."""

from shared.kafka.consumer import ConsumerLoop, HandlerContext
from shared.kafka.producer import EventProducer
from shared.kafka.topics import Topics

__all__ = ["ConsumerLoop", "EventProducer", "HandlerContext", "Topics"]
