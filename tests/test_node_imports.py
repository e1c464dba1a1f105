"""A node module that does not import names itself, the package it lacks and the pip command.

L1: ComfyUI's log records read as failures, and what is said for them. L-comfy: the real engine
started with `kornia` made unimportable (as on a machine whose install missed it) refuses with that
message in the engine status, `/healthz` and the console, and a healthy start says nothing alarming.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, SESSION_COMFY, tiny_env

import node_imports
from node_imports import Failure, Watch

POST = str(SESSION_COMFY / "comfy_extras" / "nodes_post_processing.py")


def _record(text: str, func: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("root", level, "nodes.py", 1, text, None, None, func=func)


def test_watch_takes_comfyuis_import_failure_records_off_the_console():
    watch = Watch()
    shown = [
        watch.filter(
            _record("Traceback (most recent call last):\n  ...\nNo module", "load_custom_node")
        ),
        watch.filter(
            _record(
                f"Cannot import {POST} module for custom nodes: No module named 'kornia'",
                "load_custom_node",
            )  # fmt: skip
        ),
        watch.filter(_record("IMPORT FAILED: nodes_post_processing.py", "init_extra_nodes")),
        watch.filter(_record("Please do a: pip install -r requirements.txt", "init_extra_nodes")),
        watch.filter(_record("Import times for custom nodes:", "init_external_custom_nodes")),
        watch.filter(_record("Trying to load custom node x", "load_custom_node", logging.DEBUG)),
    ]
    assert shown == [False, False, False, False, True, True]
    [failure] = watch.failures
    assert failure.module == "comfy_extras.nodes_post_processing"
    assert failure.shown == "comfy_extras/nodes_post_processing.py"
    assert failure.missing_package == "kornia"
    assert failure.traceback.startswith("Traceback")


def test_a_pack_folder_and_an_import_name_that_is_not_its_package():
    pack = Failure(str(SESSION_COMFY / "custom_nodes" / "comfyui_controlnet_aux"),
                   "No module named 'cv2.dnn'")  # fmt: skip
    assert pack.module == "custom_nodes.comfyui_controlnet_aux"
    assert pack.missing_package == "opencv-python-headless"
    assert Failure(POST, "libGL.so.1: cannot open shared object file").missing_package is None


def test_the_pip_command_uses_requirements_txts_own_spec():
    assert node_imports.requirement_spec("kornia") == "kornia>=0.7.1"
    assert node_imports.requirement_spec("scikit_image") == "scikit-image"
    assert node_imports.requirement_spec("not-listed-anywhere") == "not-listed-anywhere"
    assert node_imports.pip_command(["kornia", "einops"]) == (
        'python -m pip install "kornia>=0.7.1" einops'
    )


def test_a_missing_class_is_explained_by_the_module_that_did_not_import():
    failures = [
        Failure(POST, "No module named 'kornia'"),
        Failure(
            str(SESSION_COMFY / "comfy_extras" / "nodes_glsl.py"), "No module named 'comfy_angle'"
        ),  # fmt: skip
    ]
    message, hint = node_imports.explain(
        {"ResizeImageMaskNode": "comfy_extras.nodes_post_processing"}, failures
    )
    assert message.startswith("Missing Python package kornia: the node class ResizeImageMaskNode")
    assert "comfy_extras/nodes_post_processing.py (No module named 'kornia')" in message
    assert "comfy_angle" not in message + hint  # no graph needs the GLSL nodes
    assert hint == 'Run `python -m pip install "kornia>=0.7.1"`, then restart.'
    # A class whose pack is simply not installed is not this module's to explain.
    assert node_imports.explain({"DWPreprocessor": "custom_nodes.x"}, failures) is None


def test_a_failure_that_is_no_missing_package_points_at_the_traceback():
    message, hint = node_imports.explain(
        {"ResizeImageMaskNode": "comfy_extras.nodes_post_processing"},
        [Failure(POST, "libGL.so.1: cannot open shared object file")],
    )
    assert "libGL.so.1" in message and "traceback" in hint


# -- the real engine, in a process of its own


BLOCKED_START = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
BLOCK = sys.argv[1]

class Block:  # an install that missed BLOCK: its import fails as a missing module does
    def find_spec(self, name, path=None, target=None):
        if BLOCK and name.split(".")[0] == BLOCK:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Block())
import backend, health
import comfy_engine
try:
    comfy_engine.engine()
except Exception as exc:
    print("ENGINE", exc, file=sys.stderr)
code, body = health.health_report()
print(json.dumps({"code": code, "problems": body.get("problems") or body.get("reasons"),
                  "status": backend.engine_status()["problems"]}))
"""


def _start(block: str, tiny_models) -> tuple[dict, str]:
    env = {**os.environ, **tiny_env(tiny_models)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BLOCKED_START), block],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.comfy
def test_an_engine_without_kornia_names_it_and_the_command(tiny_models):
    report, console = _start("kornia", tiny_models)
    fix = 'python -m pip install "kornia>=0.7.1"'
    assert report["code"] == 503
    [said] = [p for p in report["status"] if "kornia" in p]
    assert said.startswith("Missing Python package kornia")
    assert "ResizeImageMaskNode" in said and "nodes_post_processing.py" in said and fix in said
    assert any(fix in p for p in report["problems"]), report["problems"]  # /healthz
    assert f"ENGINE {said}" in console
    assert "IMPORT FAILED" not in console  # ComfyUI's advice names its own requirements.txt


@pytest.mark.comfy
def test_a_healthy_start_logs_no_import_failure_as_a_problem(tiny_models):
    report, console = _start("", tiny_models)
    assert report["status"] == [] and "ENGINE" not in console
    assert "IMPORT FAILED" not in console and "Traceback" not in console
    harmless = [line for line in console.splitlines() if "did not import" in line]
    # The GLSL shader nodes need a native ANGLE build (comfy-angle) that no graph needs.
    assert all("(harmless)" in line and line.startswith("INFO") for line in harmless), harmless
