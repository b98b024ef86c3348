"""The arrivals forecast on a synthetic series with daily and weekly seasonality."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.router.forecast import DAY, WEEK, forecast_hourly, season_for


def _truth(t: int) -> float:
    """100 a hour on average, a daily wave of +-40, weekends (days 5 and 6) 30 lower."""
    weekend = -30.0 if (t // DAY) % 7 >= 5 else 0.0
    return 100 + 40 * math.sin(2 * math.pi * (t % DAY) / DAY) + weekend


def test_weekly_and_daily_pattern_is_forecast_within_a_few_percent() -> None:
    rng = np.random.default_rng(7)
    weeks = 4
    horizon = 2 * DAY + 12  # into the weekend: the weekday pattern has to be known
    start = weeks * WEEK + 4 * DAY  # forecast from Friday 00:00
    history = [_truth(t) + rng.normal(0, 5) for t in range(start)]
    got = forecast_hourly(history, horizon)
    truth = [_truth(start + h) for h in range(horizon)]
    mape = float(np.mean([abs(g - t) / t for g, t in zip(got, truth, strict=True)]))
    flat = [sum(history[-DAY:]) / DAY] * horizon
    flat_mape = float(np.mean([abs(g - t) / t for g, t in zip(flat, truth, strict=True)]))
    assert mape < 0.08
    assert mape < flat_mape / 3
    # Saturday noon is forecast lower than Friday noon, as in the series.
    assert got[DAY + 6] < got[6] - 15


def test_season_follows_the_history_available() -> None:
    assert season_for(2 * WEEK) == WEEK
    assert season_for(2 * WEEK - 1) == DAY
    assert season_for(2 * DAY) == DAY
    assert season_for(2 * DAY - 1) is None


def test_short_history_gives_its_mean_and_no_history_gives_zero() -> None:
    assert forecast_hourly([2.0, 4.0, 6.0], 3) == [4.0, 4.0, 4.0]
    assert forecast_hourly([], 2) == [0.0, 0.0]
    assert forecast_hourly([0.0] * (3 * WEEK), 2) == [0.0, 0.0]
    with pytest.raises(ValueError, match="horizon"):
        forecast_hourly([1.0], 0)


def test_forecast_is_never_negative() -> None:
    history = [0.0] * (2 * DAY - 1) + [50.0] + [0.0] * DAY
    assert min(forecast_hourly(history, DAY)) >= 0.0
