"""HTTP plumbing shared by every service: one JSON error shape, body limit, request metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import ApiError
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The one error shape: ``{"error": {"code", "message", "details": [{"field", ...}]}}``."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def install_error_handlers(app: FastAPI) -> None:
    """Render validation, API and HTTP errors in the one JSON shape."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {
                "field": _field_path(err.get("loc", ())),
                "message": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        return JSONResponse(
            error_body("validation_error", "request validation failed", details), status_code=422
        )

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


class BodyLimitMiddleware:
    """Answers 413 when a request body is larger than ``max_bytes``, without reading it all."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_bytes:
                    await _send_413(send, self.max_bytes)
                    return
                break
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLargeError:
            await _send_413(send, self.max_bytes)


# JSON escapes that decode to text PostgreSQL cannot store: NUL, and lone UTF-16 surrogates.
_SUSPECT_ESCAPES = (b"\\u0000", b"\\ud", b"\\uD")


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable_paths(value: object, path: str) -> list[str]:
    """Paths of the strings (keys included) in a decoded JSON value that cannot be stored."""
    if isinstance(value, str):
        return [path] if _unstorable(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            child = f"{path}.{k}"
            if _unstorable(k):
                found.append(child)
            found += _unstorable_paths(v, child)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _unstorable_paths(v, f"{path}.{i}")
    return found


class StorableTextMiddleware:
    """Answers 422 (with the field path) for text no database column can hold.

    PostgreSQL text cannot contain NUL characters or lone surrogates; JSON can carry both as
    escapes, and a URL as ``%00``. Rejecting them here, for every service and route, keeps such
    input from ever reaching a query. The body is scanned with one byte search per suspect
    escape and is parsed again only when one is present.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = self._bad_url(scope)
        if bad:
            await _send_422(send, bad)
            return
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"\\u" in body and any(e in body for e in _SUSPECT_ESCAPES):
            bad = self._bad_body(body)
            if bad:
                await _send_422(send, bad)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)

    @staticmethod
    def _bad_url(scope: Scope) -> list[str]:
        from urllib.parse import parse_qsl, unquote

        found: list[str] = []
        query: bytes = scope.get("query_string", b"")
        if b"%" in query:
            for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if _unstorable(k) or _unstorable(v):
                    found.append(f"query.{k}")
        raw_path: bytes = scope.get("raw_path") or b""
        if b"%" in raw_path and _unstorable(unquote(raw_path.decode("latin-1"))):
            found.append("path")
        return found

    @staticmethod
    def _bad_body(body: bytes) -> list[str]:
        import json

        try:
            # The standard library's parser keeps lone surrogates, so they can be found.
            value = json.loads(body)
        except ValueError:
            return []  # not JSON: the route's own validation answers
        return _unstorable_paths(value, "body")


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """Hands out the messages already read, then the real ones (a disconnect comes when it
    happens: answering one at once would make the app drop its response)."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _send_422(send: Send, paths: list[str]) -> None:
    import orjson

    details = [
        {
            "field": p,
            "message": "contains a NUL character or a lone surrogate",
            "type": "value_error",
        }
        for p in paths
    ]
    body = orjson.dumps(error_body("validation_error", "request validation failed", details))
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _BodyTooLargeError(Exception):
    pass


async def _send_413(send: Send, limit: int) -> None:
    import orjson

    body = orjson.dumps(error_body("payload_too_large", f"request body over {limit} bytes"))
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Counts requests and observes latency per route template (bounded labels)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, path).observe(time.perf_counter() - started)
