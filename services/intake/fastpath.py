"""``POST /v1/reports`` for well-formed requests, without FastAPI's per-request machinery.

Submitting notices is intake's hot path, and FastAPI's generic request handling (dependency
resolution, parameter extraction, body decoding then validation) costs more per request than the
notice's own processing. This route sits in front of the documented FastAPI route and serves the
common case directly: a JSON body that validates, a valid key with the scope, a well-formed
``Idempotency-Key``. Anything else (a bad key, a bad body, another content type) is handed,
body intact, to the FastAPI route, which answers exactly as it always does. Both end in
``submit_report``, so an accepted notice is handled the same either way; the middleware, the error
handlers and the request metrics (labelled with the documented route) apply to both.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from services.intake.api import submit_report, valid_idempotency_key
from services.intake.schemas import ReportCreate
from shared.apikeys import KeyStore, Principal

SCOPE = "reports:write"


class SubmitRoute(BaseRoute):
    def __init__(self, documented: APIRoute) -> None:
        self.documented = documented
        self.path = documented.path

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST":
            return Match.NONE, {}
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        if path != self.path:
            return Match.NONE, {}
        return Match.FULL, {
            "route": self.documented,
            "endpoint": self.documented.endpoint,
            "path_params": {},
        }

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        return self.documented.url_path_for(name, **path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await request.body()
        headers = request.headers
        principal = await _principal(
            request, headers.get("authorization"), headers.get("x-api-key")
        )
        key = headers.get("idempotency-key")
        report = None
        if (
            principal is not None
            and valid_idempotency_key(key)
            and headers.get("content-type") == "application/json"
        ):
            try:
                report = ReportCreate.model_validate_json(body)
            except ValidationError:
                report = None
        if report is None or principal is None:
            await self.documented.handle(scope, _replay(body, receive), send)
            return
        response = await submit_report(request, report, principal, key, body)
        await response(scope, receive, send)


async def _principal(
    request: Request, authorization: str | None, x_api_key: str | None
) -> Principal | None:
    """The principal when the key is known, valid and holds the scope; else None."""
    key = x_api_key
    if authorization and authorization[:7].lower() == "bearer ":
        key = authorization[7:].strip()
    if not key:
        return None
    store: KeyStore = request.app.state.keys
    principal = await store.authenticate(key)
    if principal is None or not principal.has(SCOPE):
        return None
    return principal


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the already-read body again, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
