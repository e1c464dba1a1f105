"""requirements.txt follows the pins, and CI tests what a newcomer installs.

Every package that the installed pinned ComfyUI's and packs' own requirements files name is either
in requirements.txt or in its short exclusion list ("# not installed: NAME (why)"); CI runs in a
virtual environment of its own, without the system's site-packages, so that nothing a machine
kept from earlier work can stand in for a missing line.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SESSION_COMFY

import node_imports
import pins
from node_imports import normal as _normal

REQUIREMENTS = (ROOT / "requirements.txt").read_text()
EXCLUDED = re.compile(r"^# not installed: (?P<name>[A-Za-z0-9_.\-]+) \((?P<why>.+)\)$", re.M)


def names(text: str) -> set[str]:
    """The distributions a requirements file names (markers, extras and versions dropped)."""
    return {_normal(name) for name, _ in node_imports.requirement_specs(text)}


def excluded() -> dict[str, str]:
    return {_normal(m["name"]): m["why"] for m in EXCLUDED.finditer(REQUIREMENTS)}


def pinned_requirements() -> dict[str, set[str]]:
    """pin name -> the packages its installed requirements.txt names."""
    installed = [pin for pin in pins.needed_pins() if pins.is_installed(pin, SESSION_COMFY)]
    if len(installed) != len(pins.needed_pins()):
        pytest.skip(
            "needs the pinned checkout: `python bootstrap.py --archives ../shared/pins` (CI does)"
        )
    out = {}
    for pin in installed:
        path = pins.pin_dir(pin, SESSION_COMFY) / "requirements.txt"
        out[pin.name] = names(path.read_text()) if path.is_file() else set()
    return out


def test_every_package_the_pins_ask_for_is_installed_or_excluded_with_a_reason():
    listed, skipped = names(REQUIREMENTS), excluded()
    assert skipped, "the exclusion list is missing from requirements.txt"
    assert not listed & set(skipped), "a package is both listed and excluded"
    left_out = {
        pin: sorted(wanted - listed - set(skipped))
        for pin, wanted in pinned_requirements().items()
        if wanted - listed - set(skipped)
    }
    assert left_out == {}, (
        f"add these to requirements.txt, or to its exclusion list with the reason: {left_out}"
    )


def test_no_exclusion_outlives_the_pins_that_asked_for_it():
    asked = set().union(*pinned_requirements().values())
    assert sorted(set(excluded()) - asked) == []


def test_the_requirement_that_ended_the_first_fresh_install_is_there():
    # ComfyUI v0.33.0 lists kornia as "non essential", yet ResizeImageMaskNode's module imports it.
    assert "kornia" in names(REQUIREMENTS)


def test_the_tests_pin_no_other_version_than_the_app_installs():
    """A version the test requirements pin is the one requirements.txt gives a newcomer (else
    installing the tests' needs swaps it, and CI tests another release than users get)."""
    app = {_normal(n): spec for n, spec in node_imports.requirement_specs(REQUIREMENTS)}
    test = (ROOT / "requirements-test.txt").read_text()
    different = {}
    for name, spec in node_imports.requirement_specs(test):
        pinned = spec.partition("==")[2].strip()
        theirs = app.get(_normal(name))
        if pinned and theirs is not None and theirs.partition("==")[2].strip() != pinned:
            different[name] = (spec, theirs)
    assert different == {}


def test_names_reads_specs_markers_and_extras():
    text = "gradio[mcp,oauth]==6.31.0\nonnxruntime-gpu; sys_platform == 'linux'\n# x\nPillow\n"
    assert names(text) == {"gradio", "onnxruntime-gpu", "pillow"}


@pytest.mark.skipif(
    not os.environ.get("CI"), reason="CI's own environment: runs where CI=true (.ci/run)"
)
def test_ci_runs_in_a_new_virtual_environment_without_system_packages():
    assert sys.prefix != sys.base_prefix, "CI must run in a virtual environment of its own"
    config = (Path(sys.prefix) / "pyvenv.cfg").read_text()
    assert re.search(r"^include-system-site-packages\s*=\s*false", config, re.M), config
    # Made by this very run: .ci/run creates it anew before installing anything.
    assert Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()
