"""L1: the layer shows in the file name, and no import runs back up the layers.

Read from the modules' own import statements (ast), not from what happens to be loaded: every
top-level module that imports Gradio ends in `_ui` (besides app.py, the page itself); the domain
below the UI (jobs, modes, models, backend, History, ...) imports no `_ui` module and not app.py.
The HTTP door in front of Gradio (http_guards, api_refusals) stands beside the UI: it may.

Tests and tools the right way round: the helpers both use live in `testkit/`, `tests/` holds only
tests, and nothing outside `tests/` imports a test or reads a file from there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

MODULES = {p.stem: p for p in ROOT.glob("*.py")}
OUTSIDE_TESTS = sorted(
    [*MODULES.values(), *(ROOT / "tools").glob("*.py"), *(ROOT / "testkit").glob("*.py")]
)
TEST_MODULES = {p.stem for p in (ROOT / "tests").glob("*.py")}
DOOR = {"app", "http_guards", "api_refusals"}  # the page and the HTTP guards in front of it


def imports(name: str | Path) -> set[str]:
    """Top-level names a module (by name, or a file) imports (absolute imports only; `from app.x
    import` is ComfyUI's own `app` package, not this app's page)."""
    found = set()
    path = MODULES[name] if isinstance(name, str) else name
    for node in ast.walk(ast.parse(path.read_text())):
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


def test_tests_holds_only_tests():
    """The twelve helpers that sat flat among the tests are in testkit/: tests/ is tests alone."""
    helpers = sorted(n for n in TEST_MODULES if not n.startswith("test_") and n != "conftest")
    assert not helpers, f"{helpers} in tests/: a helper goes in testkit/"
    assert {"waiting", "fake_worker", "real_app"} <= {
        p.stem for p in (ROOT / "testkit").glob("*.py")
    }


@pytest.mark.parametrize("path", OUTSIDE_TESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_nothing_outside_tests_leans_on_them(path):
    """The app, the tools and testkit import no test and name no path under tests/ (a tool that
    put tests/ on sys.path, or the app reading its node schemas from there, would)."""
    leaning = sorted(imports(path) & (TEST_MODULES | {"tests"}))
    assert not leaning, f"{path.name} imports {leaning} from tests/"
    named = [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value == "tests"
    ]
    assert not named, f"{path.name} names the tests/ folder on line(s) {named}"
