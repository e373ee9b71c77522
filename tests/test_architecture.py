"""The package's folders are its layers: imports point one way, with no cycle and no dodging import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tl_lightning

PACKAGE = Path(tl_lightning.__file__).parent
# Shared by every layer; they import nothing of the package but each other (files.py raises errors.UserError).
BASE = {"conf", "errors", "figures", "files", "progress", "spreadsheet"}
# What each layer may import besides itself and BASE. Anything else is a wrong-way dependency.
ALLOWED = {
    "data": set(),
    "model": {"data"},
    "report": set(),
    "features": {"data", "model"},
    "tools": {"data", "model", "features", "report"},  # report: its reader of run files (read.py), one for every tool
    "run": {"data", "model", "features", "report"},
}
MAX_LINES = 250
# run/'s rooms (subpackages), in import order: a room imports only rooms before it, never the top of run/
# (cli, train, sweep), which may import every room.
ROOMS = ["launch", "folder", "recovery", "inputs", "config", "outputs", "observe"]
MAX_TOP_MODULES = 8  # modules directly in run/: a reader finds the entry points there at once
# Late imports allowed, each with its reason: the command line answers --help and bad input before Lightning loads.
LATE = {("tl_lightning.run.cli", "tl_lightning.run.train")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> list[tuple[str, bool]]:
    """(imported package module, at module level?) for every import of tl_lightning in `path`."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from pkg import sub` imports the submodule where one exists, else a name of pkg.
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module for a in node.names
            ]
        else:
            continue
        found += [(n, id(node) in top_level) for n in names if n.split(".")[0] == "tl_lightning"]
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: {m for m, _ in imports(path, set(mods))} - {name} for name, path in mods.items()}


def test_no_import_cycle():
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_imports_point_one_way_and_none_is_late():
    mods = modules()
    wrong, late = [], []
    for name, path in mods.items():
        mine = layer(name)
        for target, top in imports(path, set(mods)):
            if not top and (name, target) not in LATE:
                late.append(f"{name} imports {target} inside a function")
            theirs = layer(target)
            if mine in ALLOWED and theirs != mine and theirs not in BASE and theirs not in ALLOWED[mine]:
                wrong.append(f"{name} ({mine}) imports {target} ({theirs})")
            if mine in BASE and target != "tl_lightning" and theirs not in BASE:
                wrong.append(f"{name} is a base module but imports {target}")
    assert not wrong, "wrong-way imports:\n" + "\n".join(wrong)
    assert not late, "late imports:\n" + "\n".join(late)


def test_the_checker_sees_a_wrong_way_import(tmp_path):
    # The walk itself must find what it looks for: a data module importing the run layer.
    bad = tmp_path / "bad.py"
    bad.write_text("from tl_lightning.run.train import train\n\ndef f():\n    import tl_lightning.model\n")
    assert imports(bad, set(modules())) == [("tl_lightning.run.train", True), ("tl_lightning.model", False)]


def test_the_command_line_answers_help_without_torch():
    # `python -m tl_lightning --help` and refused overrides: seconds, not the ~6 s of importing Lightning.
    code = "import sys, tl_lightning.run.cli\nprint(sorted(m for m in ('torch', 'lightning') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_report_renders_without_torch():
    code = (
        "import sys, tl_lightning.report, tl_lightning.report.__main__\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_files_stay_small():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (one idea per file): {long}"


def test_run_rooms_import_only_the_rooms_before_them_and_the_top_stays_small():
    mods, wrong = modules(), []
    room = lambda m: m.split(".")[2] if m.startswith("tl_lightning.run.") and m.count(".") > 2 else None  # noqa: E731
    for name, path in mods.items():
        mine = room(name)
        for target, _ in imports(path, set(mods)) if mine else []:
            theirs = room(target)
            if target.startswith("tl_lightning.run") and (theirs is None or ROOMS.index(theirs) > ROOMS.index(mine)):
                wrong.append(f"{name} ({mine}) imports {target} ({theirs or 'the top of run/'})")
    assert not wrong, "\n".join(wrong)
    assert {p.parent.name for p in (PACKAGE / "run").glob("*/__init__.py")} == set(ROOMS)
    assert len(list((PACKAGE / "run").glob("*.py"))) <= MAX_TOP_MODULES
