"""The router's Prometheus metrics. Labels hold bounded values (areas, queues, versions)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CIRCUIT_OPEN = Gauge(
    "tns_router_circuit_open",
    "1 while automated actions of the policy area are paused by the circuit breaker.",
    ["policy_area"],
)
CIRCUIT_TRIPS = Counter(
    "tns_router_circuit_trips_total",
    "Times the circuit breaker opened, by cause (rate of actions, or a signal's match rate).",
    ["policy_area", "cause"],
)
CIRCUIT_DIVERTED = Counter(
    "tns_router_circuit_diverted_total",
    "Would-be automated actions sent to human review because the breaker was open.",
    ["policy_area"],
)
ROUTED = Counter("tns_router_routed_total", "Reports routed, by route.", ["policy_area", "route"])
ROUTED_BY_SOURCE = Counter(
    "tns_router_routed_by_source_total",
    "Reports routed, by source (the registered kind when there is one: legal_order, "
    "law_enforcement, regulator, advertiser) and route.",
    ["source", "route"],
)
SHADOW_OUTCOMES = Counter(
    "tns_router_shadow_outcomes_total",
    "Reports a shadow policy judged, by whether it agreed with the live policy.",
    ["shadow_version", "agreement"],
)
QUEUE_DEPTH = Gauge("tns_router_queue_depth", "Open cases in the queue.", ["queue"])
QUEUE_OLDEST_AGE = Gauge(
    "tns_router_queue_oldest_age_seconds", "Age of the oldest open case in the queue.", ["queue"]
)
QUEUE_PAST_DEADLINE = Gauge(
    "tns_router_queue_past_deadline", "Open cases in the queue past their deadline.", ["queue"]
)
TIME_TO_FIRST_DECISION = Histogram(
    "tns_router_time_to_first_decision_seconds",
    "From a case's creation to its first human decision.",
    ["queue"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400),
)
QA_REVIEWS = Counter(
    "tns_router_qa_reviews_total",
    "QA re-reviews, by policy area, policy version and agreement with the original decision.",
    ["policy_area", "policy_version", "agreement"],
)
QUEUE_PROJECTED_BREACHES = Gauge(
    "tns_router_queue_projected_breaches",
    "Open cases not yet late that the reviewers on shift will not reach before their deadline "
    "(earliest deadline first, at the queue's handle time).",
    ["queue"],
)
QUEUE_SECONDS_TO_CLEAR = Gauge(
    "tns_router_queue_seconds_to_clear",
    "Expected time to clear the queue's backlog: backlog / (capacity on shift - arrivals); "
    "+Inf when arrivals outpace the reviewers on shift.",
    ["queue"],
)
