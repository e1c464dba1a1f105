"""The engine boundary: the app's one GPU function, its duration estimate, and where prompts run.

`generate()` is the only `@spaces.GPU` function (module level, so ZeroGPU's startup analysis sees
it) and the one boundary the UI tests replace; `estimate_duration()` takes its exact arguments
and says how many seconds to ask ZeroGPU for. Nothing here imports torch or ComfyUI, so `import
backend` stays cheap and CUDA is only initialised inside the GPU task.

Behind it, `executor()` runs the prompt: an `Executor`, either this process's ComfyUI
(comfy_engine.InProcess, the default), the pool of remote ComfyUI workers (worker_pool.Pool) when
LTX_AIO_WORKERS names any, or a RunPod serverless endpoint (runpod_endpoint.Endpoint) when
LTX_AIO_RUNPOD_ENDPOINT names one; each owns placement, progress, cancel and the output file, and
nothing above asks which one ran a job.

On ZeroGPU that task runs in a forked worker process, so everything crossing the boundary is plain
picklable data: a failure comes back as `{"error": AppError.to_dict()}` (ZeroGPU would turn a
raised exception into a bare "ZeroGPU worker error" naming only its class) and `unpack()` raises it
again on this side; a cancel reaches the worker through the job's own marker file, not
through memory.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import comfy_engine
import decode_plan
import errors
import pins
import placement
import readiness
import runpod_endpoint
import runpod_settings
import stages
import tinyset
import worker_pool
import worker_settings
from errors import ERROR_KINDS, AppError
from progress import Progress

try:
    import spaces
except ImportError:  # a local install without the Spaces helper: the decorator is a no-op there
    spaces = None

log = logging.getLogger("ltx_aio.backend")


# -- the ZeroGPU duration estimator (seed 000)

BASE_DURATION_S = {
    "t2v": 90,
    "i2v": 90,
    "a2v": 150,
    "lipsync": 240,
    "keyframe": 120,
    "style": 360,
    # A video edit samples like text to video, plus the encode of the window it is sent.
    "extend": 100,
    "retake": 100,
}
PRESET_MULT = {"fast": 1.0, "balanced": 1.5, "quality": 3.0}
# LTX-2.5's graphs run the distilled transformer alone (no LoRA) and decode with a diffusion
# decoder; until measured on a GPU, the same budget as LTX-2.3's.
FAMILY_MULT = {"ltx-2.5": 1.0, "ltx-2.3": 1.0}
DECODE_S_PER_FRAME = stages.DECODE_S_PER_FRAME
DECODE_S_PER_MEGAPIXEL_FRAME = stages.DECODE_S_PER_MEGAPIXEL_FRAME
COLD_CACHE_S = 60  # loading a family's weights: switching family is a cold start again
# The prompt enhancer (enhance.py) runs as a GPU task of its own: its prefill (Lightricks' system
# prompt, the image) and each token it may generate, until measured on a GPU.
ENHANCE_MODE = "enhance"
ENHANCE_PREFILL_S = stages.ENHANCE_PREFILL_S
ENHANCE_S_PER_TOKEN = stages.ENHANCE_S_PER_TOKEN
ENHANCE_COLD_S = 20  # loading the family's text encoder alone
MIN_DURATION_S, MAX_DURATION_S = 60, 900
_warm_modes: set[tuple[str, str]] = set()  # (mode, model family) run in this process


def family(prompt: dict) -> str:
    """Which model family a prepared graph runs: LTX-2.5's load a bare transformer and Gemma 4
    through CLIPLoader (LTX-2.3's through LTXAVTextEncoderLoader)."""
    classes = {n.get("class_type") for n in prompt.values() if isinstance(n, dict)}
    return "ltx-2.5" if classes & {"UNETLoader", "CLIPLoader"} else "ltx-2.3"


def estimate_duration(
    mode: str,
    preset: str,
    prompt: dict,
    frames: int,
    duration_multiplier: float = 1.0,
    progress: Progress | None = None,
    job_id: str = "",
) -> int:
    """Seconds to ask ZeroGPU for. Takes generate()'s exact arguments, as `spaces.GPU` requires."""
    if mode == ENHANCE_MODE:
        return _enhance_estimate(prompt, duration_multiplier)
    seconds = BASE_DURATION_S.get(mode, max(BASE_DURATION_S.values())) * PRESET_MULT.get(
        preset, 3.0
    )
    seconds *= FAMILY_MULT.get(family(prompt), 1.0)
    seconds += decode_seconds(prompt, frames)
    if (mode, family(prompt)) not in _warm_modes:
        seconds += COLD_CACHE_S
    seconds *= max(1.0, float(duration_multiplier))
    return int(min(MAX_DURATION_S, max(MIN_DURATION_S, round(seconds))))


# The estimate and the time left a running enhancer shows (stages.py) count it alike.
enhance_seconds = stages.enhance_seconds


def _enhance_estimate(prompt: dict, duration_multiplier: float) -> int:
    seconds = enhance_seconds(prompt)
    if not any(fam == family(prompt) for _, fam in _warm_modes):  # its encoder not loaded yet
        seconds += ENHANCE_COLD_S
    seconds *= max(1.0, float(duration_multiplier))
    return int(min(MAX_DURATION_S, max(MIN_DURATION_S, round(seconds))))


# The estimate and the time left a running job shows (stages.py) count the decode alike.
decode_seconds = stages.decode_seconds


def _gpu(duration: Callable[..., int]):
    # With remote workers this process only dispatches: a ZeroGPU task would hold a GPU idle.
    if spaces is None or worker_settings.configured() or runpod_settings.configured():
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# -- the memory a job's decode may use (decode_plan.py cuts the decode to a share of it)

MEMORY_ENV = "LTX_AIO_GPU_MEMORY_GB"
ZEROGPU_MEMORY_GB = 48.0  # the `large` slice: `_gpu` asks ZeroGPU for its default size


def decode_memory(workers: list | None = None) -> dict:
    """The memory a job's decode may use, in GB, its budget and where the figure comes from: the
    one figure the graphs (through jobs.py), /healthz and so the duration estimate go by.
    `workers`: the worker pool's status rows, when the caller has them already."""
    gb, source = _memory_gb(workers)
    return {
        "memory_gb": round(gb, 2),
        "budget_gb": round(decode_plan.budget_bytes(gb * 1e9) / 1e9, 2),
        "source": source,
        # ComfyUI decodes in bf16 where the device has it, else fp32 (twice the memory).
        "dtype_bytes": 4 if source.startswith(FP32_SOURCES) else decode_plan.DTYPE_SIZE,
    }


FP32_SOURCES = ("CPU", "CUDA without bf16")


def _memory_gb(workers: list | None) -> tuple[float, str]:
    raw = os.environ.get(MEMORY_ENV, "").strip()
    ignored = ""
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = 0.0
        if 0 < value < float("inf"):
            return value, MEMORY_ENV
        ignored = f" ({MEMORY_ENV}={raw!r} is not a number of GB above 0: ignored)"
    if worker_settings.on_zerogpu():
        return ZEROGPU_MEMORY_GB, "ZeroGPU's large slice" + ignored
    if workers is None and _overflow_from_here():
        # A job may run here or on the endpoint, whose GPUs say nothing: the smaller of the two.
        gb, source = _device_memory_gb()
        if gb < decode_plan.DEFAULT_MEMORY_GB:
            return gb, source + " (a job may also run on the RunPod endpoint)" + ignored
        return (
            decode_plan.DEFAULT_MEMORY_GB,
            "default: a job may run on the RunPod endpoint" + ignored,
        )
    if workers is not None or worker_settings.configured() or runpod_settings.configured():
        # A job may land on any worker: the smallest GPU among those that can take one.
        wait = worker_pool.STATUS_WAIT_S  # the first check of the workers says their GPUs
        rows = workers if workers is not None else executor().status(wait).get("workers") or []
        sizes = [
            row["device"]["vram_total_gb"]
            for row in rows
            if row.get("state") == "up"
            and isinstance((row.get("device") or {}).get("vram_total_gb"), (int, float))
            and row["device"]["vram_total_gb"] > 0
        ]
        if sizes:
            return min(sizes), f"the smallest GPU of the {len(sizes)} worker(s) up" + ignored
        return decode_plan.DEFAULT_MEMORY_GB, "default: no worker is up to say" + ignored
    gb, source = _device_memory_gb()
    return gb, source + ignored


def _overflow_from_here() -> bool:
    """Jobs run in this process, or on the RunPod endpoint when it is busy (placement.py)."""
    return (
        runpod_settings.configured()
        and runpod_settings.placement() == placement.OVERFLOW
        and not worker_settings.configured()
    )


def _device_memory_gb() -> tuple[float, str]:
    """This process's device, read only where torch is loaded already: importing it here could
    initialise CUDA outside the GPU task (see health.py)."""
    torch = sys.modules.get("torch")
    default = decode_plan.DEFAULT_MEMORY_GB
    kind = "CPU: RAM available"
    if torch is None:
        system = readiness.probe_device().get("type")
        if system == "cuda":
            return _nvidia_smi_gb() or (
                default,
                "default: the GPU is read once PyTorch is loaded (the first job)",
            )
        if system == "mps":
            kind = "MPS: RAM available (unified memory)"
    else:
        try:
            if torch.cuda.is_available():
                # What is free, plus what this process holds: ComfyUI frees its own for the VAE.
                free, _total = torch.cuda.mem_get_info()
                bf16 = torch.cuda.is_bf16_supported()
                said = "CUDA: free plus held here" if bf16 else "CUDA without bf16: free plus held"
                return (free + torch.cuda.memory_reserved()) / 1e9, said
            kind = "CPU: RAM available"
            if comfy_engine.mps_available(torch):
                recommended = getattr(getattr(torch, "mps", None), "recommended_max_memory", None)
                if recommended is not None:
                    return recommended() / 1e9, "MPS: its recommended maximum"
                kind = "MPS: RAM available (unified memory)"
        except Exception as exc:  # a broken CUDA setup: plan for the default rather than fail
            return default, f"default: the device could not be read ({type(exc).__name__})"
    ram = _ram_available_bytes()
    return (ram / 1e9, kind) if ram else (default, "default: the RAM could not be read")


def _nvidia_smi_gb() -> tuple[float, str] | None:
    """The free memory of the GPU this process would use, asked of nvidia-smi (no CUDA is
    initialised here); None where it cannot say."""
    import subprocess

    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    index = visible if visible.isdigit() else "0"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--id={index}", "--query-gpu=memory.free,compute_cap",
             "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        free_mib, cap = (part.strip() for part in out.strip().splitlines()[0].split(","))
        gb = float(free_mib) * 2**20 / 1e9
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    try:
        bf16 = float(cap) >= 8.0  # bf16 from Ampere on
    except ValueError:
        bf16 = True
    return gb, ("CUDA (nvidia-smi): free" if bf16 else "CUDA without bf16 (nvidia-smi): free")


def _ram_available_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


TINY_WARNING = (
    "Running on the tiny random-weight test set (LTX_AIO_TINY_WEIGHTS=1): every node runs, but "
    "videos are noise. Unset it for real weights."
)


# -- the GPU function


@_gpu(estimate_duration)
def generate(
    mode: str,
    preset: str,
    prompt: dict,
    frames: int,
    duration_multiplier: float = 1.0,
    progress: Progress | None = None,
    job_id: str = "",
) -> dict:
    """The GPU task: run the prepared prompt of one mode. Returns plain data, failures included
    (`{"error": ...}`): pass the result through `unpack()`."""
    try:
        if runpod_settings.configured():
            expect(job_id, estimate_duration(mode, preset, prompt, frames, duration_multiplier))
        result = run(prompt, progress, job_id, mode)
        # Where the engine lives: on ZeroGPU a later task may get a fresh worker, so the app's
        # process, which estimates, keeps counting every mode as cold there.
        _warm_modes.add((mode, family(prompt)))
        return result
    except AppError as exc:
        return {"error": exc.to_dict()}
    except Exception as exc:
        return {"error": _unexpected(exc).to_dict()}


def _unexpected(exc: Exception) -> AppError:
    name, message = type(exc).__name__, str(exc).strip()
    if isinstance(exc, MemoryError) or errors.is_out_of_memory(name, message):
        return AppError("oom", "The device ran out of memory.")
    log.exception("the GPU task failed")
    return AppError("node_failed", f"{name}: {message}".strip(": "))


def unpack(result: dict) -> dict:
    """generate()'s result on the caller's side: the failure it carries is raised again. An
    engine that could not start where the task ran (the ZeroGPU worker) stays failed there, so
    engine_status() reports it from then on."""
    error = result.get("error") if isinstance(result, dict) else None
    if isinstance(error, dict):
        err = AppError(
            error.get("kind") if error.get("kind") in ERROR_KINDS else "node_failed",
            str(error.get("message") or "Generation failed."),
            where=str(error.get("where") or ""),
            hint=str(error.get("hint") or ""),
        )
        if err.kind == "unavailable":
            comfy_engine.remember_task_failure(err)
        raise err
    return result


# -- the executor behind generate(): this process's ComfyUI, or remote workers


class Executor(Protocol):
    """What runs prepared prompts. Three satisfy it: comfy_engine.InProcess (this process's
    ComfyUI, one job at a time), worker_pool.Pool (remote ComfyUI workers, one job each) and
    runpod_endpoint.Endpoint (a RunPod serverless endpoint running worker-comfyui)."""

    local_weights: bool  # whether weights load from this machine's models folder

    def run(self, prompt: dict, progress: Progress | None, job_id: str, mode: str) -> dict:
        """Validate and execute `prompt`; {"video", "outputs", "seconds", "timings", ...}."""
        ...

    def cancel(self, job_id: str) -> None:
        """Stop job `job_id` (any running job when empty), also if it only starts later."""
        ...

    def status(self, wait_s: float) -> dict:
        """{"ready", "problems", "warnings", ...} from kept state, waiting at most `wait_s`."""
        ...

    def slots(self) -> int:
        """How many jobs can run at once."""
        ...


def executor() -> Executor:
    """Where prompts run: the pool of remote workers that LTX_AIO_WORKERS names, else this
    process; with a RunPod endpoint (LTX_AIO_RUNPOD_ENDPOINT), the endpoint for every job or for
    those the local side has no slot for (placement.py). Each owns its progress, cancel and
    output files; nothing above asks which one ran a job."""
    local = worker_pool.pool(pins.input_dir, pins.output_dir) or comfy_engine.IN_PROCESS
    remote = runpod_endpoint.endpoint(pins.input_dir, pins.output_dir)
    return placement.placed(local, remote, runpod_settings.placement())


def run(prompt: dict, progress: Progress | None = None, job_id: str = "", mode: str = "") -> dict:
    """Validate and execute one API-format prompt (of job `job_id`, whose cancel it obeys).

    Returns {"video": path, "outputs": [paths], "seconds": total, "timings": {step: seconds}},
    plus the "worker" that ran it and "notes" when a remote worker did.
    """
    return executor().run(prompt, progress, job_id, mode)


def expect(job_id: str, gpu_s: int) -> None:
    """Job `job_id`'s estimated GPU seconds: shown and checked before it goes to a paid
    endpoint (placement.py)."""
    if runpod_settings.configured():
        ex = executor()
        if isinstance(ex, placement.Placement):
            ex.expect(job_id, gpu_s)


def cancel(job_id: str = "") -> None:
    """Stop job `job_id` (any running job when empty), wherever it runs or is about to."""
    executor().cancel(job_id)


def slots() -> int:
    """How many jobs can run at once: one per remote worker, else one."""
    return executor().slots()


def local_weights() -> bool:
    """Whether the weights are loaded from this machine's models folder (in-process), rather
    than from each worker's own."""
    return executor().local_weights


def engine_status(wait_s: float = worker_pool.STATUS_WAIT_S) -> dict:
    """Whether generation can run here, and why not; cheap (imports nothing heavy), from kept
    state. Right after start the worker pool may wait up to `wait_s` for its first check of
    the workers."""
    status = executor().status(wait_s=wait_s)
    status["decode_memory"] = decode_memory(status.get("workers"))
    said = [TINY_WARNING] if tinyset.requested() else []
    said += [worker_settings.ignored()] if worker_settings.ignored() else []
    said += [runpod_settings.ignored()] if runpod_settings.ignored() else []
    said += [runpod_settings.bad_placement()] if runpod_settings.bad_placement() else []
    overflow = status.get("placement") == placement.OVERFLOW
    if runpod_settings.configured() and worker_settings.configured() and not overflow:
        said.append(
            f"{worker_settings.WORKERS_ENV} is unused: every job goes to the RunPod endpoint "
            f"({runpod_settings.ENDPOINT_ENV})."
        )
    status["warnings"] = [*status.get("warnings", []), *said]
    return status
