"""The engine's import graph: no cycles inside encoder/, and no reach upward into the app."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "encoder"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The encoder modules a file imports (any import statement, even inside functions or
    TYPE_CHECKING blocks: a cycle there is still a cycle a reader has to untangle)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    found.discard(here)
    return found


def engine_graph() -> nx.DiGraph:
    files = sorted(ENGINE.rglob("*.py"))
    known = {module_name(f) for f in files}
    graph = nx.DiGraph()
    for file in files:
        graph.add_node(module_name(file))
        for target in imported_modules(file, known):
            # A submodule importing its own package's __init__ is how relative imports resolve,
            # not a dependency on what __init__ re-exports; a package importing its submodules
            # is the usual re-export. Only module-to-module edges count.
            graph.add_edge(module_name(file), target)
    return graph


def test_the_graph_sees_the_engine():
    graph = engine_graph()
    assert {"encoder.run", "encoder.model", "encoder.modules", "encoder.loading"} <= set(graph.nodes)
    assert graph.has_edge("encoder.run", "encoder.model")  # the walker does find real imports


def test_no_import_cycle_in_the_engine():
    cycles = [c for c in nx.simple_cycles(engine_graph()) if not _is_package_reexport(c)]
    assert not cycles, "import cycles in encoder/: " + "; ".join(" → ".join([*c, c[0]]) for c in cycles)


def package_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """The engine's rooms: every module folded into its first level under encoder/ (encoder.loading,
    encoder.analysis, encoder.attention_view...). A circle between two rooms is a cycle a reader has
    to untangle even when no two modules import each other (loading.gguf -> adapters ->
    loading.limits), and a lazy import inside a function hides it from a module-level graph."""
    rooms = nx.DiGraph()
    for a, b in graph.edges():
        room_a, room_b = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
        if room_a != room_b and "encoder" not in (room_a, room_b):
            rooms.add_edge(room_a, room_b, via=f"{a} -> {b}")
    return rooms


def test_no_circle_between_the_engines_packages():
    rooms = package_graph(engine_graph())
    cycles = list(nx.simple_cycles(rooms))
    assert not cycles, "circles between encoder/'s packages: " + "; ".join(
        ", ".join(rooms.edges[c[i], c[(i + 1) % len(c)]]["via"] for i in range(len(c))) for c in cycles)


def test_the_package_graph_finds_a_circle_that_hides_in_a_function(tmp_path, monkeypatch):
    fake = tmp_path / "encoder"
    for package in ("loading", "adapters"):
        (fake / package).mkdir(parents=True)
        (fake / package / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("")
    (fake / "loading" / "gguf.py").write_text("def load():\n    from ..adapters.model import run\n")
    (fake / "loading" / "limits.py").write_text("CAP = 1\n")
    (fake / "adapters" / "model.py").write_text("from ..loading.limits import CAP\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "ENGINE", fake)
    assert not [c for c in nx.simple_cycles(engine_graph()) if not _is_package_reexport(c)]  # no module cycle
    assert sorted(next(iter(nx.simple_cycles(package_graph(engine_graph()))))) == ["encoder.adapters",
                                                                                    "encoder.loading"]


def _is_package_reexport(cycle: list[str]) -> bool:
    """package/__init__ → package.sub → package: the relative import's anchor, not a real loop."""
    return len(cycle) == 2 and any(b.startswith(a + ".") for a, b in (cycle, cycle[::-1]))


def test_the_detector_finds_a_planted_cycle(tmp_path, monkeypatch):
    fake = tmp_path / "encoder"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "a.py").write_text("from .b import x\n")
    (fake / "b.py").write_text("from . import c\n")
    (fake / "c.py").write_text("from encoder.a import y\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "ENGINE", fake)
    cycles = list(nx.simple_cycles(engine_graph()))
    assert sorted(cycles[0]) == ["encoder.a", "encoder.b", "encoder.c"]


# encoder/export.py writes self-contained HTML for notebooks (save_html), which takes plotly's own
# writer; `import encoder` never loads it.
ALLOWED = {"encoder/export.py": {"plotly"}}


def test_importing_the_engine_loads_no_app_library():
    import subprocess
    import sys

    probe = "import encoder, sys; print(sorted({'streamlit', 'plotly'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_the_engine_never_imports_the_app():
    for file in ENGINE.rglob("*.py"):
        allowed = ALLOWED.get(str(file.relative_to(ROOT)), set())
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                app_side = {"streamlit", "plotly", "figures", "state", "ui", "url", "pages"} - allowed
                bad = [n for n in names if n.split(".")[0] in app_side]
                assert not bad, f"{file.relative_to(ROOT)} imports {bad}"
