"""The staffing table per site and shift."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.router.staffing import StaffingPlan, format_table, staffing_table


def _plan(**queue: object) -> StaffingPlan:
    return StaffingPlan.model_validate(
        {
            "sites": [
                {
                    "name": "dublin",
                    "share": 0.5,
                    "shifts": [
                        {"name": "day", "start": 8, "end": 16, "planned": 10},
                        {"name": "night", "start": 22, "end": 6},
                    ],
                }
            ],
            "queues": [
                {
                    "queue": "chat",
                    "model": "erlang_c",
                    "aht_seconds": 180,
                    "target_seconds": 20,
                    "service_level": 0.8,
                    "occupancy_cap": 0.85,
                    "shrinkage": 0.3,
                    **queue,
                }
            ],
        }
    )


def test_each_shift_is_staffed_for_its_busiest_hour_at_the_sites_share() -> None:
    plan = _plan()
    # 400 an hour at noon (the site takes half: 200 an hour, 10 Erlangs: 14 seats), 40 at night.
    arrivals = {"chat": [400.0 if h == 12 else 40.0 for h in range(24)]}
    day, night = staffing_table(plan, arrivals, {"chat": 0})
    assert (day["seats"], day["peak_arrivals_per_hour"], day["planned"]) == (14, 200.0, 10)
    assert night["peak_arrivals_per_hour"] == 20.0
    assert night["seats"] < day["seats"]
    table = format_table([day, night])
    assert "dublin  day    ALL" in table and "10 (-4)" in table


def test_overnight_shift_covers_the_hours_past_midnight() -> None:
    arrivals = {"chat": [400.0 if h == 3 else 0.0 for h in range(24)]}
    _, night = staffing_table(_plan(), arrivals, {"chat": 0})
    assert night["seats"] == 14


def test_plan_without_the_models_targets_is_refused_naming_them() -> None:
    with pytest.raises(ValidationError, match="service_level"):
        _plan(service_level=None)
