"""The apps import one way only (STYLE.md, "Layers and simplicity").

`api` → `integrations` → `reports` → `sessions` → `trees` → `resolutionflow`; the
project's settings and root URLs, `bench/` and the tests may import anything. The rules are the
import-linter contracts in pyproject.toml (also run by `make lint`); these
tests run them on every test run and show that they catch a violation.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import grimp
import pytest
from importlinter import api  # noqa: F401  (configures import-linter's settings)
from importlinter.application import use_cases
from importlinter.application.user_options import UserOptions
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
CONTRACT_TYPES = {"layers": LayersContract, "forbidden": ForbiddenContract}


@pytest.fixture(scope="module")
def options() -> UserOptions:
    return use_cases.read_user_options(str(PYPROJECT))


@pytest.fixture(scope="module")
def graph(options: UserOptions) -> grimp.ImportGraph:
    return grimp.build_graph(*options.session_options["root_packages"], cache_dir=None)


def broken_contracts(options: UserOptions, graph: grimp.ImportGraph) -> list[str]:
    broken = []
    for contract_options in options.contracts_options:
        contract = CONTRACT_TYPES[contract_options["type"]](
            name=contract_options["name"],
            session_options=options.session_options,
            contract_options=contract_options,
        )
        if not contract.check(copy.deepcopy(graph), verbose=False).kept:
            broken.append(contract.name)
    return broken


def test_the_code_keeps_every_contract():
    # The report (which import breaks which contract) is in the captured output.
    assert use_cases.lint_imports(str(PYPROJECT), no_logo=True, cache_dir=None)


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("trees.views", "sessions.models", "Each app imports only the apps below it"),
        ("trees.upward", "reports.metrics", "Each app imports only the apps below it"),
        ("sessions.views.home", "reports.presentation", "Each app imports only the apps below it"),
        ("resolutionflow.views", "trees.models", "Each app imports only the apps below it"),
        ("resolutionflow.clock", "sessions.models", "Each app imports only the apps below it"),
        (
            "sessions.templatetags.session_tags",
            "sessions.views.exports",
            "Template tags never import views",
        ),
        ("trees.templatetags.upward", "trees.views", "Template tags never import views"),
    ],
    ids=lambda value: value if "." in value else value.split()[0].lower(),
)
def test_an_upward_import_breaks_a_contract(options, graph, importer, imported, contract):
    graph = copy.deepcopy(graph)
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="")
    assert broken_contracts(options, graph) == [contract]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("resolutionflow.urls", "reports.views"),
        ("resolutionflow.settings", "sessions.apps"),
        ("reports.views", "sessions.models"),
        ("sessions.views.home", "trees.models"),
        ("trees.tests.test_views", "reports.metrics"),
        ("resolutionflow.tests.test_foundation", "sessions.views.home"),
    ],
    ids=lambda value: value,
)
def test_a_downward_import_and_the_exempt_modules_break_none(options, graph, importer, imported):
    graph = copy.deepcopy(graph)
    graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="")
    assert broken_contracts(options, graph) == []


def _private_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for each `from module import _name` and `module._name` in `path`."""
    tree = ast.parse(path.read_text())
    found, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append((node.module, alias.name))
                else:
                    modules[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr != "_meta"  # Django's public model options
        ):
            found.append((modules[node.value.id], node.attr))
    return found


def test_no_module_uses_another_modules_private_names():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}.{name}"
        for package in ("resolutionflow", "trees", "sessions", "reports")
        for path in sorted((ROOT / package).rglob("*.py"))
        if not {"tests", "migrations"} & set(path.parts)
        for module, name in _private_imports(path)
    ]
    assert offenders == []


def test_the_private_names_check_finds_both_forms(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("from resolutionflow import clock\nfrom trees.x import _y\nclock._source\n")
    assert _private_imports(module) == [("trees.x", "_y"), ("resolutionflow.clock", "_source")]
