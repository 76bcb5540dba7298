"""The code's shape (docs/architecture.md §1): imports in jbn/ and envs_jax/ point one way (no cycle, counting the
imports inside functions; those under `if TYPE_CHECKING:` aside), jbn's packages import only their own layer's
package and lower layers (`LAYERS`), jbn/'s top level holds only the command lines, and no module imports
another's private name. Read from the source with `ast`, so the rules hold for every line, not just the ones a
test happens to run."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("jbn", "envs_jax")

# jbn's packages by layer, lowest first: a package may import itself and the packages of lower layers, never a higher
# layer's nor another package of its own layer. The command lines at jbn/'s top level (`ENTRY_POINTS`) sit above
# every layer and no package imports them.
LAYERS = (
    ("cmdline",),  # how the command lines read their flags (no JAX, nothing of jbn)
    ("policy",),  # the BN joint policy: DAGs, networks, sampling and log-prob
    ("training", "tabular"),  # the compiled training program; the exact tabular experiments
    ("host", "results"),  # run management on the host; figures and comparisons from run directories
    ("evaluation",),  # evaluation and the paper's analyses
    ("driver",),  # the run loop and its steppers
)
# `python -m jbn.<name>` (and the tabular package)
ENTRY_POINTS = ("train", "evaluate", "plot", "compare", "archive", "export", "aggregate")


def modules() -> dict[str, str]:
    """Dotted module name -> file, for every .py under the packages."""
    out = {}
    for pkg in PACKAGES:
        for dirpath, _, files in os.walk(os.path.join(ROOT, pkg)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    out[name.removesuffix(".__init__")] = path
    return out


def imports(mods: dict[str, str]):
    """(importer, imported module, imported name or None) for every import of one of `mods`."""
    for mod, path in mods.items():
        tree = ast.parse(open(path).read())
        is_pkg = path.endswith("__init__.py")
        type_checking = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_checking.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            if id(node) in type_checking:
                continue
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = mod.split(".")[: None if is_pkg else -1]
                    parts = parts[: len(parts) - (node.level - 1)]
                    base = ".".join(parts + ([base] if base else []))
                targets = [(f"{base}.{a.name}", None) if f"{base}.{a.name}" in mods else (base, a.name)
                           for a in node.names]
            else:
                continue
            for target, name in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != mod:
                    yield mod, target, name


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layer_violations(found) -> list[tuple[str, str]]:
    """(importer, imported) for every import between jbn modules against `LAYERS`."""
    rank = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
    top = len(LAYERS)

    def package(mod: str) -> str:
        parts = mod.split(".")
        return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in rank) else ""  # "": the top level

    bad = []
    for a, b, _ in found:
        if not (a.startswith("jbn.") and b.startswith("jbn")):
            continue
        pa, pb = package(a), package(b)
        if pa == pb:
            continue
        ra, rb = rank.get(pa, top), rank.get(pb, top)
        if rb >= ra:
            bad.append((a, b))
    return bad


def test_the_checker_finds_a_cycle_and_a_private_import(tmp_path, monkeypatch):
    """The rules can fail: two modules that import each other, one of them a private name."""
    pkg = tmp_path / "jbn"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import _hidden\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", str(tmp_path))
    mods = {k: v for k, v in modules().items() if k.startswith("jbn")}
    found = list(imports(mods))
    edges = {}
    for a, b, _ in found:
        edges.setdefault(a, set()).add(b)
    assert cycles(edges) == [["jbn.a", "jbn.b"]]
    assert [(a, b, n) for a, b, n in found if n and n.startswith("_")] == [("jbn.a", "jbn.b", "_hidden")]


def test_the_layer_checker_finds_an_upward_import():
    found = [("jbn.policy.dag", "jbn.training.config", None), ("jbn.host.rundir", "jbn.results.plot", None),
             ("jbn.training.sweep", "jbn.train", None), ("jbn.driver.loop", "jbn.policy.dag", None),
             ("jbn.train", "jbn.driver.loop", None), ("jbn.host.rundir", "jbn.host.disk", None)]
    assert layer_violations(found) == [("jbn.policy.dag", "jbn.training.config"),
                                       ("jbn.host.rundir", "jbn.results.plot"), ("jbn.training.sweep", "jbn.train")]


def test_imports_point_one_way():
    edges = {}
    for a, b, _ in imports(modules()):
        edges.setdefault(a, set()).add(b)
    assert cycles(edges) == []


def test_packages_import_down_the_layers():
    assert layer_violations(imports(modules())) == []


def test_the_top_level_holds_only_the_command_lines():
    """jbn/ is its layers' packages plus the modules users run; everything else lives in a package."""
    top = os.path.join(ROOT, "jbn")
    files = {f[:-3] for f in os.listdir(top) if f.endswith(".py")}
    dirs = {d for d in os.listdir(top) if os.path.isfile(os.path.join(top, d, "__init__.py"))}
    assert files == {"__init__", "__main__", *ENTRY_POINTS}  # __main__: `python -m jbn` lists the commands
    assert dirs == {pkg for layer in LAYERS for pkg in layer}


def test_no_module_imports_a_private_name_of_another():
    private = [(a, b, n) for a, b, n in imports(modules()) if n and n.startswith("_") and not n.startswith("__")]
    assert private == []


@pytest.mark.parametrize("module", ["jbn"])
def test_importing_jbn_has_no_side_effects(module):
    """`import jbn` neither changes XLA_FLAGS nor imports JAX (docs/architecture.md §1, import-time effects)."""
    import subprocess
    import sys

    code = ("import os, sys; before = os.environ.get('XLA_FLAGS'); import " + module +
            "; print(before == os.environ.get('XLA_FLAGS'), 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"})
    assert out.stdout.split() == ["True", "False"], out.stderr


DAG_PACKAGE = ("jbn/policy/dag.py", "jbn/policy/dag_modes.py")  # the one place that says what a DAG mode is


def mode_name_tests(tree: ast.AST, modes: set[str]) -> list[str]:
    """Comparisons of something named like a DAG mode (`dag`, `mode`, ...) with a DAG mode's name as a string."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        names = [c.value for o in operands for c in ast.walk(o) if isinstance(c, ast.Constant) and c.value in modes]
        others = " ".join(ast.unparse(o) for o in operands if not (isinstance(o, ast.Constant)
                                                                  or isinstance(o, (ast.Tuple, ast.List, ast.Set))))
        if names and any(w in others.lower() for w in ("dag", "mode")):
            found.append(ast.unparse(node))
    return found


def test_the_mode_checker_finds_a_string_test():
    src = 'if cfg.dag == "context": pass\nif policy.mode in ("none", "line"): pass\nif cfg.anneal != "none": pass\n'
    assert mode_name_tests(ast.parse(src), {"none", "line", "context"}) == [
        "cfg.dag == 'context'", "policy.mode in ('none', 'line')"]


def test_no_string_test_of_the_dag_mode_outside_the_dag_package():
    """A DAG mode declares what it is (jbn/policy/dag_modes.py); nothing else compares its name."""
    from jbn.policy.dag_modes import DAG_MODES

    bad = {}
    for mod, path in modules().items():
        rel = os.path.relpath(path, ROOT)
        if rel.startswith("jbn") and rel not in DAG_PACKAGE:
            found = mode_name_tests(ast.parse(open(path).read()), set(DAG_MODES))
            if found:
                bad[rel] = found
    assert bad == {}
