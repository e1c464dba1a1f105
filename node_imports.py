"""Which of ComfyUI's node modules failed to import while the engine started, and what to install.

ComfyUI imports each node module (`comfy_extras/nodes_*.py`, each pack in `custom_nodes/`) inside
`nodes.load_custom_node`, which catches any failure and only logs it: a traceback, then
"Cannot import <path> module for custom nodes: <error>", and at the end an "IMPORT FAILED" list
that advises `pip install -r requirements.txt` (ComfyUI's file, not ours). A node class a graph
needs is then simply absent. `Watch` takes those records while the nodes load, so that

- a module a graph needs names itself, the missing Python package and the exact pip command, in
  the engine's error (the status banner, `/healthz` and the console all show that one message);
- a module no graph uses (e.g. the GLSL shader nodes, which need a native ANGLE build) is said once
  on the console as harmless, instead of a traceback and "IMPORT FAILED" on every healthy start.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("ltx_aio.node_imports")

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"
# Import names whose pip distribution is named otherwise.
DISTRIBUTIONS = {
    "cv2": "opencv-python-headless",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "dateutil": "python-dateutil",
    "google": "protobuf",
    "comfy_angle": "comfy-angle",
    "OpenGL": "PyOpenGL",
    "onnxruntime": "onnxruntime-gpu",
}
_CANNOT_IMPORT = re.compile(
    r"^Cannot import (?P<path>.+?) module for custom nodes: (?P<error>.*)$", re.S
)
_NO_MODULE = re.compile(r"No module named '(?P<name>[^']+)'")


@dataclass(frozen=True)
class Failure:
    path: str  # the module's file or the pack's folder, as ComfyUI logged it
    error: str  # str() of the exception, e.g. "No module named 'kornia'"
    traceback: str = ""

    @property
    def module(self) -> str:
        """The `python_module` its classes would have in /object_info: comfy_extras.nodes_x,
        custom_nodes.<pack>, ..."""
        path = Path(self.path)
        stem = path.stem if path.suffix == ".py" else path.name
        return f"{path.parent.name}.{stem}"

    @property
    def shown(self) -> str:
        """The module as a person finds it in the checkout: comfy_extras/nodes_x.py."""
        path = Path(self.path)
        return f"{path.parent.name}/{path.name}"

    @property
    def missing_package(self) -> str | None:
        """The pip distribution that would fix a missing import, else None."""
        match = _NO_MODULE.search(self.error)
        if not match:
            return None
        top = match.group("name").split(".")[0]
        return DISTRIBUTIONS.get(top, top)


class Watch(logging.Filter):
    """While installed on the root logger, takes ComfyUI's import-failure records off the console
    and keeps them as `failures`."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[Failure] = []
        self._traceback = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.funcName == "load_custom_node":
            text = record.getMessage()
            if text.startswith("Traceback (most recent call last)"):
                self._traceback = text
                return False
            match = _CANNOT_IMPORT.match(text)
            if match:
                self.failures.append(
                    Failure(match["path"], match["error"].strip(), self._traceback)
                )
                self._traceback = ""
                return False
        # ComfyUI's closing "IMPORT FAILED" list and its advice: said here instead, in our words.
        return record.funcName != "init_extra_nodes" or record.levelno < logging.WARNING

    def __enter__(self) -> Watch:
        logging.getLogger().addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeFilter(self)


def requirement_spec(package: str, requirements: Path = REQUIREMENTS) -> str:
    """`package` as requirements.txt pins it ("kornia>=0.7.1"), else its bare name."""
    wanted = normal(package)
    try:
        text = requirements.read_text()
    except OSError:
        return package
    return next((spec for name, spec in requirement_specs(text) if normal(name) == wanted), package)


def requirement_specs(text: str) -> list[tuple[str, str]]:
    """(name, spec) of each requirement line (comments, markers and options dropped)."""
    found = []
    for line in text.splitlines():
        spec = line.split("#", 1)[0].split(";", 1)[0].strip()
        name = re.split(r"[<>=!~\[ ]", spec, maxsplit=1)[0]
        if name and not spec.startswith("-"):
            found.append((name, spec))
    return found


def normal(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_command(packages: list[str]) -> str:
    specs = [requirement_spec(p) for p in packages]
    return "python -m pip install " + " ".join(
        f'"{s}"' if set(s) & set("<>=!~") else s for s in specs
    )


def explain(missing: dict[str, str], failures: list[Failure]) -> tuple[str, str] | None:
    """(message, hint) for node classes a graph needs that are missing because their module
    failed to import; None when no failed module accounts for them.

    `missing` maps each missing class to the python_module the node-schema snapshot gives it."""
    by_module = {f.module: f for f in failures}
    behind = {cls: by_module[mod] for cls, mod in sorted(missing.items()) if mod in by_module}
    if not behind:
        return None
    broken = list(dict.fromkeys(behind.values()))
    packages = list(dict.fromkeys(p for f in broken if (p := f.missing_package)))
    classes = ", ".join(behind)
    noun = "node class" if len(behind) == 1 else "node classes"
    verb = "is" if len(behind) == 1 else "are"
    modules = "; ".join(f"{f.shown} ({f.error})" for f in broken)
    if packages:
        said = ", ".join(packages)
        head = f"Missing Python package{'s' if len(packages) > 1 else ''} {said}"
        message = (
            f"{head}: the {noun} {classes} that the workflows need {verb} not registered. "
            f"ComfyUI could not import {modules}."
        )
        hint = f"Run `{pip_command(packages)}`, then restart."
    else:
        message = (
            f"The {noun} {classes} that the workflows need {verb} not registered: "
            f"ComfyUI could not import {modules}."
        )
        hint = "The console shows the traceback. Reinstall requirements.txt, then restart."
    return message, hint


def log_unused(failures: list[Failure], needed_modules: set[str], logger=log) -> None:
    """The console's one line for modules no graph needs; the traceback of each one that a
    graph needs (its message is the engine's error)."""
    unused = [f for f in failures if f.module not in needed_modules]
    if unused:
        logger.info(
            "ComfyUI node modules that no workflow uses did not import (harmless): %s",
            "; ".join(f"{f.shown} ({f.error})" for f in unused),
        )
    for f in failures:
        if f.module in needed_modules and f.traceback:
            logger.warning("%s did not import:\n%s", f.shown, f.traceback)
