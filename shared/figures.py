"""Report figures as CSV: one ``section,key,metric,value`` row per number.

Used by the services' transparency exports. A figures dict holds ``period`` (``since``,
``until``), list sections (rows of dimension columns and metric columns) and single-row sections
(a dict of metrics); ``dimensions`` names each list section's dimension columns, whose values are
joined with ``|`` into the key.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any


def figures_csv(data: Mapping[str, Any], dimensions: Mapping[str, Sequence[str]]) -> str:
    """Flatten ``data`` to CSV text with a header row; ``None`` becomes an empty cell."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "key", "metric", "value"])
    for section, value in data.items():
        if isinstance(value, list):
            keys = dimensions.get(section, ())
            for row in value:
                key = "|".join(str(row[k]) for k in keys)
                for metric, v in row.items():
                    if metric not in keys:
                        w.writerow([section, key, metric, _cell(v)])
        elif isinstance(value, Mapping):
            for metric, v in value.items():
                w.writerow([section, "", metric, _cell(v)])
        else:
            w.writerow(["totals", "", section, _cell(value)])
    return buf.getvalue()


def _cell(value: object) -> str:
    return "" if value is None else str(value)
