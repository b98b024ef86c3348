import subprocess
import sys
from pathlib import Path

from services.router.settings import DEFAULT_POLICY

ROOT = Path(__file__).resolve().parents[3]


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.router", "check", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_accepts_the_shipped_policy() -> None:
    result = _check(str(DEFAULT_POLICY))
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


def test_check_names_what_is_wrong_in_a_bad_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: x\n"
        "defaults: {queue: general, action: remove_content}\n"
        "legal_clocks:\n"
        "  - {name: tco, source: authority_order, area: violent_extremism, minutes: 0}\n"
    )
    result = _check(str(bad))
    assert result.returncode == 1
    assert "legal_clocks.0.minutes" in result.stderr
