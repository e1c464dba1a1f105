"""Shared test options and the real engine.

`--gpu` opts into L4. The real-ComfyUI layers (L-comfy, validate_prompt, L-exec) share one
in-process engine, started on the tiny random-weight set (tools/make_tiny_weights.py, made here
once when missing) wherever the pinned checkout and torch exist, and skip saying why elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pins  # noqa: E402
from testkit.browser_helpers import SIZES  # noqa: E402

TINY_DIR = ROOT / ".tiny-weights"
# The checkout as this session was started with it: tests that point LTX_AIO_COMFYUI_DIR at a
# throwaway folder for a while must not decide where the session's one real engine lives.
SESSION_COMFY = pins.comfy_dir()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--gpu",
        action="store_true",
        default=False,
        help="run L4 tests: real generation with real weights on a GPU",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--gpu"):
        return
    skip = pytest.mark.skip(
        reason="L4 GPU generation: pass --gpu on a machine with a GPU and weights"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def real_engine_problems() -> list[str]:
    """Why the real-ComfyUI layers cannot run here (empty: they can)."""
    import comfy_engine

    return comfy_engine.checkout_problems(SESSION_COMFY)


def tiny_env(models: Path) -> dict[str, str]:
    """The settings that point the app at the session's checkout and the tiny set (and ask for
    its one seam)."""
    return {
        "LTX_AIO_COMFYUI_DIR": str(SESSION_COMFY),
        "LTX_AIO_MODELS_DIR": str(models),
        "LTX_AIO_TINY_WEIGHTS": "1",
    }


@pytest.fixture
def outputs():
    """Output files of a test, removed afterwards: ComfyUI's output folder is no archive."""
    made: list[str] = []
    yield made
    for path in made:
        Path(path).unlink(missing_ok=True)


@pytest.fixture(params=list(SIZES))
def size(request) -> str:
    """A browser test's page size by name (browser_helpers.SIZES): each such test runs at both."""
    return request.param


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one per browser test module (browser_helpers.chromium)."""
    from testkit.browser_helpers import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture(scope="session")
def tiny_models() -> Path:
    """The tiny random-weight model set, written once (about 65 MB, seconds) and then kept."""
    problems = real_engine_problems()
    if problems:
        pytest.skip(
            "the real-ComfyUI layers need the pinned checkout and torch (`python bootstrap.py`"
            " or `--archives ../shared/pins`, and requirements.txt): " + " | ".join(problems)
        )
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_tiny_weights.py"), str(TINY_DIR)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return TINY_DIR


@pytest.fixture(scope="session")
def real_engine(tiny_models):
    """The process's one real engine, started on the tiny set. Its settings matter only while it
    starts, so the environment is put back afterwards for the tests that follow."""
    import comfy_engine

    saved = {name: os.environ.get(name) for name in tiny_env(tiny_models)}
    os.environ.update(tiny_env(tiny_models))
    try:
        return comfy_engine.engine()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def real_app(tiny_models, tmp_path_factory):
    """`python app.py` in its own process on the real engine and the tiny set: one per module
    that uses it, stopped after it, so that no more than two ComfyUI processes ever run at once
    (tests/test_workers_real.py starts two workers of its own)."""
    from testkit.real_app import serve

    with serve(tmp_path_factory.mktemp("real-app"), tiny_models, SESSION_COMFY) as app:
        yield app
