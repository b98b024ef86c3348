"""Prometheus metrics shared by every service. Labels hold bounded values only, never ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tns_http_requests_total", "HTTP requests served.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tns_http_request_seconds",
    "HTTP request latency.",
    ["service", "method", "route"],
    buckets=_LATENCY_BUCKETS,
)
MESSAGES_CONSUMED = Counter(
    "tns_messages_consumed_total", "Messages read from a topic.", ["service", "topic"]
)
MESSAGES_PRODUCED = Counter(
    "tns_messages_produced_total", "Messages acknowledged by the broker.", ["service", "topic"]
)
DEAD_LETTERS = Counter(
    "tns_dead_letters_total",
    "Messages sent to the dead-letter topic.",
    ["service", "topic", "reason"],
)
DUPLICATES_SKIPPED = Counter(
    "tns_duplicate_events_total", "Replayed events skipped as already processed.", ["service"]
)
HANDLER_LATENCY = Histogram(
    "tns_handler_seconds",
    "Time to handle one batch, including its transaction and produced events.",
    ["service", "handler"],
    buckets=_LATENCY_BUCKETS,
)
HANDLER_BATCH_SIZE = Histogram(
    "tns_handler_batch_size",
    "Messages in one handled batch.",
    ["service", "handler"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
)
HANDLER_RETRIES = Counter(
    "tns_handler_retries_total", "Batches retried after a transient error.", ["service", "handler"]
)
CONSUMER_LAG = Gauge(
    "tns_consumer_lag_messages",
    "Messages between the consumer's position and the end of the partition.",
    ["service", "topic", "partition"],
)
