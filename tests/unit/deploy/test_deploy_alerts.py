"""The alert rules of deploy/k8s: promtool checks them and runs their unit tests, the
PrometheusRule carries the same groups, and deploy/README.md lists every alert."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "k8s" / "base"
RULES = BASE / "alerts.rules.yml"
# `make promtool` unpacks Debian's prometheus package here.
UNPACKED = ROOT / ".devstack" / "tools" / "prometheus" / "usr" / "bin" / "promtool"


def promtool() -> str:
    if UNPACKED.is_file():
        return str(UNPACKED)
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required in CI (make promtool)")
        pytest.skip("promtool is not installed (make promtool)")
    return found


def alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules() -> None:
    out = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in out.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    out = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"],
        cwd=BASE,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_promtool_test() -> None:
    tests = yaml.safe_load((BASE / "alerts.test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    assert tested == set(alert_names())


def test_prometheus_rule_carries_exactly_the_rule_file() -> None:
    rule = yaml.safe_load((BASE / "prometheusrule.yaml").read_text())
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_readme_table_lists_every_alert() -> None:
    text = (ROOT / "deploy" / "README.md").read_text()
    listed = re.findall(r"^\s*\| (Tns\w+) \|", text, flags=re.MULTILINE)
    assert listed == alert_names()
