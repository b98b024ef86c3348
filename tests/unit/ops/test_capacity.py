"""Erlang C and the backlog model against published and hand-computed values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from services.router import capacity
from services.router.capacity import (
    backlog_staffing,
    erlang_c,
    erlang_staffing,
    project_breaches,
    service_level,
)


def _erlang_c_by_the_formula(n: int, a: float) -> float:
    """C(N, A) = [A^N/N! * N/(N-A)] / [sum_{k<N} A^k/k! + A^N/N! * N/(N-A)] (DOMAIN.md 5)."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(2, 1.0), (5, 3.2), (14, 10.0), (30, 25.5), (60, 52.0)])
def test_erlang_c_matches_the_textbook_formula(n: int, a: float) -> None:
    assert erlang_c(n, a) == pytest.approx(_erlang_c_by_the_formula(n, a), rel=1e-12)


def test_two_servers_at_half_load_wait_one_time_in_three() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_unstable_queue_always_waits() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert service_level(9, 10.0, 180, 20) == 0.0


def test_staffing_matches_the_published_100_calls_per_half_hour_example() -> None:
    # pyworkforce's README example: 100 transactions per 30 minutes, AHT 3 min, 80% in 20 s,
    # occupancy cap 85%, shrinkage 30% -> 14 raw positions, 20 positions, SL 0.88835,
    # occupancy 0.71429, waiting probability 0.17413.
    s = erlang_staffing(
        arrivals_per_hour=200,
        aht_seconds=180,
        target_seconds=20,
        service_level_target=0.8,
        occupancy_cap=0.85,
        shrinkage=0.3,
    )
    assert s.load_erlangs == pytest.approx(10.0)
    assert s.seats == 14
    assert math.ceil(s.fte) == 20
    assert s.service_level == pytest.approx(0.8883500191794669, rel=1e-9)
    assert s.occupancy == pytest.approx(0.7142857142857143)
    assert s.waiting_probability == pytest.approx(0.1741319335950498, rel=1e-9)
    # 13 reviewers would answer only 79.6% within 20 s.
    assert service_level(13, 10.0, 180, 20) < 0.8


def test_occupancy_cap_adds_reviewers_beyond_the_service_level() -> None:
    loose = erlang_staffing(
        arrivals_per_hour=200, aht_seconds=180, target_seconds=20, service_level_target=0.8
    )
    capped = erlang_staffing(
        arrivals_per_hour=200,
        aht_seconds=180,
        target_seconds=20,
        service_level_target=0.8,
        occupancy_cap=0.6,
    )
    assert loose.seats == 14
    assert capped.seats == 17  # ceil(10 / 0.6)


def test_backlog_model_clears_the_backlog_and_takes_the_inflow() -> None:
    # 480 cases to clear in 8 h plus 30 new ones per hour = 90 per hour; at 10 minutes each that
    # is 15 reviewers busy, 20 seats at 75% occupancy, 25 FTE with 20% shrinkage.
    s = backlog_staffing(
        arrivals_per_hour=30,
        backlog=480,
        clearance_hours=8,
        aht_seconds=600,
        occupancy_cap=0.75,
        shrinkage=0.2,
    )
    assert s.throughput_per_hour == 90
    assert s.seats == 20
    assert s.fte == 25.0
    assert s.occupancy == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("field", "value"),
    [("aht_seconds", 0), ("occupancy_cap", 1.5), ("shrinkage", 1.0), ("clearance_hours", 0)],
)
def test_bad_inputs_are_refused(field: str, value: float) -> None:
    args = {
        "arrivals_per_hour": 10.0,
        "backlog": 5,
        "clearance_hours": 4.0,
        "aht_seconds": 300.0,
        "occupancy_cap": 0.8,
        "shrinkage": 0.3,
    }
    with pytest.raises(ValueError, match=field):
        backlog_staffing(**{**args, field: value})  # type: ignore[arg-type]


def test_projection_counts_cases_the_reviewers_on_shift_cannot_reach_in_time() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    # Two reviewers at 10 minutes a case finish one case every 5 minutes: the k-th case is done
    # at 5k minutes. One case is already an hour late and is worked first.
    deadlines = [now + timedelta(minutes=m) for m in (60, 3, 14, 12)] + [now - timedelta(hours=1)]
    risk = project_breaches(
        queue="q",
        deadlines=deadlines,
        now=now,
        arrivals_per_hour=6,
        aht_seconds=600,
        reviewers=2,
    )
    # Ordered: -60, 3, 12, 14, 60 minutes, done at 5, 10, 15, 20, 25: only the last is in time;
    # three misses are still ahead.
    assert risk.projected_breaches == 3
    assert risk.past_deadline == 1
    assert risk.capacity_per_hour == 12
    assert risk.seconds_to_clear == pytest.approx(5 / (12 - 6) * 3600)


def test_projection_without_reviewers_misses_everything_and_never_clears() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    risk = project_breaches(
        queue="q",
        deadlines=[now + timedelta(days=1)],
        now=now,
        arrivals_per_hour=1,
        aht_seconds=600,
        reviewers=0,
    )
    assert risk.projected_breaches == 1
    assert math.isinf(risk.seconds_to_clear)


def test_large_loads_are_staffed_by_bisection_exactly_as_the_linear_search_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kwargs = {
        "arrivals_per_hour": 2.4e6,
        "aht_seconds": 36.0,
        "target_seconds": 1.0,
        "service_level_target": 0.95,
    }
    large = erlang_staffing(**kwargs)
    assert large.load_erlangs == 24_000 > capacity.LINEAR_SEARCH_ERLANGS
    monkeypatch.setattr(capacity, "LINEAR_SEARCH_ERLANGS", 1e9)
    linear = erlang_staffing(**kwargs)
    assert large.seats == linear.seats == 24_082
    assert large.service_level == pytest.approx(linear.service_level, abs=1e-9)
    # One reviewer fewer misses the target.
    assert service_level(large.seats - 1, 24_000, 36.0, 1.0) < 0.95


def test_a_huge_load_is_planned_quickly_by_the_occupancy_cap() -> None:
    s = erlang_staffing(
        arrivals_per_hour=1e7,
        aht_seconds=86400,
        target_seconds=20,
        service_level_target=0.8,
        occupancy_cap=0.85,
    )
    assert s.load_erlangs == 1e7 * 24
    assert s.seats == math.ceil(s.load_erlangs / 0.85)
    assert s.service_level is not None and s.service_level >= 0.8
