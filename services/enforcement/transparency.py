"""DSA Art. 15/24 transparency figures for a period, from enforcement's own tables.

Through the ``enforcement.kpi_*`` views: notices decided by category and source (trusted flaggers
included), decisions by maker and outcome, actions by ground and type with the automated share,
median time from decision to action issued and applied, complaints (appeals) with their median
decision time and reversals, the error rate of automated decisions as measured by appeals, and
account suspensions. ``as_csv`` flattens the same figures to ``section,key,metric,value`` rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import ServiceSettings
from shared.db import create_engine
from shared.figures import figures_csv

_QUERIES = {
    "notices": """
        SELECT dsa_category, source, sum(notices)::bigint AS notices
          FROM enforcement.kpi_decisions
         WHERE NOT is_appeal AND decided_at >= :since AND decided_at < :until
         GROUP BY 1, 2 ORDER BY 1, 2
    """,
    "decisions": """
        SELECT decided_by, outcome, count(*) AS decisions
          FROM enforcement.kpi_decisions
         WHERE NOT is_appeal AND decided_at >= :since AND decided_at < :until
         GROUP BY 1, 2 ORDER BY 1, 2
    """,
    "actions": """
        SELECT ground, action, count(*) AS actions,
               count(*) FILTER (WHERE decided_by = 'automated') AS automated
          FROM enforcement.kpi_actions
         WHERE NOT is_appeal AND decided_at >= :since AND decided_at < :until
         GROUP BY 1, 2 ORDER BY 1, 2
    """,
    "time_to_action": """
        SELECT count(*) AS actions, count(applied_at) AS applied,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_issued)
                   AS median_seconds_decision_to_issued,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_applied)
                   AS median_seconds_decision_to_applied
          FROM enforcement.kpi_actions
         WHERE NOT is_appeal AND decided_at >= :since AND decided_at < :until
    """,
    "complaints": """
        SELECT count(*) FILTER (WHERE lodged_at >= :since AND lodged_at < :until) AS received,
               count(*) FILTER (WHERE decided_at >= :since AND decided_at < :until) AS decided,
               count(*) FILTER (WHERE overturned AND decided_at >= :since AND decided_at < :until)
                   AS reversed,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision)
                   FILTER (WHERE decided_at >= :since AND decided_at < :until)
                   AS median_decision_seconds
          FROM enforcement.kpi_appeals
    """,
    "automated_means": """
        SELECT (SELECT count(*) FROM enforcement.kpi_decisions
                 WHERE NOT is_appeal AND decided_by = 'automated'
                   AND decided_at >= :since AND decided_at < :until) AS automated_decisions,
               count(*) AS appeals_decided,
               count(*) FILTER (WHERE overturned) AS appeals_reversed
          FROM enforcement.kpi_appeals
         WHERE original_decided_by = 'automated' AND decided_at >= :since AND decided_at < :until
    """,
    "suspensions": """
        SELECT action, count(*) AS suspensions
          FROM enforcement.kpi_actions
         WHERE NOT is_appeal AND action IN ('suspend_account', 'terminate_account')
           AND decided_at >= :since AND decided_at < :until
         GROUP BY 1 ORDER BY 1
    """,
}


async def figures(engine: AsyncEngine, since: datetime, until: datetime) -> dict[str, Any]:
    """Every transparency figure for decisions taken in ``[since, until)`` (none when empty)."""
    params = {"since": since, "until": until}
    out: dict[str, Any] = {"period": {"since": since.isoformat(), "until": until.isoformat()}}
    async with engine.connect() as conn:
        for name, sql in _QUERIES.items():
            out[name] = [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]
    for single in ("time_to_action", "complaints", "automated_means"):
        out[single] = out[single][0]
    notices = out["notices"]
    out["notices_total"] = sum(r["notices"] for r in notices)
    out["trusted_flagger_notices"] = sum(
        r["notices"] for r in notices if r["source"] == "trusted_flagger"
    )
    means = out["automated_means"]
    decided = means["appeals_decided"]
    means["error_rate"] = means["appeals_reversed"] / decided if decided else None
    means["accuracy"] = 1 - means["error_rate"] if decided else None
    return out


DIMENSIONS = {
    "notices": ("dsa_category", "source"),
    "decisions": ("decided_by", "outcome"),
    "actions": ("ground", "action"),
    "suspensions": ("action",),
}


def as_csv(data: dict[str, Any]) -> str:
    """The figures as ``section,key,metric,value`` rows (keys join their dimensions with ``|``)."""
    return figures_csv(data, DIMENSIONS)


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", required=True, help="period start, ISO-8601 (UTC when no offset)")
    p.add_argument("--until", required=True, help="period end (exclusive)")
    p.add_argument("--format", choices=("json", "csv"), default="csv")


def _aware(value: str) -> datetime:
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _run(settings: ServiceSettings, args: argparse.Namespace) -> int:
    try:
        since, until = _aware(args.since), _aware(args.until)
    except ValueError as exc:
        print(f"bad --since/--until: {exc}", file=sys.stderr)
        return 2

    async def main() -> dict[str, Any]:
        engine = create_engine(settings)
        try:
            return await figures(engine, since, until)
        finally:
            await engine.dispose()

    try:
        data = asyncio.run(main())
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    sys.stdout.write(as_csv(data) if args.format == "csv" else json.dumps(data, indent=2) + "\n")
    return 0


COMMAND = ("print DSA transparency figures for a period (CSV or JSON)", _run, _configure)
