"""Cohen's kappa and the figures CSV."""

from __future__ import annotations

import csv
import io

import pytest
from sklearn.metrics import cohen_kappa_score

from services.router.kpis import cohen_kappa
from shared.figures import figures_csv


def _triples(a: list[str], b: list[str]) -> list[tuple[str, str, int]]:
    counts: dict[tuple[str, str], int] = {}
    for x, y in zip(a, b, strict=True):
        counts[(x, y)] = counts.get((x, y), 0) + 1
    return [(x, y, n) for (x, y), n in counts.items()]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "c"]),
        (["a", "b", "a", "b"], ["b", "a", "b", "a"]),  # systematic disagreement: kappa -1
        (["x"] * 7 + ["y"] * 3, ["x"] * 5 + ["y"] * 5),
    ],
)
def test_kappa_matches_scikit_learn(first: list[str], second: list[str]) -> None:
    assert cohen_kappa(_triples(first, second)) == pytest.approx(cohen_kappa_score(first, second))


def test_kappa_edge_cases() -> None:
    assert cohen_kappa([]) is None
    # Both raters always give the same single label: chance agreement is total.
    assert cohen_kappa([("a", "a", 4)]) == 1.0
    # Agreement no better than chance.
    assert cohen_kappa([("a", "a", 1), ("a", "b", 1), ("b", "a", 1), ("b", "b", 1)]) == 0.0


def test_figures_csv_has_one_row_per_number_with_joined_keys() -> None:
    data = {
        "period": {"since": "2026-01-01T00:00:00+00:00", "until": "2026-02-01T00:00:00+00:00"},
        "notices": [
            {
                "dsa_category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                "source": "user_notice",
                "notices": 3,
            }
        ],
        "complaints": {"received": 2, "median_decision_seconds": None},
        "notices_total": 3,
    }
    rows = list(csv.reader(io.StringIO(figures_csv(data, {"notices": ("dsa_category", "source")}))))
    assert rows == [
        ["section", "key", "metric", "value"],
        ["period", "", "since", "2026-01-01T00:00:00+00:00"],
        ["period", "", "until", "2026-02-01T00:00:00+00:00"],
        ["notices", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD|user_notice", "notices", "3"],
        ["complaints", "", "received", "2"],
        ["complaints", "", "median_decision_seconds", ""],
        ["totals", "", "notices_total", "3"],
    ]
