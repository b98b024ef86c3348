"""DSA Art. 23: when a reporter's notices are frequently manifestly unfounded. Pure logic.

Over the threshold (at least ``min_unfounded`` unfounded notices in the window, and at least
``share`` of the reporter's notices), the reporter is first warned; if still over the threshold at
a later assessment after the warning, their notices are held for ``hold``. Assessments happen
when a decision finds one of their notices manifestly unfounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Measure(StrEnum):
    NONE = "none"
    WARNING = "warning"
    SUSPENSION = "suspension"


@dataclass(frozen=True, slots=True)
class Thresholds:
    window: timedelta
    min_unfounded: int
    share: float
    hold: timedelta


@dataclass(frozen=True, slots=True)
class Counts:
    notices: int
    unfounded: int


def over_threshold(counts: Counts, th: Thresholds) -> bool:
    if counts.unfounded < th.min_unfounded or counts.notices == 0:
        return False
    return counts.unfounded / counts.notices >= th.share


def assess(
    counts: Counts,
    *,
    warned_at: datetime | None,
    held_until: datetime | None,
    now: datetime,
    th: Thresholds,
) -> Measure:
    """The measure to take now for a reporter with these rolling counts."""
    if not over_threshold(counts, th):
        return Measure.NONE
    if held_until is not None and held_until > now:
        return Measure.NONE  # already suspended
    warning_current = warned_at is not None and warned_at > now - th.window
    return Measure.SUSPENSION if warning_current else Measure.WARNING


WARNING_TEXT = (
    "Several of your recent notices were found manifestly unfounded. If this continues, "
    "notices you send will not be processed for a period (DSA Art. 23)."
)


def hold_text(until: datetime) -> str:
    return (
        "Your notices are not being processed until "
        f"{until:%Y-%m-%d %H:%M} UTC because many were manifestly unfounded (DSA Art. 23)."
    )
