"""Text PostgreSQL cannot store is refused at the HTTP edge with the field path, on any route."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.http import StorableTextMiddleware, install_error_handlers


class Note(BaseModel):
    text: str
    tags: list[str] = []


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(StorableTextMiddleware)

    @app.post("/notes")
    async def create(note: Note) -> Note:
        return note

    @app.get("/notes")
    async def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    return app


async def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t")


async def test_nul_and_lone_surrogates_in_a_body_are_422_with_their_paths() -> None:
    async with await _client() as client:
        r = await client.post(
            "/notes",
            content=b'{"text": "a\\u0000b", "tags": ["ok", "x\\ud800"]}',
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 422
    fields = [d["field"] for d in r.json()["error"]["details"]]
    assert fields == ["body.text", "body.tags.1"]


async def test_ordinary_escapes_and_a_literal_backslash_u0000_pass() -> None:
    async with await _client() as client:
        r = await client.post(
            "/notes",
            content=b'{"text": "caf\\u00e9 \\ud83d\\ude00 \\\\u0000", "tags": ["\\ud55c"]}',
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "caf\u00e9 \U0001f600 \\u0000"


async def test_nul_in_a_query_parameter_is_422() -> None:
    async with await _client() as client:
        r = await client.get("/notes", params={"q": "a\x00b"})
        ok = await client.get("/notes", params={"q": "plain"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "query.q"
    assert ok.json() == {"q": "plain"}
