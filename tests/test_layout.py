"""The package's layout as rules, read from the imports: which part may import which, and no cycle."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "plugin"
PACKAGE = SOURCE / "escalations"

# part -> the parts it may import (a part is a subpackage, or `config` at the root)
MAY_IMPORT = {
    "core": {"core"},
    "config": {"core"},
    "zendesk": {"core", "config", "zendesk"},
    "service": {"core", "config", "zendesk", "service"},
    "admin": {"core", "config", "zendesk", "service", "admin", "sandbox"},
    # the sandbox serves the real Help Center snippet, as a theme carrying it would
    "sandbox": {"core", "config", "sandbox", "admin.theme_package"},
}
# `escalations start` without an account and `escalations sandbox` run the sandbox; `escalations demo` tours it
IMPORT_THE_SANDBOX = {"escalations.admin.cli", "escalations.admin.demo"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, runtime_only: bool = False) -> Iterator[str]:
    """The package's modules `path` imports (`runtime_only`: leaving out those under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(child) for child in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "escalations")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "escalations":
            assert node.level == 0, f"{path}: relative import"
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in MODULES else node.module


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "root"


def allowed(importer: str, imported: str) -> bool:
    rules = MAY_IMPORT.get(part_of(importer), set())
    return part_of(imported) in rules or any(imported == f"escalations.{rule}" for rule in rules)


def test_every_module_belongs_to_a_part_with_rules() -> None:
    assert {part_of(module) for module in MODULES} == {"root", *MAY_IMPORT}
    assert {module for module in MODULES if part_of(module) == "root"} == {"escalations"}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_part_imports_only_what_its_rules_allow(module: str) -> None:
    forbidden = sorted({imported for imported in imports(MODULES[module]) if not allowed(module, imported)} - {module})
    assert forbidden == [], f"{module} may import only {sorted(MAY_IMPORT.get(part_of(module), set()))}"


def test_only_the_commands_that_run_the_sandbox_import_it() -> None:
    importers = {
        module
        for module, path in MODULES.items()
        if part_of(module) != "sandbox" and any(part_of(imported) == "sandbox" for imported in imports(path))
    }
    assert importers <= IMPORT_THE_SANDBOX


def test_no_module_imports_itself_back_through_others() -> None:
    graph = {module: set(imports(path, runtime_only=True)) - {module} for module, path in MODULES.items()}
    cycles = []
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                cycles.append([*trail[trail.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*trail, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


IMPORT_EVERY_MODULE = """
import importlib, json, os, pkgutil
before = dict(os.environ)
import escalations
names = [module.name for module in pkgutil.walk_packages(escalations.__path__, "escalations.")]
for name in names:
    importlib.import_module(name)
changed = sorted(key for key in {*before, *os.environ} if before.get(key) != os.environ.get(key))
print(json.dumps({"imported": names, "environment_changed": changed}))
"""


def test_importing_any_module_creates_nothing_and_changes_no_environment(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ESCALATIONS_DATA_DIR=data\nREDIS_URL=redis://127.0.0.1:1/0\n")  # never read
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_MODULE],
        cwd=tmp_path,
        env={"PYTHONPATH": str(SOURCE), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout)
    assert set(report["imported"]) == set(MODULES) - {"escalations"}
    assert report["environment_changed"] == []
    assert sorted(path.name for path in tmp_path.rglob("*")) == [".env"]


def test_every_module_the_suite_hands_out_first_exists() -> None:
    from tests.conftest import LONGEST_FIRST

    assert [name for name in LONGEST_FIRST if not (Path(__file__).parent / name).is_file()] == []


def test_the_longest_modules_come_first_and_every_module_keeps_its_tests_in_order() -> None:
    from types import SimpleNamespace

    from tests.conftest import LONGEST_FIRST, pytest_collection_modifyitems

    names = ["test_app_logic.py", LONGEST_FIRST[1], "test_app_logic.py", LONGEST_FIRST[0], LONGEST_FIRST[1]]
    items = [SimpleNamespace(path=Path("tests") / name, order=n) for n, name in enumerate(names)]
    pytest_collection_modifyitems(items)  # items stand-ins: only their path is read
    assert [(item.path.name, item.order) for item in items] == [
        (LONGEST_FIRST[0], 3),
        (LONGEST_FIRST[1], 1),
        (LONGEST_FIRST[1], 4),
        ("test_app_logic.py", 0),
        ("test_app_logic.py", 2),
    ]
