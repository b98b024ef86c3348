"""Graduated enforcement as configuration: the ladder, its validation, the appeal window."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.enforcement.ladder import (
    AccountStep,
    EnforcementPolicy,
    add_months,
    combine,
    ladder_step,
    load_policy,
)
from services.enforcement.settings import DEFAULT_POLICY
from services.enforcement.submitter import retry_after_seconds
from shared.events import ActionType
from shared.taxonomy import PolicyArea

POLICY = load_policy(DEFAULT_POLICY)
A = ActionType


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (0, None),
        (1, AccountStep(A.WARN_ACCOUNT, None)),
        (2, AccountStep(A.WARN_ACCOUNT, None)),
        (3, AccountStep(A.RESTRICT_ACCOUNT, 7)),
        (5, AccountStep(A.SUSPEND_ACCOUNT, 30)),
        (8, AccountStep(A.TERMINATE_ACCOUNT, None)),
        (50, AccountStep(A.TERMINATE_ACCOUNT, None)),
    ],
)
def test_default_ladder_climbs_warn_restrict_suspend_terminate(
    weight: int, expected: AccountStep | None
) -> None:
    assert ladder_step(POLICY, PolicyArea.SPAM, weight) == expected


def test_child_safety_terminates_on_the_first_violation() -> None:
    assert ladder_step(POLICY, PolicyArea.CHILD_SAFETY, 0) == AccountStep(A.TERMINATE_ACCOUNT, None)
    assert POLICY.hold(PolicyArea.CHILD_SAFETY) == timedelta(days=365)
    assert POLICY.hold(PolicyArea.VIOLENT_EXTREMISM) == timedelta(days=183)
    assert POLICY.hold(PolicyArea.SPAM) is None


def test_area_weights_and_thresholds_override_the_default() -> None:
    assert POLICY.weight(PolicyArea.VIOLENT_THREATS) == 3
    assert ladder_step(POLICY, PolicyArea.VIOLENT_THREATS, 3) == AccountStep(A.SUSPEND_ACCOUNT, 7)
    assert POLICY.expiry(PolicyArea.SPAM) == timedelta(days=90)


def test_the_graver_of_request_and_ladder_wins() -> None:
    warn, suspend = AccountStep(A.WARN_ACCOUNT, None), AccountStep(A.SUSPEND_ACCOUNT, 7)
    assert combine(warn, suspend) == suspend
    assert combine(suspend, warn) == suspend
    assert combine(None, warn) == warn
    assert combine(AccountStep(A.SUSPEND_ACCOUNT, 3), suspend) == suspend


def _policy(**default: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ground": "incompatible",
        "legal_ground": "ToS",
        "explanation": "breach",
        "thresholds": [{"strikes": 1, "action": "warn_account"}],
    }
    base.update(default)
    return {
        "version": "t",
        "strike_expiry_days": 30,
        "evidence_retention_days": 30,
        "default": base,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"thresholds": [{"strikes": 1, "action": "remove_content"}]}, "not an account action"),
        ({"thresholds": [{"strikes": 1, "action": "suspend_account"}]}, "needs duration_days"),
        (
            {
                "thresholds": [
                    {"strikes": 3, "action": "warn_account"},
                    {"strikes": 2, "action": "terminate_account"},
                ]
            },
            "increasing order",
        ),
        (
            {
                "thresholds": [
                    {"strikes": 1, "action": "terminate_account"},
                    {"strikes": 2, "action": "warn_account"},
                ]
            },
            "milder action",
        ),
        ({"ground": "maybe"}, "ground"),
        ({"weight": -1}, "weight"),
    ],
)
def test_invalid_policies_are_refused_with_the_reason(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        EnforcementPolicy.model_validate(_policy(**change))


def test_check_command_accepts_the_shipped_policy_and_refuses_a_broken_one(tmp_path: Path) -> None:
    env = {**os.environ, "TNS_LOG_JSON": "false"}
    ok = subprocess.run(
        [sys.executable, "-m", "services.enforcement", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: x\nstrike_expiry_days: 0\n")
    bad = subprocess.run(
        [sys.executable, "-m", "services.enforcement", "check", str(broken)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "strike_expiry_days" in bad.stderr


def test_appeal_window_is_six_calendar_months_clamped_to_month_end() -> None:
    assert add_months(datetime(2026, 8, 31, 12, tzinfo=UTC), 6) == datetime(
        2027, 2, 28, 12, tzinfo=UTC
    )
    assert add_months(datetime(2026, 1, 15, tzinfo=UTC), 6) == datetime(2026, 7, 15, tzinfo=UTC)


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    assert retry_after_seconds("7", 1.0) == 7.0
    assert retry_after_seconds(None, 2.5) == 2.5
    assert retry_after_seconds("soon", 2.5) == 2.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 3.0) == 0.0  # in the past
