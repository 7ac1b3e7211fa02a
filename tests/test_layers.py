"""The floor plan: imports point down, and only one import namespace is installed.

Layers, lowest first (a module may import its own layer and the ones below it):

0. foundation: ``newsflow.settings``, ``progress``, ``cancel``, ``jsonlines``, and in ``tasks/``
   the records, errors and the spool contract every layer shares;
1. the stages: ``newsflow.tasks``;
2. the warehouse: ``newsflow.warehouse`` (its loader reads batches through the spool and rows
   through the contract, never a stage's internals);
3. orchestration: ``newsflow.flows``, then ``newsflow.deploy`` on top of it;
4. the command line: ``newsflow.cli``.
"""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tasks", "warehouse", "flows", "deploy")
FOUNDATION_TASKS = {
    "newsflow.tasks.records",
    "newsflow.tasks.errors",
    "newsflow.tasks.contract",
    "newsflow.tasks.hosttimes",
}


def layer(module: str) -> float:
    parts = module.split(".")
    if module in FOUNDATION_TASKS or module == "newsflow.tasks":
        return 0
    if len(parts) == 1 or parts[1] in {"settings", "progress", "cancel", "jsonlines"}:
        return 0
    return {"tasks": 1, "warehouse": 2, "flows": 3, "deploy": 3.5, "cli": 4, "__main__": 4}[
        parts[1]
    ]


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in ("newsflow", *PACKAGES):  # the linked folders, read where they are
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if top != "newsflow":
                parts.insert(0, "newsflow")
            found[".".join(parts)] = path
    return found


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] in {"newsflow", *PACKAGES}}


def target(name: str, known: dict[str, Path]) -> str:
    """The module an imported name lives in (``from newsflow.tasks import spool`` -> spool)."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def test_the_stage_warehouse_and_flow_folders_import_as_newsflow_subpackages() -> None:
    for package in PACKAGES:
        link = ROOT / "newsflow" / package
        assert link.is_symlink() and link.resolve() == ROOT / package


def test_no_module_imports_a_layer_above_its_own() -> None:
    known = modules()
    upward = []
    for module, path in known.items():
        for name in imports(path):
            assert name.split(".")[0] == "newsflow", f"{module} imports top-level {name}"
            imported = target(name, known)
            if layer(imported) > layer(module):
                upward.append(f"{module} -> {imported}")
    assert not upward, "imports that point up:\n" + "\n".join(sorted(upward))


def test_the_loader_uses_the_spool_contract_never_a_stage() -> None:
    """The loader and its merges read batches through the spool and rows through the contract;
    what a stage computes arrives in the spooled rows."""
    known = modules()
    allowed = FOUNDATION_TASKS | {"newsflow.tasks.spool"}
    reached = sorted(
        f"{module} -> {target(name, known)}"
        for module, path in known.items()
        if module == "newsflow.warehouse.loader" or module.startswith("newsflow.warehouse.merges")
        for name in imports(path)
        if target(name, known).startswith("newsflow.tasks.") and target(name, known) not in allowed
    )
    assert not reached, "the loader reaches into stage internals:\n" + "\n".join(reached)


def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"newsflow"}
    for package in PACKAGES:
        assert f"newsflow/{package}/__init__.py" in names
    assert any(n.startswith("newsflow/warehouse/migrations/") and n.endswith(".sql") for n in names)
