"""The wheel carries every file the installed ledger reads at run time, and nothing else.

`.ci/wheel` proves it end to end (it builds the wheel, installs it outside the checkout and
runs the first commands a user runs); these checks say early which file a change left out.
"""
from __future__ import annotations

import re
import tomllib

import pytest

from tests.support.deploy_files import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGES = sorted(pattern.rstrip("*") for pattern in SETUPTOOLS["packages"]["find"]["include"])
NOT_SHIPPED = {
    # data files inside the packages that only the tests read
    "schemas/fixtures": "schemas that must fail the compatibility check (tests/unit/schemas/test_compat.py)",
}
SKIPPED = {"__pycache__", ".pytest_cache"}


def data_files(package: str) -> list[str]:
    """Every file under ``package`` but its Python modules, relative to the repository."""
    root = REPO / package
    return sorted(str(path.relative_to(REPO)) for path in root.rglob("*")
                  if path.is_file() and path.suffix not in (".py", ".pyc")
                  and not SKIPPED & set(path.relative_to(root).parts))


def shipped(package: str) -> set[str]:
    root = REPO / package
    return {str(path.relative_to(REPO)) for pattern in SETUPTOOLS["package-data"].get(package, [])
            for path in root.glob(pattern) if path.is_file()}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_data_file_of_a_package_ships_with_it(package):
    missing = [path for path in data_files(package)
               if path not in shipped(package) and not any(path.startswith(k + "/") for k in NOT_SHIPPED)]
    assert not missing, f"the wheel would leave out {missing}: add them to [tool.setuptools.package-data]"


@pytest.mark.parametrize("package, pattern", [(package, pattern) for package, patterns
                                              in SETUPTOOLS["package-data"].items() for pattern in patterns])
def test_every_package_data_pattern_names_files_that_exist(package, pattern):
    assert package in PACKAGES, f"package-data names {package!r}, which is not a shipped package"
    assert list((REPO / package).glob(pattern)), f"package-data {package}: {pattern!r} matches no file"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_shipped_module_imports_the_tests(package):
    importing = [str(path.relative_to(REPO)) for path in (REPO / package).rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+tests\b", path.read_text(encoding="utf-8"), re.M)]
    assert not importing, f"{importing} import tests/, which the wheel does not ship"


def test_the_tests_and_docs_are_not_packages_of_the_wheel():
    assert not {"tests", "docs"} & set(PACKAGES)
    assert SETUPTOOLS.get("package-data", {}).keys() <= set(PACKAGES)
