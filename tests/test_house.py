"""The shape of the code, as issue 31 set it: stages without import cycles, short functions, one decode path.

These guard what a newcomer relies on when reading the tree: the stage
folders import downwards only, every pass decodes through
:func:`redact.io.frames.decode`, and no function needs more than a screen.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "redact"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


def _imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """The package's modules this one imports, at any depth of the file (deferred imports count too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("redact"):
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m in modules}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_among_modules():
    modules = _modules()
    graph = {name: _imports(tree, set(modules)) - {name} for name, tree in modules.items()}
    assert _cycles(graph) == []


def test_no_function_over_80_lines():
    long = [
        f"{name}.{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long == []


def test_pipeline_is_composition_only():
    assert len((PACKAGE / "pipeline.py").read_text(encoding="utf-8").splitlines()) <= 150


def test_every_pass_decodes_through_the_one_frame_visitor():
    users = sorted(
        str(path.relative_to(ROOT))
        for folder in ("redact", "pipelines", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if "FrameReader(" in path.read_text(encoding="utf-8") and path.name != "test_house.py"
    )
    assert users == ["redact/io/frames.py"]


def test_the_stages_are_folders():
    for stage in ("analyse", "decide", "render"):
        assert (PACKAGE / stage / "__init__.py").is_file()


def test_presets_say_only_what_they_change_in_few_lines():
    presets = [p for p in (ROOT / "configs").glob("*.yaml") if p.name != "default.yaml"]
    assert presets
    assert sum(len(p.read_text(encoding="utf-8").splitlines()) for p in presets) <= 300


def test_readme_is_short_enough_to_read():
    """The reference lives in docs/; the README keeps the two commands, the workflows and the limits."""
    assert len((ROOT / "README.md").read_bytes()) <= 15 * 1024
