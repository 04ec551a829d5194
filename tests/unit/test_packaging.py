"""The package declares what it imports, and the load generator says which extra it needs."""

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

REPOSITORY: Final = Path(__file__).resolve().parents[2]
FIRST_PARTY: Final = frozenset({"roomserver", "api", "protocol", "loadtest", "tests"})
# Package -> the pyproject.toml extras its imports may come from, beside the dependencies.
PACKAGES: Final = {"roomserver": (), "api": (), "protocol": (), "loadtest": ("loadtest",)}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match is not None, requirement
        names.add(normalized(match.group()))
    return names


def runtime_imports(tree: ast.AST) -> Iterator[str]:
    """Top-level names of absolute imports, except those only for type checkers."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from runtime_imports(ast.Module(body=node.orelse, type_ignores=[]))
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        yield from runtime_imports(node)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_third_party_import_is_declared(package: str) -> None:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = requirement_names(project["dependencies"])
    for extra in PACKAGES[package]:
        declared |= requirement_names(project["optional-dependencies"][extra])
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for path in sorted((REPOSITORY / package).rglob("*.py")):
        for module in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module in sys.stdlib_module_names or module in FIRST_PARTY:
                continue
            providers = {normalized(name) for name in distributions.get(module, [])}
            assert providers, f"{path}: nothing installed provides {module}"
            if not providers & declared:
                undeclared[module] = f"{path.relative_to(REPOSITORY)} ({', '.join(providers)})"
    assert undeclared == {}


def test_loadtest_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    # A None entry in sys.modules is how Python marks a module that cannot be imported.
    script = (
        "import runpy, sys\n"
        "sys.modules['hdrh'] = None\n"
        "sys.argv = ['loadtest', 'idle', '--url', 'ws://127.0.0.1:9/ws']\n"
        "runpy.run_module('loadtest', run_name='__main__', alter_sys=True)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("ROOMSERVER_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert completed.stderr == (
        "loadtest: hdrhistogram not installed; the load generator needs the loadtest extra: "
        "pip install 'roomserver[loadtest]'\n"
    )
