"""The import structure docs/design.md describes, checked on the source.

The IR imports nothing above it, the compiler nothing of the front end; within each layer
the module-level imports form no cycle; an import inside a function is one of the few kept
on purpose (numba, loaded with the first compiled function), each listed here with its
reason, so that a new one is a decision, not a way around a cycle.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = {"ir": "tracegrad.ir", "compiler": "tracegrad.compiler", "src/tracegrad": "tracegrad"}

#: (module, imported module) pairs allowed inside functions, with the reason.
LAZY = {
    ("tracegrad.compiler.cache", "tracegrad.compiler.runtime"): "numba, with the first kernel",
    ("tracegrad.compiler.cache", "tracegrad.compiler.vecmath"): "numba, with the first kernel",
    ("tracegrad.compiler.executor", "tracegrad.compiler._machine"): "the generated machine compiles on first use",
    ("tracegrad.compiler.pipeline", "tracegrad.compiler.executor"): "numba, with the first lowering",
    ("tracegrad.compiler.pipeline", "tracegrad.compiler.codegen"): "numba, with the first lowering",
    ("tracegrad._transforms", "tracegrad.compiler.backend"): "numba, with the first compiled function",
    ("tracegrad.__main__", "tracegrad.compiler.executor"): "numba, only for the commands that run it",
    ("tracegrad.bench", "tracegrad.compiler.executor"): "numba, only for the runs that need it",
}


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for folder, package in LAYERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            if folder == "src/tracegrad" and rel.parts[0] in ("ir", "compiler"):
                continue
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _typing_only(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test)


def _imports(name: str, path: pathlib.Path):
    """(imported module, at module level) for each tracegrad import of a module."""
    tree = ast.parse(path.read_text())
    top = set()
    for stmt in tree.body:
        if _typing_only(stmt):
            continue
        top.update(ast.walk(stmt) if isinstance(stmt, (ast.If, ast.Try)) else [stmt])
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
            # `from package import submodule` depends on the submodule; other names on the package.
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
            targets = subs + ([base] if len(subs) < len(node.names) else [])
        else:
            continue
        in_typing_block = node not in top and any(node in ast.walk(s) for s in tree.body if _typing_only(s))
        if in_typing_block:
            continue
        for target in targets:
            if target.startswith("tracegrad"):
                yield target, node in top


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, at_top in _imports(name, path):
            if at_top and target in MODULES and target != name:
                edges[name].add(target)
    return edges


def test_layers_import_downwards_only():
    def layer(module: str) -> int:
        return 0 if module.startswith("tracegrad.ir") else 1 if module.startswith("tracegrad.compiler") else 2
    upward = [(name, target) for name, path in MODULES.items() for target, _ in _imports(name, path)
              if target in MODULES and layer(target) > layer(name)]
    assert not upward, f"imports from a lower layer into a higher one: {upward}"


def test_no_import_cycle_at_module_level():
    edges = _graph()
    reach: dict[str, set[str]] = {}
    for start in edges:
        seen, stack = set(), [start]
        while stack:
            for nxt in edges[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        reach[start] = seen
    cycles = sorted({tuple(sorted({m} | {x for x in reach[m] if m in reach[x]})) for m in edges if m in reach[m]})
    assert not cycles, f"modules that import each other at module level: {cycles}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_inside_functions_are_the_listed_ones(name):
    lazy = {target for target, at_top in _imports(name, MODULES[name]) if not at_top}
    unlisted = sorted(t for t in lazy if (name, t) not in LAZY)
    assert not unlisted, (f"{name} imports {unlisted} inside a function: import at the top, or, if it must be "
                          f"lazy (numba's load time), list it in LAZY with the reason")
