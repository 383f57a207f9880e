"""The layout of devtools/: every module lives in the subpackage of its stage
(the few shared ones excepted), and no module imports itself back, directly
or through others.  Imports are read with `ast`, so function-level (lazy)
imports count too: a cycle that only bites at call time is still a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEVTOOLS = PROJECT / "devtools"

# Stage subpackages: the kernel loop, the release, the installed system, the
# Python bench and demo.  docs/contributing.md says which goes where.
STAGES = {"loop", "release", "installed", "pybench"}
# Shared by every stage: where things are (config), and the host's Debian
# packages (setup).  Nothing else may sit at the top.
COMMON = {"devtools", "devtools.config", "devtools.setup"}


def module_name(path: Path, root: Path = DEVTOOLS) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules(root: Path = DEVTOOLS) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The devtools modules `name` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports pkg.mod when that is a module.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` also runs a and a.b; keep the deepest known module.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = DEVTOOLS) -> dict[str, set[str]]:
    mods = modules(root)
    known = set(mods)
    # A package's __init__ runs before any of its modules; it imports nothing
    # of ours here, so edges to packages are left out (they would be edges to
    # every __init__.py on the way, which cannot close a cycle on their own).
    packages = {m for m, p in mods.items() if p.name == "__init__.py"}
    return {m: imports_of(m, p, known) - packages for m, p in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt, BLACK) == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour.get(nxt) == WHITE:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_devtools_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_package_inits_import_nothing_of_ours() -> None:
    """What lets import_graph() leave packages out."""
    mods = modules()
    for name, path in mods.items():
        if path.name == "__init__.py":
            assert not imports_of(name, path, set(mods)), f"{path} imports devtools modules"


def test_every_module_lives_in_a_stage() -> None:
    stray = [m for m in modules() if m not in COMMON and m.split(".")[1] not in STAGES]
    assert not stray, f"devtools modules outside a stage subpackage: {stray}"


def test_stages_are_packages() -> None:
    for stage in STAGES:
        assert (DEVTOOLS / stage / "__init__.py").is_file(), stage


def fake_devtools(root: Path, stage: str) -> Path:
    """An empty devtools package with one empty stage subpackage, for the checkers' own tests."""
    pkg = root / "devtools"
    (pkg / stage).mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / stage / "__init__.py").write_text("")
    return pkg


def test_cycle_finder_finds_a_direct_and_a_transitive_cycle(tmp_path: Path) -> None:
    pkg = fake_devtools(tmp_path, "loop")
    (pkg / "loop" / "a.py").write_text("from devtools.loop import b\n")
    (pkg / "loop" / "b.py").write_text("def f():\n    from devtools.loop.c import x\n")
    (pkg / "loop" / "c.py").write_text("from . import a\nx = 1\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"devtools.loop.a", "devtools.loop.b", "devtools.loop.c"}
    (pkg / "loop" / "c.py").write_text("x = 1\n")
    assert find_cycle(import_graph(pkg)) is None
    (pkg / "loop" / "c.py").write_text("import devtools.loop.c\nfrom devtools.loop.b import f\n")
    assert find_cycle(import_graph(pkg)) == ["devtools.loop.b", "devtools.loop.c", "devtools.loop.b"]



def top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def unresolved_imports(files: list[Path], root: Path = DEVTOOLS) -> list[str]:
    """`from devtools.X import NAME` where NAME is neither a module nor defined
    in X (what a module moved into a stage package leaves behind in code
    written before the move), and `import devtools.X` of no module."""
    mods = modules(root)
    problems = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "devtools":
                assert node.module is not None
                if node.module not in mods:
                    problems.append(f"{path.name}:{node.lineno}: no module {node.module}")
                    continue
                defined = top_level_names(mods[node.module])
                for alias in node.names:
                    if f"{node.module}.{alias.name}" not in mods and alias.name not in defined:
                        problems.append(f"{path.name}:{node.lineno}: {node.module} has no {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "devtools" and alias.name not in mods:
                        problems.append(f"{path.name}:{node.lineno}: no module {alias.name}")
    return problems


def test_every_devtools_import_resolves() -> None:
    files = [*DEVTOOLS.rglob("*.py"), *(PROJECT / "tests").rglob("*.py"), PROJECT / "tasks.py"]
    assert unresolved_imports(sorted(files)) == []


def test_unresolved_import_is_named(tmp_path: Path) -> None:
    pkg = fake_devtools(tmp_path, "pybench")
    (pkg / "pybench" / "bench.py").write_text("def _fifo_prefix():\n    return []\n")
    user = pkg / "pybench" / "knee.py"
    user.write_text("def f():\n    from devtools.pybench import _fifo_prefix\n    from devtools.pybench.bench import _fifo_prefix as ok\n"
                    "    from devtools.pybench import bench\n    import devtools.pybench.gone\n")
    assert unresolved_imports([user], pkg) == ["knee.py:2: devtools.pybench has no _fifo_prefix",
                                               "knee.py:5: no module devtools.pybench.gone"]
