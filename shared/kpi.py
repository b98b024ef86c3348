"""What the services' KPI routes share: the ``kpi:read`` scope, the ``since``/``until`` window
as a dependency, the database engine, running a report query, and the CSV download.

A route module declares ``APIRouter(dependencies=[REQUIRE_KPI_SCOPE], ...)`` and each route
then states only what is its own::

    async def sla(engine: Engine, window: WindowQuery, by: ... = "queue") -> list[dict[str, Any]]:
        where, params = window.where("decided_at")
        return await fetch_all(engine, f"SELECT ... WHERE {where}", **params)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.apikeys import require_scope
from shared.http import IsoDatetime

# Operations-wide read of KPIs, reports and transparency figures; never a default scope.
KPI_SCOPE = "kpi:read"
REQUIRE_KPI_SCOPE = require_scope(KPI_SCOPE)


@dataclass(frozen=True, slots=True)
class Window:
    """The period ``[since, until)``; an absent end leaves that side open."""

    since: datetime | None = None
    until: datetime | None = None

    def where(self, column: str) -> tuple[str, dict[str, Any]]:
        """An SQL condition on ``column`` (a name from the code, never from a request) and its
        ``since``/``until`` parameters."""
        if self.since is not None and self.until is not None and self.until <= self.since:
            # A window whose end is not after its start is empty, not an error: the document
            # cannot state the rule, and an empty period has well-defined figures (none).
            return "FALSE", {}
        clauses, params = [], {}
        if self.since is not None:
            clauses.append(f"{column} >= :since")
            params["since"] = self.since
        if self.until is not None:
            clauses.append(f"{column} < :until")
            params["until"] = self.until
        return " AND ".join(clauses) or "TRUE", params


def _window(
    since: Annotated[IsoDatetime | None, Query(description="window start (inclusive)")] = None,
    until: Annotated[
        IsoDatetime | None,
        Query(description="window end (exclusive); a window that ends before it starts is empty"),
    ] = None,
) -> Window:
    return Window(since, until)


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.runtime.engine
    return engine


# The ``since`` and ``until`` query parameters, as a ``Window``.
WindowQuery = Annotated[Window, Depends(_window)]
# The service's database engine.
Engine = Annotated[AsyncEngine, Depends(_engine)]


async def fetch_all(engine: AsyncEngine, sql: str, /, **params: Any) -> list[dict[str, Any]]:
    """Every row of a read-only query, as dicts."""
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


def csv_download(body: str, filename: str) -> Response:
    """``body`` as a ``text/csv`` attachment named ``filename``."""
    return Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
