"""Intake's own Prometheus metrics (bounded labels only)."""

from __future__ import annotations

from prometheus_client import Counter

REPORTS_ACCEPTED = Counter(
    "tns_intake_reports_total",
    "Notices accepted, by how they were handled.",
    ["service", "handling"],  # published, held, duplicate
)
RATE_LIMITED = Counter(
    "tns_intake_rate_limited_total",
    "Requests refused with 429 by the per-client rate limit.",
    ["service"],
)
UNKNOWN_REASON_CODES = Counter(
    "tns_intake_unknown_reason_codes_total",
    "Notices whose reason code no mapping file knows (mapped to NOT_SPECIFIED_NOTICE).",
    ["service"],
)
MISUSE_MEASURES = Counter(
    "tns_intake_misuse_measures_total",
    "DSA Art. 23 measures taken against reporters: warning or suspension.",
    ["service", "kind"],
)
HELD_NOTICES = Counter(
    "tns_intake_held_notices_total",
    "Notices of suspended reporters stored and not processed (DSA Art. 23).",
    ["service"],
)
EXEMPT_NOTICES = Counter(
    "tns_intake_misuse_exempt_notices_total",
    "Notices of suspended reporters processed anyway because they concern child safety.",
    ["service"],
)
