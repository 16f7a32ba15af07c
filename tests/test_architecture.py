"""The layers of the code, read from every module's imports with ``ast`` (nothing is imported or run).

``landscape`` is a stack of subpackages; a module may import only from the layers its own layer lists in
:data:`MAY_IMPORT`, so imports point down. ``swa`` (training and the shared utilities) sits below all of
``landscape`` and never imports it. The README's architecture section draws the same stack.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("landscape", "swa")

# Bottom to top. A layer may import itself, the layers listed here and ``swa``'s utilities.
MAY_IMPORT = {
    "landscape.base": set(),  # landscape/__init__.py (lazy exports only) and landscape/_exports.py
    "landscape.results": {"landscape.base"},
    "landscape.engine": {"landscape.base", "landscape.results"},
    "landscape.geometry": {"landscape.base", "landscape.results", "landscape.engine"},
    "landscape.curvature": {"landscape.base", "landscape.results", "landscape.engine", "landscape.geometry"},
    "landscape.compute": {"landscape.base", "landscape.results", "landscape.engine", "landscape.geometry",
                          "landscape.curvature"},
    "landscape.plot": {"landscape.base", "landscape.results"},  # draws only: reads results, never evaluates
    "landscape.api": {"landscape.base", "landscape.results", "landscape.engine", "landscape.geometry",
                      "landscape.curvature", "landscape.compute"},
    "landscape.study": {"landscape.base", "landscape.results", "landscape.engine", "landscape.geometry",
                        "landscape.curvature", "landscape.compute", "landscape.api", "landscape.plot"},
    # The report shows every result, the study's table too (study.table, which does not reach the trainer).
    "landscape.report": {"landscape.base", "landscape.results", "landscape.plot", "landscape.study"},
    "landscape.cli": {"landscape.base", "landscape.results", "landscape.engine", "landscape.geometry",
                      "landscape.curvature", "landscape.compute", "landscape.api", "landscape.plot",
                      "landscape.report", "landscape.study"},
    "landscape.main": {"landscape.base", "landscape.cli"},
}
ORDER = list(MAY_IMPORT)
TRAINING = ("swa.trainer", "swa.study")  # only landscape.study and landscape.cli may reach these
# Function-level imports are kept for optional or heavy dependencies only, and in the CLI, whose commands each
# import their work when they run (``swa-landscape --help`` loads no torch model code).
LAZY_OK = re.compile(r"^(plotly|h5py|vtk|vtkmodules|sklearn|scipy|matplotlib|torchvision|PIL|pyhessian|"
                     r"loss_landscapes|torch\.distributed|torch\.profiler|tqdm|importlib)(\.|$)")
MAX_PARAMS = 12
# Above MAX_PARAMS on purpose ("about 12"): `landscape.plane` takes 13, each its own concept (model, points, data,
# center, directions, grid, trajectory, marked, loss, params, settings, out, like); grouping two unrelated ones
# to reach 12 would hide them. The test fails when one comes back under, so that the list cannot go stale.
OVER_MAX_PARAMS = {"landscape/api.py:plane"}
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    if module in ("landscape", "landscape._exports"):
        return "landscape.base"
    if module == "landscape.__main__":
        return "landscape.main"
    if module.startswith("swa"):
        return "swa"
    return ".".join(module.split(".")[:2])


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class Imports(ast.NodeVisitor):
    """Every import of a module: (target, line, inside a function)."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.found, self.depth = [], 0

    def visit_If(self, node):
        if not _type_checking(node):
            self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node):
        for alias in node.names:
            self.found.append((alias.name, node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:
            package = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
        for alias in node.names:
            self.found.append((f"{base}.{alias.name}", node.lineno, self.depth > 0))
        if not node.names:
            self.found.append((base, node.lineno, self.depth > 0))


def project_modules():
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = project_modules()


def resolve(target: str):
    """The project module an import names (``from a.b import c`` is module ``a.b.c`` or a name of ``a.b``)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


def imports_of(module: str):
    path = MODULES[module]
    visitor = Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.found


GRAPH = {m: [(resolve(t), t, line, lazy) for t, line, lazy in imports_of(m)] for m in MODULES}


def edges():
    for module, found in GRAPH.items():
        for target, raw, line, lazy in found:
            if target is not None and target != module:
                yield module, target, line


def test_the_layer_table_covers_every_module():
    unknown = sorted(m for m in MODULES if layer_of(m) not in MAY_IMPORT and layer_of(m) != "swa")
    assert not unknown, f"modules outside every declared layer (add them to MAY_IMPORT): {unknown}"


def test_no_import_cycle():
    graph = {}
    for a, b, _ in edges():
        # Importing a package's submodule runs the package first: an import of ``landscape`` from a layer is
        # a cycle only through its lazy exports, which import nothing at import time.
        graph.setdefault(a, set()).add(b)
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def connect(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_point_down_the_layers():
    wrong = []
    for a, b, line in edges():
        la, lb = layer_of(a), layer_of(b)
        if la == lb:
            continue
        if la == "swa" and lb != "swa":
            wrong.append(f"{MODULES[a].relative_to(ROOT)}:{line} imports {b}: swa never imports landscape")
        elif la != "swa" and lb != "swa" and lb not in MAY_IMPORT[la]:
            wrong.append(f"{MODULES[a].relative_to(ROOT)}:{line} imports {b} ({lb} is not below {la})")
    assert not wrong, "\n".join(wrong)


def test_only_the_study_and_the_cli_reach_the_trainer():
    def reaches(start):
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for target, _, _, _ in GRAPH.get(m, ()):
                if target and target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    wrong = [f"{m} reaches {sorted(t for t in reaches(m) if t.startswith(TRAINING))}" for m in MODULES
             if m.startswith("landscape") and layer_of(m) not in ("landscape.study", "landscape.cli", "landscape.main")
             and any(t.startswith(TRAINING) for t in reaches(m))]
    assert not wrong, "\n".join(wrong)


def test_argparse_only_in_the_cli():
    wrong = [f"{MODULES[m].relative_to(ROOT)}:{line}" for m, found in GRAPH.items()
             for _, raw, line, _ in found if raw.split(".")[0] == "argparse" and not m.startswith("landscape.cli")]
    assert not wrong, f"argparse below landscape.cli: {wrong}"


def test_library_errors_name_python_arguments_not_flags():
    wrong = []
    for module, path in MODULES.items():
        if module.startswith("landscape.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for s in ast.walk(node.exc):
                    if isinstance(s, ast.Constant) and isinstance(s.value, str) and FLAG.search(s.value):
                        wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: {s.value.strip()[:70]!r}")
    assert not wrong, "library errors that name command-line flags:\n" + "\n".join(wrong)


def test_landscape_has_few_top_level_modules():
    top = sorted(p.name for p in (ROOT / "landscape").glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= 8, f"{len(top)} top-level modules in landscape/: {top}"


def test_imports_at_the_top():
    wrong = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {raw} inside a function"
             for m, found in GRAPH.items() for _, raw, line, lazy in found
             if lazy and not LAZY_OK.match(raw) and not m.startswith("landscape.cli")]
    assert not wrong, "\n".join(wrong)


def test_no_function_takes_too_many_parameters():
    over = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]
                if len(names) > MAX_PARAMS:
                    over[f"{path.relative_to(ROOT)}:{node.name}"] = len(names)
    wrong = {k: n for k, n in over.items() if k not in OVER_MAX_PARAMS}
    assert not wrong, f"functions with more than {MAX_PARAMS} parameters: {wrong}"
    assert OVER_MAX_PARAMS <= set(over), f"back under {MAX_PARAMS}: remove {OVER_MAX_PARAMS - set(over)}"


def test_tests_share_fixtures_through_conftest_not_imports():
    wrong = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").rglob("*.py"))
             if re.search(r"^\s*(from (tests\.)?conftest import|import (tests\.)?conftest|from test_\w+ import|"
                          r"import test_\w+)", p.read_text(), re.M)]
    assert not wrong, f"tests that import conftest or another test module (use fixtures, or support.py): {wrong}"


@pytest.mark.parametrize("source, expected", [
    ("from landscape.engine import bn\n", ["landscape.engine.bn"]),
    ("from landscape.engine.bn import bn_strategy\n", ["landscape.engine.bn"]),
    ("import landscape.results.store as s\n", ["landscape.results.store"]),
])
def test_imports_resolve_to_modules(source, expected):
    """The reader itself: what an import statement resolves to."""
    visitor = Imports("landscape.api", False)
    visitor.visit(ast.parse(source))
    assert [resolve(t) for t, _, _ in visitor.found] == expected


def test_a_cycle_and_an_upward_import_are_caught(tmp_path):
    """The checks fail on a made-up graph with a cycle and an upward import (they can fail)."""
    visitor = Imports("landscape.engine.data", False)
    visitor.visit(ast.parse("def f():\n    from landscape.compute.plane import x\n"))
    (target, line, lazy), = visitor.found
    assert lazy and resolve(target) == "landscape.compute.plane"
    assert layer_of(resolve(target)) not in MAY_IMPORT[layer_of("landscape.engine.data")]
