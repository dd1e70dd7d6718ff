"""The package shows the pipeline: stages import only downward, nothing imports in a circle.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked with import-linter over
the real import graph, ``TYPE_CHECKING`` and function-level imports included. The checker is also run on
small packages written here, shaped like the cycles and upward imports the tree once had, to show each kind
of contract really fails on them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from localdev.fnprocess import FunctionProcess, fdk_command
from localdev.stack import LocalStack
from tests.conftest import event_bytes

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "backup_handler"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
STAGES = ("vocabulary", "triggers", "oci", "runs", "answers", "reporting")
TOP_LEVEL = {"__init__", "app", "function", "prewarm", "settings", "errors", "logs"}


def _lint(root: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_import_contracts_hold_for_the_package_the_local_world_and_the_benchmarks() -> None:
    result = _lint(ROOT, ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_contract_the_issue_names_is_declared() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    by_id = {contract["id"]: contract for contract in contracts}
    assert by_id["stages"]["type"] == "layers"
    assert by_id["shipped"]["forbidden_modules"] == ["localdev", "bench"]
    assert set(by_id["models"]["forbidden_modules"]) == {"oci", "fdk"}
    assert set(by_id["acyclic"]["ancestors"]) == {"backup_handler", "localdev", "bench"}
    layers = " ".join(by_id["stages"]["layers"])
    for stage in STAGES:
        assert f"backup_handler.{stage}" in layers


def test_the_package_tree_is_the_stages_plus_the_top_level_modules() -> None:
    packages = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert packages == set(STAGES)
    assert modules == TOP_LEVEL


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_says_its_job_and_what_it_may_import(stage: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / stage / "__init__.py").read_text()))
    assert docstring is not None
    assert "May import:" in docstring


def _package(tmp_path: Path, files: dict[str, str], contracts: str) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    config = tmp_path / "importlinter.toml"
    config.write_text(textwrap.dedent(contracts))
    return _lint(tmp_path, config)


def test_a_cycle_through_a_type_checking_import_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    # The shape of the old reporting ⇄ metrics cycle: the import back is only for a type annotation.
    result = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/reporting.py": "def report() -> None:\n    from pkg import metrics\n",
            "pkg/metrics.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.reporting import X\n",
        },
        """
        [tool.importlinter]
        root_packages = ["pkg"]
        [[tool.importlinter.contracts]]
        name = "acyclic"
        type = "acyclic_siblings"
        ancestors = ["pkg"]
        """,
    )
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_a_stage_importing_a_stage_above_it_breaks_the_layers_contract(tmp_path: Path) -> None:
    result = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/runs/__init__.py": "",
            "pkg/runs/backup.py": "",
            "pkg/triggers/__init__.py": "",
            "pkg/triggers/request.py": "from pkg.runs import backup\n",
        },
        """
        [tool.importlinter]
        root_packages = ["pkg"]
        [[tool.importlinter.contracts]]
        name = "stages"
        type = "layers"
        layers = ["pkg.runs", "pkg.triggers"]
        """,
    )
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_models_importing_the_sdk_break_the_forbidden_contract(tmp_path: Path) -> None:
    result = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/triggers/__init__.py": "",
            "pkg/triggers/events.py": "import json\n",
            "pkg/triggers/request.py": "import json as oci\nimport oci_sdk_standin\n",
            "oci_sdk_standin/__init__.py": "",
        },
        """
        [tool.importlinter]
        root_packages = ["pkg"]
        include_external_packages = true
        [[tool.importlinter.contracts]]
        name = "models"
        type = "forbidden"
        source_modules = ["pkg.triggers"]
        forbidden_modules = ["oci_sdk_standin"]
        """,
    )
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


# What a manual backup loads of the function's own code: the modules it runs and their (empty) stage packages.
# Selection, batching, lifecycle, retention and reporting stay off this path; a new module on it shows up here.
MANUAL_PATH = {
    "backup_handler",
    "backup_handler.errors",
    "backup_handler.logs",
    "backup_handler.vocabulary",
    "backup_handler.vocabulary.fields",
    "backup_handler.vocabulary.ocids",
    "backup_handler.vocabulary.tags",
    "backup_handler.vocabulary.validation",
    "backup_handler.settings",
    "backup_handler.triggers",
    "backup_handler.triggers.events",
    "backup_handler.triggers.payload",
    "backup_handler.triggers.request",
    "backup_handler.oci",
    "backup_handler.oci.api",
    "backup_handler.oci.blockstorage",
    "backup_handler.oci.throttling",
    "backup_handler.runs",
    "backup_handler.runs.backup",
    "backup_handler.runs.idempotency",
    "backup_handler.runs.single",
    "backup_handler.answers",
    "backup_handler.answers.delivery",
    "backup_handler.answers.response",
    "backup_handler.app",
    "backup_handler.function",
}


@pytest.mark.e2e
def test_a_manual_backup_imports_only_the_modules_on_its_path(stack: LocalStack, tmp_path: Path) -> None:
    command = [sys.executable, "-X", "importtime", *fdk_command(ROOT / "func.py")]
    with FunctionProcess(tmp_path / "fn", stack.function_env(), command=command) as fn:
        answer = fn.call(event_bytes("manual.json"))
        log = fn.log()

    assert answer.status == 200
    imported = {line.rsplit("|", 1)[-1].strip() for line in log.splitlines() if line.startswith("import time:")}
    assert {name for name in imported if name.split(".")[0] == "backup_handler"} == MANUAL_PATH
