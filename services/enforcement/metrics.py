"""Enforcement's Prometheus metrics (bounded labels only: areas, actions, states, results)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACTIONS = Counter(
    "tns_enforcement_actions_total",
    "Ledger transitions of actions: issued, reissued, applied, failed, reversed.",
    ["service", "action", "state"],
)
DECISIONS = Counter(
    "tns_enforcement_decisions_total",
    "Decisions recorded, per policy area and outcome (the denominator of the appeal rate).",
    ["service", "policy_area", "outcome"],
)
STRIKES = Counter(
    "tns_enforcement_strikes_total", "Strikes added to accounts.", ["service", "policy_area"]
)
LEGAL_REPORTS = Counter(
    "tns_enforcement_legal_reports_total",
    "Legal-report records created (e.g. CyberTipline), pending submission.",
    ["service", "channel"],
)
APPEALS_LODGED = Counter(
    "tns_appeals_lodged_total", "Appeals accepted.", ["service", "policy_area", "appellant"]
)
APPEALS_REFUSED = Counter(
    "tns_appeals_refused_total",
    "Appeals refused (window closed, unknown decision...).",
    ["service", "reason"],
)
APPEALS_DECIDED = Counter(
    "tns_appeals_decided_total",
    "Appeals decided; result is upheld or overturned (overturn rate = overturned / decided).",
    ["service", "policy_area", "result"],
)
APPEAL_DECISION_SECONDS = Histogram(
    "tns_appeal_decision_seconds",
    "Time from an appeal being lodged to its decision.",
    ["service", "policy_area"],
    buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400),
)
SOR_SUBMISSIONS = Counter(
    "tns_sor_submissions_total",
    "Statements of reasons sent to the Transparency Database, by result "
    "(submitted, duplicate, rejected, rate_limited, error).",
    ["service", "result"],
)
CONFIRMATIONS_REFUSED = Counter(
    "tns_enforcement_confirmations_refused_total",
    "Confirmations that changed nothing because another client owns the action.",
    ["service", "reason"],
)
