"""Intake's pure rules: misuse assessment, the token bucket, reason-code mappings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.intake.mappings import MappingError, load_mappings
from services.intake.misuse import Counts, Measure, Thresholds, assess
from services.intake.ratelimit import RateLimiter
from services.intake.settings import DEFAULT_MAPPINGS
from shared.taxonomy import DsaCategory, PolicyArea

NOW = datetime(2026, 11, 22, tzinfo=UTC)
TH = Thresholds(timedelta(days=90), min_unfounded=3, share=0.5, hold=timedelta(days=7))


def test_misuse_warns_first_then_suspends_and_ignores_reporters_under_threshold() -> None:
    over, under = Counts(notices=4, unfounded=3), Counts(notices=10, unfounded=3)
    assert assess(under, warned_at=None, held_until=None, now=NOW, th=TH) is Measure.NONE
    assert assess(over, warned_at=None, held_until=None, now=NOW, th=TH) is Measure.WARNING
    warned = NOW - timedelta(days=1)
    assert assess(over, warned_at=warned, held_until=None, now=NOW, th=TH) is Measure.SUSPENSION
    held = NOW + timedelta(days=1)
    assert assess(over, warned_at=warned, held_until=held, now=NOW, th=TH) is Measure.NONE
    stale = NOW - timedelta(days=200)
    assert assess(over, warned_at=stale, held_until=None, now=NOW, th=TH) is Measure.WARNING


def test_token_bucket_refuses_over_burst_and_says_how_long_to_wait() -> None:
    limiter = RateLimiter(rate=2.0, burst=2)
    assert limiter.take("a", now=0.0) == 0 and limiter.take("a", now=0.0) == 0
    assert limiter.take("a", now=0.0) == pytest.approx(0.5)
    assert limiter.take("b", now=0.0) == 0
    assert limiter.take("a", now=0.5) == 0


def test_default_mapping_maps_known_codes_and_unknown_to_not_specified() -> None:
    codes = load_mappings(DEFAULT_MAPPINGS)
    csam = codes.resolve("any-client", "csam")
    assert (csam.policy_area, csam.dsa_category) == (
        PolicyArea.CHILD_SAFETY,
        DsaCategory.PROTECTION_OF_MINORS,
    )
    unknown = codes.resolve("any-client", "brand_new_code")
    assert unknown.dsa_category is DsaCategory.NOT_SPECIFIED_NOTICE and not unknown.known


def test_client_file_overrides_default_and_bad_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text("version: 1\nclient_id: default\n")
    (tmp_path / "acme.yaml").write_text(
        "version: 2\nclient_id: acme\nunknown: spam\ncodes:\n  R1: {policy_area: hate_speech}\n"
    )
    codes = load_mappings(tmp_path)
    assert codes.resolve("acme", "R1").policy_area is PolicyArea.HATE_SPEECH
    assert codes.resolve("acme", "R9").policy_area is PolicyArea.SPAM
    assert codes.resolve("other", "R1").policy_area is PolicyArea.OTHER
    (tmp_path / "bad.yml").write_text("version: 1\nclient_id: bad\nextra: 1\n")
    with pytest.raises(MappingError, match=r"bad\.yml: extra"):
        load_mappings(tmp_path)
