"""L1: the layer shows in the file name, and no import runs back up the layers.

Read from the modules' own import statements (ast), not from what happens to be loaded: every
top-level module that imports Gradio ends in `_ui` (besides app.py, the page itself); the domain
below the UI (jobs, modes, models, backend, History, ...) imports no `_ui` module and not app.py.
The HTTP door in front of Gradio (http_guards, api_refusals) stands beside the UI: it may.
"""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

MODULES = {p.stem: p for p in ROOT.glob("*.py")}
DOOR = {"app", "http_guards", "api_refusals"}  # the page and the HTTP guards in front of it


def imports(name: str) -> set[str]:
    """Top-level names `name` imports (absolute imports only; `from app.x import` is ComfyUI's
    own `app` package, not this app's page)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {n.split(".")[0] for n in found if n == "app" or not n.startswith("app.")}


def test_the_module_list_is_read():
    assert {"app", "jobs", "modes", "panels_ui", "http_guards"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_that_imports_gradio_says_so_in_its_name(name):
    if "gradio" in imports(name):
        assert name == "app" or name.endswith("_ui"), f"{name}.py imports Gradio: name it *_ui"


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if not n.endswith("_ui") and n not in DOOR)
)
def test_the_domain_never_imports_the_page(name):
    upward = sorted(m for m in imports(name) if m in MODULES and (m.endswith("_ui") or m == "app"))
    assert not upward, f"{name}.py imports {upward}, a layer above it"
