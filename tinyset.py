"""The tiny random-weight model set that tests and benchmarks run whole graphs on.

`tools/make_tiny_weights.py` writes it into a models folder: every weight file the graphs load,
under its real name and folder, with the real formats and key layouts but tiny sizes, and a marker
(MARKER) that lists each file and the dimensions it was made with. ComfyUI sizes every model from
its file except Gemma 3 12B, Gemma 4 12B and LTX-2.5's duration head, whose dimensions it
hard-codes; `install_seam` swaps those for the marker's. That seam runs only when BOTH the marker
lies in the models folder in use AND LTX_AIO_TINY_WEIGHTS=1 asks for it, so a normal install can
never load a tiny model by accident.
What such a set generates is noise: it proves that every node runs, not what a video looks like.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from errors import AppError

MARKER = ".aio-tiny-weights.json"
ENV = "LTX_AIO_TINY_WEIGHTS"


def requested() -> bool:
    return os.environ.get(ENV, "").strip() == "1"


def read_marker(models_dir: Path, *, complete: bool = True) -> dict | None:
    """The set's marker; with `complete`, only that of a set whose every file was written."""
    try:
        marker = json.loads((Path(models_dir) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        return None
    return marker if marker.get("complete") or not complete else None


def active(models_dir: Path) -> dict | None:
    """The marker of the tiny set in use, or None in a normal install."""
    if not requested():
        return None
    marker = read_marker(models_dir)
    if marker is None:
        raise AppError(
            "unavailable",
            f"{ENV}=1 asks for the tiny test weights, but {models_dir} holds no tiny set.",
            hint="Run `python tools/make_tiny_weights.py` and set LTX_AIO_MODELS_DIR to the "
            f"folder it names, or unset {ENV}.",
        )
    return marker


def problem(models_dir: Path) -> str | None:
    """Why a tiny set in the models folder cannot serve this process, if it cannot."""
    if requested() or read_marker(models_dir) is None:
        return None
    return (
        f"{models_dir} holds the tiny random-weight test set, which makes noise, not video. "
        f"Point LTX_AIO_MODELS_DIR at real weights, or set {ENV}=1 to run tests on it."
    )


def file_sizes(models_dir: Path) -> dict[str, int]:
    """`<folder>/<filename>` -> bytes of each file of the active tiny set ({} otherwise)."""
    marker = active(models_dir)
    if marker is None:
        return {}
    return {name: int(info["size"]) for name, info in marker["files"].items()}


def enhance_max_tokens(models_dir: Path) -> int | None:
    """The most tokens the prompt enhancer generates on the active tiny set (None: the graph's
    own cap, in a normal install): its random text encoder seldom stops by itself."""
    marker = active(models_dir)
    value = (marker or {}).get("enhance_max_tokens")
    return int(value) if isinstance(value, int) and value > 0 else None


def install_seam(marker: dict) -> None:
    """Give ComfyUI's Gemma 3 12B (LTX-2.3) and Gemma 4 12B (LTX-2.5) text encoders and LTX-2.5's
    duration head the tiny set's dimensions. Call after ComfyUI is imported and before a model is
    loaded; calling it again changes nothing. (The text projections are sized from the files
    since v0.33.)"""
    if marker.get("duration_head"):
        _install_duration_head(marker["duration_head"])
    import comfy.text_encoders.llama as llama

    dims = marker.get("text_encoder")
    if not dims or getattr(llama.Gemma3_12B_Config, "aio_tiny", False):
        return  # a real-size set (no seam), or installed already
    gemma, vision = dims["gemma"], dims["vision"]
    fields = {key: value for key, value in gemma.items() if key != "head_dim"}
    namespace = {
        "__annotations__": {key: type(value) for key, value in fields.items()},
        **fields,
        # Class attributes in ComfyUI's config, not dataclass fields.
        "head_dim": gemma["head_dim"],
        "vision_config": vision,
        "mm_tokens_per_image": dims["mm_tokens_per_image"],
        "aio_tiny": True,
    }
    llama.Gemma3_12B_Config = dataclasses.dataclass(
        type("TinyGemma3_12B_Config", (llama.Gemma3_12B_Config,), namespace)
    )
    if "gemma4" in dims:  # LTX-2.5's encoder, hard-coded the same way
        _install_gemma4(dims["gemma4"])


def _install_gemma4(dims: dict) -> None:
    import comfy.text_encoders.gemma4 as gemma4

    base = gemma4.Gemma4_12B_Config
    fields = {f.name for f in dataclasses.fields(base)}
    namespace = {
        "__annotations__": {k: type(v) for k, v in dims.items() if k in fields},
        **dims,  # fields and class attributes alike (head_dim, vision_config, ...)
        "aio_tiny": True,
    }
    gemma4.Gemma4_12B_Config = dataclasses.dataclass(
        type("TinyGemma4_12B_Config", (base,), namespace)
    )


def _install_duration_head(dims: dict) -> None:
    """ModelPatchLoader builds `DurationHead()` with its real dimensions; the tiny set's head
    reads the tiny transformer's caption tokens."""
    import comfy.ldm.lightricks.duration_head as duration_head

    base = duration_head.DurationHead
    if getattr(base, "aio_tiny", False):
        return

    class TinyDurationHead(base):
        aio_tiny = True

        def __init__(self, **overrides):
            super().__init__(**{**dims, **overrides})

    duration_head.DurationHead = TinyDurationHead
