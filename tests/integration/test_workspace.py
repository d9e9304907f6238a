"""The monorepo's structural rules: each package stands alone on stalwart-core."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from stalwart.core._cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
IMPORT = re.compile(r"^\s*(?:from|import)\s+stalwart\.(\w+)", re.MULTILINE)


def _module(package: Path) -> str:
    return package.name.replace("-", "_")


def test_there_are_six_packages() -> None:
    assert ["core", "crash-logger", "fallbacks", "ipc-logger", "monitoring", "shared-data"] == [
        p.name for p in PACKAGES
    ]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_depends_on_core_and_nothing_else_of_ours(package: Path) -> None:
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    ours = sorted(
        re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]
        for dep in project["dependencies"]
        if dep.startswith("stalwart")
    )
    assert ([] if package.name == "core" else ["stalwart-core"]) == ours
    assert f"stalwart-{package.name}" == project["name"]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_source_imports_only_itself_and_core(package: Path) -> None:
    allowed = {"core", _module(package)}
    for source in (package / "src").rglob("*.py"):
        imported = set(IMPORT.findall(source.read_text()))
        assert set() == imported - allowed, f"{source} imports {imported - allowed}"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_package_layout_is_a_typed_namespace_member(package: Path) -> None:
    src = package / "src" / "stalwart"
    assert not (src / "__init__.py").exists(), "stalwart is a PEP 420 namespace"
    module = src / _module(package)
    assert (module / "py.typed").exists()
    assert re.search(r'__version__ = "\d+\.\d+\.\d+', (module / "__about__.py").read_text())
    assert "## [Unreleased]" in (package / "CHANGELOG.md").read_text()
    assert (package / "README.md").read_text().startswith(f"# stalwart-{package.name}")


def test_every_installed_plugin_loads_without_warning() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert 0 == result.exit_code
    assert "" == result.stderr
    for command in ("store", "logs", "ipc", "files", "monitor"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.MULTILINE), command
