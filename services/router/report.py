"""The router's part of the operations report: charts and tables from the ``router.kpi_*`` views.

Served as ``GET /v1/report`` (router sections only) and used by ``python -m opsreport``, which
adds the sections of the other services' views.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.router import kpis
from services.router.capacity import backlog_staffing
from shared.charts import bar_chart, line_chart, page, table
from shared.kpi import Window, fetch_all

# The flow chart has a point per hour: a quarter is about 2,200 of them.
MAX_PERIOD = timedelta(days=92)


BUCKETS = (
    (60, "< 1 min"),
    (300, "1-5 min"),
    (900, "5-15 min"),
    (3600, "15-60 min"),
    (4 * 3600, "1-4 h"),
    (24 * 3600, "4-24 h"),
    (3 * 86400, "1-3 d"),
    (None, "> 3 d"),
)


async def time_to_decision(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    rows = await fetch_all(
        engine,
        "SELECT decided_by, seconds_to_decision AS s FROM router.kpi_report_decisions "
        "WHERE decided_at >= :since AND decided_at < :until",
        since=since,
        until=until,
    )
    counts: dict[str, list[float | None]] = {
        "automated": [0.0] * len(BUCKETS),
        "human": [0.0] * len(BUCKETS),
    }
    for r in rows:
        i = next(i for i, (edge, _) in enumerate(BUCKETS) if edge is None or r["s"] < edge)
        series = counts[r["decided_by"]]
        series[i] = (series[i] or 0.0) + 1
    pct = await fetch_all(
        engine,
        "SELECT decided_by, count(*) AS decisions, "
        "percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds_to_decision) AS median_s, "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds_to_decision) AS p90_s, "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds_to_decision) AS p95_s "
        "FROM router.kpi_report_decisions WHERE decided_at >= :since AND decided_at < :until "
        "GROUP BY 1 ORDER BY 1",
        since=since,
        until=until,
    )
    chart = bar_chart(
        "Reports by time from receipt to decision", [b[1] for b in BUCKETS], counts, ""
    )
    return chart + table(pct)


async def sla_trend(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    rows = await fetch_all(
        engine,
        "SELECT date_trunc('day', decided_at) AS day, queue, "
        "avg(within_sla::int)::float8 AS attainment, count(*) AS closed "
        "FROM router.kpi_case_sla WHERE closed AND decided_at >= :since AND decided_at < :until "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        since=since,
        until=until,
    )
    days = sorted({r["day"] for r in rows})
    by_queue: dict[str, list[float | None]] = defaultdict(lambda: [None] * len(days))
    for r in rows:
        by_queue[r["queue"]][days.index(r["day"])] = r["attainment"] * 100
    top = dict(sorted(by_queue.items(), key=lambda kv: -sum(1 for v in kv[1] if v))[:6])
    labels = [d.strftime("%Y-%m-%d") for d in days]
    return line_chart("SLA attainment per day (%)", labels, top, "%") + table(rows[-20:])


async def flow(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    rows = await fetch_all(
        engine,
        """
        WITH ev AS (
            SELECT date_trunc('hour', created_at) AS hour, 1 AS a, 0 AS d
              FROM router.kpi_case_sla WHERE created_at < :until
            UNION ALL
            SELECT date_trunc('hour', decided_at), 0, 1
              FROM router.kpi_case_sla WHERE closed AND decided_at < :until
        ), agg AS (
            SELECT hour, sum(a) AS a, sum(d) AS d, sum(sum(a - d)) OVER (ORDER BY hour) AS backlog
              FROM ev GROUP BY hour
        )
        SELECT h.hour, COALESCE(agg.a, 0)::float8 AS arrivals,
               COALESCE(agg.d, 0)::float8 AS completions,
               COALESCE((SELECT b.backlog FROM agg b WHERE b.hour <= h.hour
                          ORDER BY b.hour DESC LIMIT 1), 0)::float8 AS backlog
          FROM generate_series(date_trunc('hour', CAST(:since AS timestamptz)),
                               CAST(:until AS timestamptz) - interval '1 microsecond',
                               interval '1 hour') AS h(hour)
          LEFT JOIN agg ON agg.hour = h.hour
         ORDER BY h.hour
        """,
        since=since,
        until=until,
    )
    labels = [r["hour"].strftime("%m-%d %H:00") for r in rows]
    series = {k: [r[k] for r in rows] for k in ("arrivals", "completions", "backlog")}
    return line_chart("Cases per hour and backlog (all queues)", labels, series)


async def staffing(engine: AsyncEngine, since: datetime, until: datetime, clearance: float) -> str:
    rows = await fetch_all(
        engine,
        """
        WITH a AS (
            SELECT queue, sum(arrivals)::float8 / GREATEST(
                       EXTRACT(EPOCH FROM CAST(:until AS timestamptz) - :since) / 3600, 1)
                       AS per_hour
              FROM router.kpi_flow_hourly WHERE hour >= :since AND hour < :until GROUP BY 1
        ), h AS (
            SELECT queue, avg(handle_seconds) AS aht,
                   count(DISTINCT reviewer_id) AS reviewers,
                   count(DISTINCT date_trunc('hour', at)) AS hours_worked,
                   count(DISTINCT (reviewer_id, date_trunc('hour', at))) AS reviewer_hours
              FROM router.kpi_handle_times WHERE at >= :since AND at < :until GROUP BY 1
        ), o AS (
            SELECT queue, count(*) AS open FROM router.kpi_case_sla WHERE NOT closed GROUP BY 1
        )
        SELECT a.queue, a.per_hour, h.aht, COALESCE(o.open, 0) AS open,
               COALESCE(h.reviewer_hours::float8 / NULLIF(h.hours_worked, 0), 0)
                   AS reviewers_per_hour_worked
          FROM a LEFT JOIN h USING (queue) LEFT JOIN o USING (queue)
         WHERE h.aht IS NOT NULL ORDER BY 1
        """,
        since=since,
        until=until,
    )
    for r in rows:
        need = backlog_staffing(
            arrivals_per_hour=r["per_hour"],
            backlog=r["open"],
            clearance_hours=clearance,
            aht_seconds=max(float(r["aht"]), 1.0),
        )
        r["seats_needed"] = need.seats
    labels = [r["queue"] for r in rows]
    series: dict[str, list[float | None]] = {
        "needed (backlog model)": [float(r["seats_needed"]) for r in rows],
        "on shift (mean per hour worked)": [r["reviewers_per_hour_worked"] for r in rows],
    }
    title = f"Reviewers needed (clear backlog in {clearance:g} h) against reviewers on shift"
    return bar_chart(title, labels, series) + table(rows)


async def qa(engine: AsyncEngine, since: datetime, until: datetime) -> str:
    out = [
        {"queue": r["key"], "pairs": r["pairs"], "accuracy": r["accuracy"], "kappa": r["kappa"]}
        for r in await kpis.qa(engine, "queue", Window(since, until))
    ]
    series: dict[str, list[float | None]] = {
        "accuracy": [r["accuracy"] for r in out],
        "kappa": [max(r["kappa"], 0.0) if r["kappa"] is not None else None for r in out],
    }
    return bar_chart(
        "QA accuracy and Cohen's kappa per queue", [r["queue"] for r in out], series
    ) + (table(out))


async def sections(
    engine: AsyncEngine, since: datetime, until: datetime, *, clearance_hours: float = 8.0
) -> list[tuple[str, str]]:
    """The router's sections for ``[since, until)``: heading and HTML each.

    ValueError when the period is empty or longer than ``MAX_PERIOD``.
    """
    if until <= since:
        raise ValueError("until must be after since")
    if until - since > MAX_PERIOD:
        raise ValueError(f"the period is longer than {MAX_PERIOD.days} days")
    return [
        ("Time to decision", await time_to_decision(engine, since, until)),
        ("SLA attainment", await sla_trend(engine, since, until)),
        ("Backlog flow", await flow(engine, since, until)),
        ("Staffing need", await staffing(engine, since, until, clearance_hours)),
        ("Quality: QA and inter-rater agreement", await qa(engine, since, until)),
    ]


async def render(
    engine: AsyncEngine, since: datetime, until: datetime, *, clearance_hours: float = 8.0
) -> str:
    """The router's report page, of at most ``MAX_PERIOD``: the last part of a longer period.

    A period that ends where or before it starts is an empty report, said on the page.
    """
    start = max(since, until - MAX_PERIOD)
    title = f"Review operations: {start.isoformat()} to {until.isoformat()}"
    if until <= start:
        return page(title, [("Period", "<p>The period is empty: it ends where it starts.</p>")])
    body = await sections(engine, start, until, clearance_hours=clearance_hours)
    if start > since:
        note = (
            f"<p>A report covers at most {MAX_PERIOD.days} days (one point per hour): this one "
            f"covers the last {MAX_PERIOD.days} days of the period asked for.</p>"
        )
        body = [("Period", note), *body]
    return page(title, body)
