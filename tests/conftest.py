"""Shared test options: `--gpu` opts into L4; the rest of the layers decide their own skips."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
