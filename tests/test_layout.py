"""The package's import graph runs one way: no cycle, and no import hidden in a function to
dodge one (a hidden import fails only when that function first runs, in a worker at night)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "scheduler"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imported(module: str, node: ast.AST) -> list[str]:
    """The scheduler modules an import statement names (a package when it names a name in it)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in MODULES]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parent = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parent + ([base] if base else []))
    named = [f"{base}.{alias.name}" for alias in node.names]
    return [name if name in MODULES else base for name in named
            if name in MODULES or base in MODULES]


def _imports() -> dict[str, set[str]]:
    """Every module's imports of other scheduler modules, at the top or inside a function."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[module] = {target for node in ast.walk(tree) for target in _imported(module, node)
                         if target != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function():
    """Otherwise the test below could pass by finding nothing at all."""
    source = {"scheduler.jobs.runner": "def run():\n    from scheduler.jobs import worker\n",
              "scheduler.jobs.worker": "from scheduler.jobs.runner import run\n"}
    graph = {module: {target for node in ast.walk(ast.parse(text))
                      for target in _imported(module, node)} for module, text in source.items()}
    assert _cycles(graph) == [["scheduler.jobs.runner", "scheduler.jobs.worker"]]


def test_no_modules_import_each_other():
    """Counting imports inside functions too: these are how a cycle hides."""
    graph = _imports()
    assert "scheduler.services.booking" in graph["scheduler.api.bookings"]  # it reads them all
    assert _cycles(graph) == []


def test_the_domain_imports_nothing_above_it():
    """services/ and models/ are the rules: the pages, the API, jobs, the CLI and the demo
    clinic call them, never the other way round. (Feed tokens and versions are written with
    the bookings they describe, so services use feeds.tokens and feeds.versions.)"""
    above = ("scheduler.api", "scheduler.web", "scheduler.jobs", "scheduler.cli",
             "scheduler.demo_clinic")
    graph = _imports()
    upward = sorted(f"{module} imports {target}" for module, targets in graph.items()
                    if module.startswith(("scheduler.services", "scheduler.models"))
                    for target in targets if target.startswith(above))
    assert "scheduler.services.booking" in graph["scheduler.demo_clinic"]  # built through them
    assert upward == []


def test_the_models_import_no_service():
    """Models are the bottom layer: the clock they stamp rows with is scheduler.clock, not a
    service, so a model never pulls the rules above it into an import."""
    graph = _imports()
    upward = sorted(f"{module} imports {target}" for module, targets in graph.items()
                    if module.startswith("scheduler.models")
                    for target in targets if target.startswith("scheduler.services"))
    assert "scheduler.clock" in graph["scheduler.models.sessions"]
    assert upward == []


def test_only_the_app_factory_imports_inside_functions():
    """A package's __init__ runs before any of its modules, so the app factory and the
    blueprint registration there import their parts when the app is built, as Flask's
    pattern has it. Everywhere else an import inside a function hides a cycle or a slow
    import until the first call."""
    hidden = []
    for module, path in MODULES.items():
        if path.name == "__init__.py":
            continue
        for function in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [f"{module}.{function.name} imports {target}"
                           for node in ast.walk(function)
                           for target in _imported(module, node)]
    assert hidden == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("scheduler.jobs")))
def test_each_jobs_module_imports_alone_in_a_fresh_interpreter(module):
    """APScheduler imports `scheduler.jobs.runner` by name in a process that may have
    imported nothing else; the worker and the CLI import their own first."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
