"""Every Grafana query names only metrics (and labels) the services export."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# Every module that defines metrics; importing them registers the metrics.
METRIC_MODULES = (
    "shared.metrics",
    "services.intake.metrics",
    "services.router.metrics",
    "services.enforcement.metrics",
    "services.enforcement.sor",
    "services.classifier.signals.base",
    "services.classifier.training",
)
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
}
SELECTOR = re.compile(r"\b(tns_[a-z0-9_]+)\s*(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def exported() -> dict[str, set[str]]:
    """Series name -> label names, for every metric the services define."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    out: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():
        labels = set(getattr(collector, "_labelnames", ()))
        kind = getattr(collector, "_type", None)
        if not name.startswith("tns_") or kind is None:
            continue
        family = name.removesuffix("_total").removesuffix("_created")
        for suffix in SUFFIXES[kind]:
            out[family + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return out


def queries(node: Any) -> list[str]:
    """Every PromQL expression in a dashboard: panel targets and templating queries."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(queries(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(queries(item))
    return found


def test_the_four_dashboards_are_there_with_unique_uids() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert {"pipeline-overview", "service", "review-queues-sla", "capacity"} <= names
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_refers_only_to_exported_metrics_and_their_labels(path: Path) -> None:
    metrics = exported()
    exprs = queries(json.loads(path.read_text()))
    assert exprs, "a dashboard without queries"
    for expr in exprs:
        names = SELECTOR.findall(expr)
        assert names, f"no tns_ metric in {expr!r}"
        for name, selector in names:
            assert name in metrics, f"{path.name}: {name} is not exported ({expr})"
            for label in MATCHER.findall(selector or ""):
                assert label in metrics[name], f"{path.name}: {name} has no label {label!r}"


def test_provisioning_points_at_a_prometheus_and_a_dashboards_folder() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    assert [d["type"] for d in ds["datasources"]] == ["prometheus"]
    dash = yaml.safe_load((GRAFANA / "provisioning/dashboards/tns.yaml").read_text())
    assert dash["providers"][0]["options"]["path"]


def test_a_misspelt_metric_would_be_caught() -> None:
    metrics = exported()
    assert "tns_router_queue_depth" in metrics
    assert "tns_router_queue_depths" not in metrics
    assert "tns_http_request_seconds_bucket" in metrics
    assert "le" in metrics["tns_http_request_seconds_bucket"]
