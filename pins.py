"""What is pinned and where it lives: read-only facts, no installing (bootstrap.py installs).

The pinned ComfyUI core and node packs (`PINS`, each by commit), where the checkout, its model,
input and output folders are (`comfy_dir()`, `models_dir()`, `input_dir()`, `output_dir()`), what
an installed pin's record says (`read_record`, `is_installed`), and which packs the committed
graphs need (`needed_pins`, from `workflows/` and the node-schema snapshot). Cheap to import:
the app, the engine, the workers and the tools ask these without loading the installer.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent
RECORD_NAME = ".aio-pin.json"
WORKFLOWS_DIR = REPO_DIR / "workflows"
# The app's own ComfyUI nodes (loaded in-process and by every remote worker).
AIO_NODES = REPO_DIR / "worker_nodes" / "aio_nodes"
AIO_NODES_MODULE = "custom_nodes.aio_nodes"


@dataclass(frozen=True)
class Pin:
    name: str
    url: str
    sha: str
    # Where the checkout goes, relative to comfy_dir(); "" is the core itself.
    subdir: str
    # The `python_module` prefix of this pack's nodes in ComfyUI's /object_info.
    module: str

    @property
    def repo(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")

    @property
    def archive_name(self) -> str:
        """GitHub's name for the source archive of this commit; its one top folder is the stem."""
        return f"{self.repo}-{self.sha}.tar.gz"

    @property
    def archive_url(self) -> str:
        return f"{self.url.rstrip('/')}/archive/{self.sha}.tar.gz"


PINS = (
    # v0.33.0: LTX-2.5 support, and core nodes for everything the LTX-2.3 graphs did with
    # ComfyUI-LTXVideo (whose pinned commit no longer imports on v0.29+).
    Pin(
        "ComfyUI",
        "https://github.com/comfyanonymous/ComfyUI",
        "2f35f4a08176d993cded35dac3332be4f7287f41",
        "",
        "",
    ),
    Pin(
        "comfyui_controlnet_aux",
        "https://github.com/Fannovel16/comfyui_controlnet_aux",
        "e8b689a513c3e6b63edc44066560ca5919c0576e",
        "custom_nodes/comfyui_controlnet_aux",
        "custom_nodes.comfyui_controlnet_aux",
    ),
    Pin(
        "ComfyUI-GGUF",
        "https://github.com/city96/ComfyUI-GGUF",
        "795e45156ece99afbc3efef911e63fcb46e6a20d",
        "custom_nodes/ComfyUI-GGUF",
        "custom_nodes.ComfyUI-GGUF",
    ),
)
CORE = PINS[0]
# Packs installed even when no committed graph uses them: the GGUF loaders serve the low-VRAM
# weights variant, which swaps loader classes at run time.
ALWAYS_PACKS = ("ComfyUI-GGUF",)
# ComfyUI's own version number at each core pin: all that a stock ComfyUI server says of itself
# (/system_stats), so a remote worker without the app's worker_nodes is checked by it.
CORE_VERSIONS = {
    "bb131be9e83d2f773c90f1d6f1e4b248a498c8c5": "0.27.0",
    "2f35f4a08176d993cded35dac3332be4f7287f41": "0.33.0",
}


def comfy_dir() -> Path:
    """Where the ComfyUI checkout lives: env override, writable HOME on Spaces, else the repo."""
    override = os.environ.get("LTX_AIO_COMFYUI_DIR")
    if override:
        return Path(override).expanduser().resolve()
    if os.environ.get("SPACE_ID"):
        return Path.home() / "comfyui"
    return REPO_DIR / "comfyui"


def models_dir() -> Path:
    """Where weights live: LTX_AIO_MODELS_DIR (one folder several checkouts or workers can share),
    else the checkout's models/."""
    override = os.environ.get("LTX_AIO_MODELS_DIR")
    return Path(override).expanduser().resolve() if override else comfy_dir() / "models"


def aux_ckpts_dir() -> Path:
    """Where comfyui_controlnet_aux finds its annotators (<dir>/<repo>/<file>): its own setting
    AUX_ANNOTATOR_CKPTS_PATH, else models_dir()/controlnet_aux when LTX_AIO_MODELS_DIR is set,
    else the pack's ckpts/."""
    own = os.environ.get("AUX_ANNOTATOR_CKPTS_PATH")
    if own:
        return Path(own)
    if os.environ.get("LTX_AIO_MODELS_DIR"):
        return models_dir() / "controlnet_aux"
    return comfy_dir() / "custom_nodes" / "comfyui_controlnet_aux" / "ckpts"


def input_dir() -> Path:
    """ComfyUI's input folder: where a job's media is staged for its graph."""
    return comfy_dir() / "input"


def output_dir() -> Path:
    """ComfyUI's output folder: where the in-process engine writes a job's video."""
    return comfy_dir() / "output"


def pin_dir(pin: Pin, root: Path | None = None) -> Path:
    root = comfy_dir() if root is None else root
    return root / pin.subdir if pin.subdir else root


def read_record(path: Path) -> dict | None:
    try:
        data = json.loads((path / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_installed(pin: Pin, root: Path | None = None) -> bool:
    record = read_record(pin_dir(pin, root))
    return bool(record) and record.get("sha") == pin.sha and record.get("url") == pin.url


# -- which packs the committed graphs need


def _json(path: Path):
    """`path`'s JSON, parsed once per version of the file (its size and mtime): /healthz and the
    engine's checks ask for the committed graphs and schemas again and again."""
    stat = path.stat()
    return _parsed(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _parsed(path: str, _mtime_ns: int, _size: int):
    return json.loads(Path(path).read_text())


def workflow_class_types(workflows_dir: Path = WORKFLOWS_DIR) -> set[str]:
    classes: set[str] = set()
    for path in sorted(workflows_dir.glob("*.json")):
        graph = _json(path)
        classes.update(
            node["class_type"]
            for node in graph.values()
            if isinstance(node, dict) and "class_type" in node
        )
    return classes


def node_schema_path() -> Path:
    """The committed /object_info snapshot of the pins (made by tools/dump_object_info.py)."""
    return REPO_DIR / "workflows" / "schemas" / "object_info.json"


def class_modules(schema_path: Path | None = None) -> dict[str, str]:
    """node class -> python_module, from the committed node-schema snapshot ({} if absent)."""
    path = schema_path or node_schema_path()
    try:
        schemas = _json(path)
    except (OSError, ValueError):
        return {}
    return {name: info.get("python_module", "") for name, info in schemas.items()}


def pack_of(module: str) -> Pin | None:
    for pin in PINS[1:]:
        if module == pin.module or module.startswith(pin.module + "."):
            return pin
    return None


def needed_pins(
    class_types: Iterable[str] | None = None, modules: dict[str, str] | None = None
) -> list[Pin]:
    """The core, the always-on packs and every pack that provides a node class of our graphs."""
    class_types = workflow_class_types() if class_types is None else class_types
    modules = class_modules() if modules is None else modules
    if not modules:  # no schema snapshot to tell which pack provides what: install every pack
        return list(PINS)
    names = set(ALWAYS_PACKS)
    for cls in class_types:
        pin = pack_of(modules.get(cls, ""))
        if pin:
            names.add(pin.name)
    return [CORE] + [pin for pin in PINS[1:] if pin.name in names]
