"""What stands between this server and a good generation, said once: for the page's status banner,
`/healthz` and the console alike.

Beside the engine's own verdict (backend.engine_status: the pinned ComfyUI, PyTorch, the node
packs), two facts a newcomer trips over: which device ComfyUI will run on (CUDA, Apple MPS or
none: it then runs on the CPU, allowed but very slow), and whether the disk the weights download
to can hold the chosen variant's files (and which smaller variant would fit). Each fact is a
`Line`: a short headline for the banner, the details and the fix behind a disclosure, and whether
it stops generation ("problem") or only warns.

The device is read without importing torch (importing it is slow, and on ZeroGPU initialising
CUDA outside a GPU task is fatal): from torch only when it is already loaded, else from the system
(the NVIDIA driver's device list, the Mac's chip) and the installed torch build's version tag.
"""

from __future__ import annotations

import logging
import platform
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import worker_settings

log = logging.getLogger("ltx_aio.readiness")

CUDA_WHEELS = "https://download.pytorch.org/whl/cu128"
TORCH_PINS = "torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0"


@dataclass(frozen=True)
class Line:
    level: str  # "problem": nothing can be generated; "warning": it can, but see why
    headline: str
    detail: str = ""


# -- the device -----------------------------------------------------------------------------------


def probe_device() -> dict:
    """{"type": "cuda" | "mps" | "cpu" | "zerogpu", "source", "name"?, "torch_build"?}."""
    if worker_settings.on_zerogpu():
        return {"type": "zerogpu", "source": "environment"}
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                return {"type": "cuda", "source": "torch", "name": torch.cuda.get_device_name()}
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return {"type": "mps", "source": "torch"}
            return {"type": "cpu", "source": "torch"}
        except Exception as exc:  # a broken CUDA setup reads as "no GPU", with why
            return {"type": "cpu", "source": "torch", "error": repr(exc)}
    found = {"type": _system_device(), "source": "system"}
    build = torch_build()
    if build:
        found["torch_build"] = build
    return found


def _system_device() -> str:
    nvidia = Path("/proc/driver/nvidia/gpus")
    try:
        if nvidia.is_dir() and any(nvidia.iterdir()):
            return "cuda"
    except OSError:
        pass
    if Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists():  # NVIDIA, or AMD ROCm
        return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def torch_build() -> str | None:
    """The installed PyTorch wheel: `cpu` (CPU-only), `gpu` (any other), None (none)."""
    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    return "cpu" if version.endswith("+cpu") else "gpu"


def device_line(device: dict) -> Line | None:
    kind = device.get("type")
    if kind in ("zerogpu", "mps"):
        return None
    if kind == "cuda" and device.get("torch_build") == "cpu":
        return Line(
            "warning",
            "PyTorch is a CPU-only build: the GPU here will not be used.",
            "ComfyUI would run on the CPU, which takes hours per video. Install the CUDA build: "
            f"`pip install {TORCH_PINS} --index-url {CUDA_WHEELS}`, then restart.",
        )
    if kind == "cuda":
        return None
    why = f" ({device['error']})" if device.get("error") else ""
    return Line(
        "warning",
        "No GPU found: generation runs on the CPU and takes hours per video.",
        f"No CUDA or Apple MPS device was found{why}, so ComfyUI runs on the CPU. That works, "
        "but only for trying the app: use the fast preset and few frames.",
    )


# -- the disk the weights download to -------------------------------------------------------------


def probe_weights() -> dict:
    """The disk the chosen variant's weights need where downloads land: per model family, its
    largest one-mode download (`by_model`; a job loads one family's files), the largest of those
    (`need_gb`), the free disk, and the same need in each other variant. With remote workers
    (LTX_AIO_WORKERS) this machine downloads nothing: `local` is then False and nothing else."""
    import downloads
    import models
    import runpod_settings
    import worker_settings
    from model_manifest import VARIANTS

    variant = models.default_variant()
    if worker_settings.configured() or runpod_settings.configured():
        return {"variant": variant, "local": False}
    _, free = downloads.cache_free()
    need = {name: _largest_download(models.model_status(variant=name)) for name in VARIANTS}
    return {
        "variant": variant,
        "need_gb": max(need[variant].values(), default=0.0),
        "by_model": need[variant],
        "free_gb": round(free / 1e9, 1),
        "where": str(models.hub_cache_dir()),
        "others_gb": {
            name: max(gb.values(), default=0.0) for name, gb in need.items() if name != variant
        },
    }


def _largest_download(status: dict) -> dict[str, float]:
    """Model family -> the most GB one mode still has to fetch to run on it."""
    largest: dict[str, float] = {}
    for info in status["modes"].values():
        for family, totals in (info.get("by_model") or {}).items():
            largest[family] = max(largest.get(family, 0.0), totals["missing_gb"])
    return {family: round(gb, 1) for family, gb in largest.items()}


def weights_line(weights: dict) -> Line | None:
    if weights.get("local") is False:  # remote workers load their own weights
        return None
    if "need_gb" not in weights:  # the probe failed; /healthz shows why
        return None
    need, free = weights["need_gb"], weights["free_gb"]
    if need <= free:
        return None
    fits = sorted((gb, name) for name, gb in (weights.get("others_gb") or {}).items() if gb <= free)
    fix = f"Free {need - free:.1f} GB or point HF_HOME at a bigger disk"
    if fits:
        gb, name = fits[0]
        fix += f", or use the {name} weights ({gb} GB): set `LTX_AIO_MODEL_VARIANT={name}`"
    said, room = f"{need} GB to download", ""
    by_model = weights.get("by_model") or {}
    if by_model:  # a job loads one model family's files: say each family's need
        from modes import MODEL_TITLES

        titled = [(gb, MODEL_TITLES.get(f, f)) for f, gb in by_model.items() if gb > free]
        short = sorted(titled, reverse=True)
        if short:  # the other family's need apart: the two are never one download
            said = f"{short[0][0]} GB to download for {short[0][1]}"
            said += "".join(f" ({gb} GB for {title})" for gb, title in short[1:])
        room = " ".join(
            f"{MODEL_TITLES.get(f, f)}'s files ({gb} GB) fit: what runs on "
            f"{MODEL_TITLES.get(f, f)} works."
            for f, gb in by_model.items()
            if gb <= free
        )
    return Line(
        "warning",
        f"Not enough disk for the {weights['variant']} weights: {said}, {free} GB free.",
        f"Weights download to {weights['where']} when a mode first runs on a model. "
        f"{room + ' ' if room else ''}{fix}, then restart.",
    )


# -- all of it ------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(])")


def split(text: str, level: str = "problem") -> Line:
    """An engine message -> its first sentence as the headline, the rest as the detail."""
    parts = _SENTENCE_END.split(text.strip(), maxsplit=1)
    return Line(level, parts[0], parts[1] if len(parts) > 1 else "")


def lines(engine: dict | None = None, device: dict | None = None, weights=None) -> list[Line]:
    """Every line, problems first. Each probe that is not given is run (and never raises)."""
    if engine is None:
        engine = _probe(_engine, {"ready": False, "problems": ["The engine status is unknown."]})
    device = _probe(probe_device, {"type": "unknown"}) if device is None else device
    weights = _probe(probe_weights, None) if weights is None else weights
    out = [split(text) for text in engine.get("problems") or []]
    out += [split(text, "warning") for text in engine.get("warnings") or []]
    for line in (device_line(device), weights_line(weights or {})):
        if line is not None:
            out.append(line)
    return out


def _engine() -> dict:
    import backend

    return backend.engine_status()


def _probe(fn, fallback):
    try:
        return fn()
    except Exception:
        log.exception("a readiness probe failed")
        return fallback


def log_lines(logger: logging.Logger = log) -> None:
    """The console says what the page's status banner says."""
    found = lines()
    if not found:
        logger.info("Generation is ready.")
    for line in found:
        say = logger.error if line.level == "problem" else logger.warning
        say("%s %s", line.headline, line.detail)
