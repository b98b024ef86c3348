"""The hash-bank API and matching, on the real broker and PostgreSQL."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
import pytest_asyncio
from PIL import Image, ImageDraw
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from services.classifier.app import create_app
from services.classifier.hashing import file_hashes
from services.classifier.models import api_keys, bank_hashes
from services.classifier.settings import ClassifierSettings
from shared.apikeys import create_key
from shared.events import Classification, ContentType, Media, ReportClassified
from shared.kafka.topics import Topics
from shared.taxonomy import PolicyArea
from tests.factories import make_received, make_report
from tests.harness import TopicWatcher, eventually, produce_raw, running, service_env

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def classifier(
    kafka: EmbeddedKafka, postgres: EmbeddedPostgres, namespace: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ClassifierSettings(
        **service_env(kafka, postgres, namespace),
        api_key_cache_seconds=0,
        bank_refresh_seconds=0.5,
    )
    async with running(create_app(settings)) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def writer(classifier: httpx.AsyncClient, db: AsyncEngine) -> dict[str, str]:
    _, key = await create_key(db, api_keys, client_id="ops", scopes=["banks:write", "banks:read"])
    return {"Authorization": f"Bearer {key}"}


@pytest_asyncio.fixture(loop_scope="session")
async def reader(classifier: httpx.AsyncClient, db: AsyncEngine) -> dict[str, str]:
    _, key = await create_key(db, api_keys, client_id="audit", scopes=["banks:read"])
    return {"Authorization": f"Bearer {key}"}


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (300, 200), (250, 250, 240))
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        x0, y0 = (int(v) for v in rng.integers(0, 200, 2))
        x1, y1 = x0 + int(rng.integers(20, 100)), y0 + int(rng.integers(20, 100))
        draw.rectangle([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return img


def _b64(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def _bank_name() -> str:
    return f"bank-{uuid.uuid4().hex[:8]}"


async def _classify_media(kafka: EmbeddedKafka, namespace: str, data_b64: str) -> Classification:
    report = make_report(
        "look at this", media=[Media(media_type=ContentType.IMAGE, data_base64=data_b64)]
    )
    event = make_received(report)
    topics = Topics(namespace)
    async with TopicWatcher(kafka.bootstrap_servers, topics.reports_classified) as out:
        await produce_raw(
            kafka.bootstrap_servers, topics.reports_received, [(event.key(), event.to_bytes())]
        )

        async def found() -> Classification | None:
            for r in out.records:
                c = ReportClassified.from_bytes(r.value).payload
                if c.report.report_id == report.report_id:
                    return c.classification
            return None

        return await eventually(found, timeout=60)


async def test_bank_api_needs_a_key_with_the_right_scope(
    classifier: httpx.AsyncClient, reader: dict[str, str]
) -> None:
    body = {"name": _bank_name(), "source": "test", "policy_area": "violent_extremism"}
    assert (await classifier.get("/v1/banks")).status_code == 401
    assert (
        await classifier.post("/v1/banks", json=body, headers={"X-API-Key": "tns_nope"})
    ).status_code == 401
    assert (await classifier.post("/v1/banks", json=body, headers=reader)).status_code == 403
    assert (await classifier.get("/v1/banks", headers=reader)).status_code == 200


async def test_bad_bank_and_hash_input_is_422_with_the_field(
    classifier: httpx.AsyncClient, writer: dict[str, str]
) -> None:
    r = await classifier.post(
        "/v1/banks",
        json={"name": "Bad Name!", "source": "x", "policy_area": "nope"},
        headers=writer,
    )
    assert r.status_code == 422
    fields = str(r.json())
    assert "name" in fields and "policy_area" in fields
    name = _bank_name()
    await classifier.post(
        "/v1/banks", json={"name": name, "source": "x", "policy_area": "spam"}, headers=writer
    )
    r = await classifier.post(
        f"/v1/banks/{name}/hashes",
        json={"hashes": [{"kind": "md5", "value": "abc"}], "images": [{"data_base64": "bm9wZQ=="}]},
        headers=writer,
    )
    assert r.status_code == 422
    assert "hashes" in str(r.json()) and "images" in str(r.json())
    missing = await classifier.post(
        "/v1/banks/no-such-bank/hashes",
        json={"hashes": [{"kind": "md5", "value": "0" * 32}]},
        headers=writer,
    )
    assert missing.status_code == 404
    dup = await classifier.post(
        "/v1/banks", json={"name": name, "source": "x", "policy_area": "spam"}, headers=writer
    )
    assert dup.status_code == 409


async def test_a_rotated_copy_of_a_banked_image_matches_until_the_hash_is_disabled(
    classifier: httpx.AsyncClient,
    writer: dict[str, str],
    reader: dict[str, str],
    kafka: EmbeddedKafka,
    namespace: str,
) -> None:
    name = _bank_name()
    r = await classifier.post(
        "/v1/banks",
        json={"name": name, "source": "Tech Against Terrorism", "policy_area": "violent_extremism"},
        headers=writer,
    )
    assert r.status_code == 201, r.text
    img = _image(7)
    r = await classifier.post(
        f"/v1/banks/{name}/hashes",
        json={"images": [{"data_base64": _b64(img), "note": "case 1"}]},
        headers=writer,
    )
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["added"] == 3
    assert {h["kind"] for h in added["hashes"]} == {"pdq", "md5", "sha256"}

    listed = (await classifier.get("/v1/banks", headers=reader)).json()
    mine = next(b for b in listed if b["name"] == name)
    assert mine["hash_count"] == 3 and mine["enabled"] is True and mine["version"] == 2
    hashes = (await classifier.get(f"/v1/banks/{name}/hashes", headers=reader)).json()
    assert len(hashes) == 3

    rotated = _b64(img.rotate(90, expand=True), "JPEG")
    c = await _classify_media(kafka, namespace, rotated)
    assert c.hash_match_bank == name
    assert c.top_policy_area is PolicyArea.VIOLENT_EXTREMISM and c.top_score >= 0.95
    assert c.versions[f"bank:{name}"] == "v2"
    assert any(s.name == f"hash:{name}" and "pdq distance" in s.detail for s in c.signals)

    pdq = next(h for h in hashes if h["kind"] == "pdq")
    r = await classifier.patch(
        f"/v1/banks/{name}/hashes/{pdq['hash_id']}", json={"enabled": False}, headers=writer
    )
    assert r.status_code == 200 and r.json()["enabled"] is False
    c = await _classify_media(kafka, namespace, rotated)
    assert c.hash_match_bank is None

    # The exact copy still matches by SHA-256, until the whole bank is disabled.
    original = _b64(img)
    assert (await _classify_media(kafka, namespace, original)).hash_match_bank == name
    r = await classifier.patch(f"/v1/banks/{name}", json={"enabled": False}, headers=writer)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert (await _classify_media(kafka, namespace, original)).hash_match_bank is None


async def test_hashes_written_elsewhere_are_picked_up_by_the_refresh(
    classifier: httpx.AsyncClient,
    writer: dict[str, str],
    kafka: EmbeddedKafka,
    namespace: str,
    db: AsyncEngine,
) -> None:
    name = _bank_name()
    await classifier.post(
        "/v1/banks",
        json={"name": name, "source": "NCMEC", "policy_area": "child_safety"},
        headers=writer,
    )
    img = _image(11)
    data = base64.b64decode(_b64(img))
    # As another replica's API would: straight into the table, no refresh in this process.
    async with db.begin() as conn:
        await conn.execute(
            bank_hashes.insert().values(
                bank_name=name, kind="sha256", value=file_hashes(data, image=False).sha256
            )
        )

    async def matched() -> Classification | None:
        c = await _classify_media(kafka, namespace, _b64(img))
        return c if c.hash_match_bank == name else None

    c = await eventually(matched, timeout=60, interval=0.5)
    # A child-safety match always goes to a human: the top area with a high score.
    assert c.top_policy_area is PolicyArea.CHILD_SAFETY and c.top_score >= 0.99
