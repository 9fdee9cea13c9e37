"""The layers, arrows only downward: pipeline.data -> lfs -> pipeline.training -> pipeline.runs -> pipeline.cli and
the workbench app. Every import in the project's code (top-level or inside a function) is read with `ast` and
checked against that order; the checker itself is tested on a made-up violation, so it cannot pass vacuously."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (layer, rank): a module may import its own layer and lower ranks only; cli and workbench share the top rank
# but neither imports the other
LAYERS = {"pipeline.data": 0, "lfs": 1, "pipeline.training": 2, "pipeline.runs": 3, "pipeline.cli": 4,
          "workbench": 4}
NO_STREAMLIT = ("pipeline", "lfs")


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (the longest matching prefix), None outside the project."""
    best = None
    for layer in LAYERS:
        if (module == layer or module.startswith(layer + ".")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def imports_of(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in `source`, relative imports resolved against `module`."""
    found = []
    package = module.split(".")[:-1]  # a package's __init__ resolves against the package itself, as a module does
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from pipeline import runs` imports pipeline.runs: name each imported symbol as a possible module
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names] + [(node.lineno, base)]
    return found


def violations(files: dict[str, str]) -> list[str]:
    """Upward (or sideways between cli and workbench) imports and streamlit imports below the app, as messages;
    files maps a module name to its source."""
    found = []
    for module, source in files.items():
        own = layer_of(module)
        if own is None:
            continue
        for line, target in imports_of(source, module):
            if module.startswith(NO_STREAMLIT) and target.split(".")[0] == "streamlit":
                found.append(f"{module}:{line} imports streamlit")
            other = layer_of(target)
            if other is None or other == own:
                continue
            if LAYERS[other] >= LAYERS[own]:  # a higher layer, or cli <-> workbench
                found.append(f"{module}:{line} ({own}) imports {target} ({other})")
    return sorted(set(found))


def project_files() -> dict[str, str]:
    files = {}
    for top in ("pipeline", "lfs", "workbench"):
        for path in (ROOT / top).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            files[".".join(rel.parts)] = path.read_text(encoding="utf-8")
    return files


def test_no_layer_imports_a_higher_one():
    files = project_files()
    assert len(files) > 40  # the walk found the project
    assert violations(files) == []


@pytest.mark.parametrize("module, source, expected", [
    ("pipeline.data.prepare", "from pipeline.training import hybrid", "imports pipeline.training.hybrid"),
    ("lfs.features", "def f():\n    from pipeline.runs.registry import Registry", "imports pipeline.runs.registry"),
    ("pipeline.training.evaluate", "import workbench.render", "imports workbench.render"),
    ("pipeline.runs.retrain", "from ..cli import retrain", "imports pipeline.cli.retrain"),
    ("workbench.train_view", "from pipeline.cli.retrain import retrain_params", "imports pipeline.cli.retrain"),
    ("pipeline.data.raw", "import streamlit as st", "imports streamlit"),
])
def test_the_checker_sees_a_violation(module, source, expected):
    found = violations({module: source})
    assert any(expected in message for message in found), found


def test_downward_and_same_layer_imports_pass():
    assert violations({"pipeline.runs.retrain": "from pipeline.training import hybrid\nfrom . import jobs\n"
                                                 "from lfs.config import LFConfig\nimport numpy",
                       "workbench.train_view": "from pipeline.runs import jobs\nimport streamlit"}) == []
