"""The package's import graph: one way (the study on top of the method library), no cycle, and no
import hidden inside a function to dodge one. Read from the source with :mod:`ast`, so that the
check sees every module whether or not a test imports it."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = {
    "ray"
}  # an extra's package, imported where it is used so that the library runs without it


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted((ROOT / "divlib").rglob("*.py"))}


def imports(path: Path) -> tuple[set[str], set[str]]:
    """The divlib modules ``path`` imports at module level, and every package it imports inside a
    function or class (top-level names)."""
    tree = ast.parse(path.read_text())
    top, nested = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in MODULES else node.module for name in names]
        else:
            continue
        if node in tree.body or any(
            node in getattr(n, "body", ()) for n in tree.body if isinstance(n, ast.If)
        ):
            top |= {name for name in names if name.split(".")[0] == "divlib"}
        else:
            nested |= {name.split(".")[0] for name in names}
    return top, nested


GRAPH = {name: imports(path)[0] for name, path in MODULES.items()}


def test_the_reader_resolves_modules_and_finds_nested_imports(tmp_path):
    """Hand-checked: ``from package import name`` is the module ``package.name`` when there is one,
    else the package; an import inside a function is reported apart from the module's own."""
    assert {"divlib.study.figure_data", "divlib.errors"} <= GRAPH["divlib.study.plots"]
    assert "divlib.study.data" in GRAPH["divlib.study.evaluation"]  # category_matrix: a name
    assert "divlib.objectives" in GRAPH["divlib"]
    source = tmp_path / "example.py"
    source.write_text(
        "import torch\nfrom divlib.study import plots\n\n\ndef f():\n    import ray\n"
    )
    assert imports(source) == ({"divlib.study.plots"}, {"ray"})


def test_the_import_graph_has_no_cycle():
    """Edges are the explicit imports (a parent package's own import is Python's, not a cycle)."""
    try:
        tuple(TopologicalSorter(GRAPH).static_order())
    except CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_method_library_imports_nothing_of_the_study():
    library = {name for name in MODULES if not name.startswith("divlib.study")}
    assert {
        name: study
        for name in library
        if (study := {m for m in GRAPH[name] if m.startswith("divlib.study")})
    } == {}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_inside_a_function_but_an_optional_extra(name):
    assert imports(MODULES[name])[1] <= OPTIONAL
