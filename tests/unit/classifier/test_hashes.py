"""Hash banks: PDQ with rotations and flips, exact MD5/SHA-256, and what a match does."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image, ImageDraw

from services.classifier.banks import BankIndex, BankInfo, BankStore
from services.classifier.calibration import Calibration
from services.classifier.hashing import file_hashes
from services.classifier.scoring import combine
from services.classifier.signals.hashes import HashSignal
from shared.events import ContentType, Media
from shared.taxonomy import PolicyArea
from tests.factories import make_report


def _image(seed: int) -> Image.Image:
    # Shapes on a background, as in a picture: PDQ is built for images, not for noise.
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (320, 240), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = (int(v) for v in rng.integers(0, 220, 2))
        x1, y1 = x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(20, 120))
        draw.ellipse([x0, y0, x1, y1], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return img


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


BANKED = _png(_image(1))


def _store(area: PolicyArea = PolicyArea.VIOLENT_EXTREMISM, name: str = "tat") -> BankStore:
    h = file_hashes(BANKED, image=True)
    assert h.pdq is not None
    store = BankStore()
    store.index = BankIndex.build(
        [BankInfo(name, "test source", area, 3)], [(name, "pdq", h.pdq), (name, "md5", h.md5)]
    )
    return store


def _media(data: bytes) -> Media:
    return Media(media_type=ContentType.IMAGE, data_base64=base64.b64encode(data).decode())


def _score(store: BankStore, data: bytes) -> list[str]:
    report = make_report("look", media=[_media(data)])
    return [r.detail for r in HashSignal(store, 31).score([report])[0]]


def test_the_banked_image_matches_exactly() -> None:
    details = _score(_store(), BANKED)
    assert len(details) == 1 and "md5 exact" in details[0]  # one result per bank


def test_rotated_flipped_and_recompressed_copies_match_by_pdq() -> None:
    img = _image(1)
    for copy in (
        img.rotate(90, expand=True),
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        img.rotate(180),
    ):
        details = _score(_store(), _png(copy))
        assert len(details) == 1 and "pdq distance" in details[0], details
    jpeg = io.BytesIO()
    img.convert("RGB").save(jpeg, format="JPEG", quality=70)
    assert _score(_store(), jpeg.getvalue())


def test_a_different_image_does_not_match() -> None:
    assert _score(_store(), _png(_image(2))) == []


def test_a_hash_sent_by_the_client_matches_without_image_bytes() -> None:
    h = file_hashes(BANKED, image=True)
    report = make_report(
        "x", media=[Media(media_type=ContentType.IMAGE, sha256=h.sha256, pdq=h.pdq)]
    )
    results = HashSignal(_store(), 31).score([report])[0]
    assert [r.name for r in results] == ["hash:tat"]


def test_a_match_is_strong_and_names_its_bank() -> None:
    report = make_report("look", media=[_media(BANKED)], policy_area=PolicyArea.SPAM)
    results = HashSignal(_store(), 31).score([report])[0]
    c = combine(report, results, {}, [], calibration=Calibration())
    assert c.hash_match_bank == "tat"
    assert c.top_policy_area is PolicyArea.VIOLENT_EXTREMISM and c.top_score >= 0.95


def test_a_child_safety_match_makes_child_safety_the_top_area() -> None:
    store = _store(PolicyArea.CHILD_SAFETY, "csam-hashes")
    report = make_report("you are an idiot", media=[_media(BANKED)])
    results = HashSignal(store, 31).score([report])[0]
    c = combine(report, results, {}, [], calibration=Calibration())
    assert c.top_policy_area is PolicyArea.CHILD_SAFETY
    assert c.top_score >= 0.99
    assert c.hash_match_bank == "csam-hashes"


def test_undecodable_media_is_ignored_not_fatal() -> None:
    report = make_report(
        "x", media=[Media(media_type=ContentType.IMAGE, data_base64="bm90IGFuIGltYWdl")]
    )
    assert HashSignal(_store(), 31).score([report]) == [[]]
