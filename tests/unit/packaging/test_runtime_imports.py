"""Every third-party module the installed product imports belongs to a runtime dependency.

The dev environment has more installed than the wheel asks for (test tools pull in their own
dependencies), so a module imported only there works in every test and fails for the user who
installs the wheel. This reads every import in the shipped packages and names the one that no
runtime dependency provides.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ("ledger", "streams", "schemas", "projections", "analytics")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def _runtime_closure() -> set[str]:
    """The runtime dependencies of pyproject.toml and, installed, everything they require."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    seen, todo = set(), [_name(r) for r in declared]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            wanted = requires(name) or ()
        except PackageNotFoundError:
            continue  # not installed here (a requirement for another platform): it provides nothing
        for requirement in wanted:
            if "extra ==" not in requirement:
                todo.append(_name(requirement))
    return seen


def _top_level_imports() -> dict[str, str]:
    """Top-level module -> the first file importing it, for every absolute import shipped."""
    found: dict[str, str] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_each_third_party_import_comes_from_a_runtime_dependency():
    runtime = _runtime_closure()
    providers = packages_distributions()
    missing = []
    for module, where in sorted(_top_level_imports().items()):
        if module in sys.stdlib_module_names or module in SHIPPED or module == "bench" or module == "tests":
            continue
        dists = {d.lower().replace("_", "-") for d in providers.get(module, ())}
        if not dists & runtime:
            missing.append(f"{module} (imported by {where}; provided by {sorted(dists) or 'nothing installed'})")
    assert not missing, "imports no runtime dependency provides: " + "; ".join(missing)
