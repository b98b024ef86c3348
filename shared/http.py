"""HTTP plumbing shared by every service: one JSON error shape, body limit, request metrics."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
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
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path served by
            # several routes (GET and POST apart) allows all of theirs.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
        )


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route_methods
    return sorted(methods)


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


def _escaped(key: str) -> str:
    """A key as it can be shown in a field path: NUL and lone surrogates as escapes."""
    if not _unstorable(key):
        return key
    return key.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()


def _unstorable_paths(value: object, path: str) -> list[str]:
    """Paths of the strings (keys included) in a decoded JSON value that cannot be stored."""
    if isinstance(value, str):
        return [path] if _unstorable(value) else []
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            child = f"{path}.{_escaped(k)}"
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
            try:
                bad = self._bad_body(body)
            except RecursionError:
                await _send_400(send, "request body nested too deeply")
                return
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


def _printable(path: str) -> str:
    """A field path as storable, printable text: a NUL or lone surrogate in a name is escaped."""
    return path.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode("utf-8")


async def _send_422(send: Send, paths: list[str]) -> None:
    details = [
        {
            "field": _printable(p),
            "message": "contains a NUL character or a lone surrogate",
            "type": "value_error",
        }
        for p in paths
    ]
    await _send_error(
        send, 422, error_body("validation_error", "request validation failed", details)
    )


async def _send_400(send: Send, message: str) -> None:
    await _send_error(send, 400, error_body("invalid_body", message))


class _BodyTooLargeError(Exception):
    pass


async def _send_413(send: Send, limit: int) -> None:
    await _send_error(
        send, 413, error_body("payload_too_large", f"request body over {limit} bytes")
    )


async def _send_error(send: Send, status: int, error: dict[str, Any]) -> None:
    import orjson

    body = orjson.dumps(error)
    await send(
        {
            "type": "http.response.start",
            "status": status,
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


# -- strict request types and an exact OpenAPI document -------------------------------------------

# Text without NUL, the one character a JSON string can carry that no column can store (lone
# surrogates cannot be told apart in a pattern; the middleware answers them with the same 422).
NO_NUL_PATTERN = r"^[^\x00]*$"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.match(value)):
        return value
    raise ValueError("an RFC 3339 date-time with an offset, e.g. 2026-11-22T06:20:43Z")


def _json_integer(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a JSON integer")
    return value


# An integer as JSON Schema has it: a number without a fraction (``3`` or ``3.0``), never a
# boolean or text, which pydantic on its own takes for ``1`` and ``0`` or parses. Bounds go
# before it: ``Annotated[int, Field(ge=0), JSON_INTEGER]``.
JSON_INTEGER = BeforeValidator(_json_integer)

# A date-time given as RFC 3339 text with an offset, as ``format: date-time`` says: pydantic on
# its own also takes numbers (``0.5``) as Unix times and text without an offset.
IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _documented_strings(schema: Any) -> None:
    """Every plain string schema in ``schema`` gets the NUL-free pattern, in place."""
    if isinstance(schema, dict):
        if (
            schema.get("type") == "string"
            and not {"pattern", "enum", "const", "format"} & schema.keys()
        ):
            schema["pattern"] = NO_NUL_PATTERN
        for key, value in schema.items():
            if key not in ("example", "examples"):
                _documented_strings(value)
    elif isinstance(schema, list):
        for value in schema:
            _documented_strings(value)


_BODY_ERRORS: dict[str, dict[str, Any]] = {
    "400": {
        "description": "The body is not JSON text (not UTF-8, malformed, or nested too deeply)"
    },
    "413": {"description": "The body is larger than the service accepts"},
    "422": {"description": "Invalid field; the details name its path"},
}


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error answer: a machine code, a message, and for invalid input the "
    "path of each bad field.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "message", "type"],
                        "properties": {
                            "field": {"type": "string"},
                            "message": {"type": "string"},
                            "type": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def _error_content(response: dict[str, Any]) -> None:
    """An error response answers the one error shape, as JSON (an example is kept)."""
    media = response.setdefault("content", {}).setdefault("application/json", {})
    response["content"] = {"application/json": media}
    media["schema"] = {"$ref": "#/components/schemas/Error"}


def document_http_errors(app: FastAPI) -> None:
    """Make the app's OpenAPI document say what the shared plumbing answers.

    Every operation with a body documents 400, 413 and 422 (the parser's, ``BodyLimitMiddleware``'s
    and the validation answers), every error response the one error shape, and every plain
    string the NUL-free pattern that ``StorableTextMiddleware`` enforces.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            for operations in doc.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation["responses"]
                    if "requestBody" in operation:
                        for status, response in _BODY_ERRORS.items():
                            responses.setdefault(status, dict(response))
                    for status, response in responses.items():
                        if status[0] in "45":
                            _error_content(response)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["Error"] = _ERROR_SCHEMA
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            _documented_strings(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
