"""In-process ComfyUI: one lazily started engine per process, and the app's one GPU function.

`generate()` is the only `@spaces.GPU` function (module level, so ZeroGPU's startup analysis sees
it) and the one boundary the UI tests replace. Nothing here imports torch or ComfyUI until the
first generation, so `import backend` stays cheap and CUDA is only initialised inside the GPU task.

Behind it, `executor()` runs the prompt: this process's ComfyUI (`InProcess`, the default), or,
when LTX_AIO_WORKERS names any, the pool of remote ComfyUI workers (worker_pool.py), which then
owns placement, progress, cancel and the output file; nothing above asks which one ran a job.

On ZeroGPU that task runs in a forked worker process, so everything crossing the boundary is plain
picklable data: a failure comes back as `{"error": AppError.to_dict()}` (ZeroGPU would turn a
raised exception into a bare "ZeroGPU worker error" naming only its class) and `unpack()` raises it
again on this side; a cancel reaches the worker through the job's own marker file, not
through memory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import bootstrap
import comfy_events
import comfy_fixes
import decode_plan
import errors
import node_imports
import pins
import readiness
import tinyset
import worker_pool
import worker_settings
import workflow
from comfy_events import ProgressLines, classify_execution, classify_validation, pack_name
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
}
PRESET_MULT = {"fast": 1.0, "balanced": 1.5, "quality": 3.0}
# LTX-2.5's graphs run the distilled transformer alone (no LoRA) and decode with a diffusion
# decoder; until measured on a GPU, the same budget as LTX-2.3's.
FAMILY_MULT = {"ltx-2.5": 1.0, "ltx-2.3": 1.0}
DECODE_S_PER_FRAME = 0.3  # a prompt without a "Decode video" node to read
# Until measured on a GPU: the flat 0.3 s a frame at balanced's 1280x704 (0.9 megapixels), now
# per megapixel-frame actually decoded, so that overlapping tiles cost what they add.
DECODE_S_PER_MEGAPIXEL_FRAME = 0.33
COLD_CACHE_S = 60  # loading a family's weights: switching family is a cold start again
MIN_DURATION_S, MAX_DURATION_S = 60, 900
_warm_modes: set[tuple[str, str]] = set()  # (mode, model family) run in this process


def family(prompt: dict) -> str:
    """Which model family a prepared graph runs: LTX-2.5's load a bare transformer."""
    classes = {n.get("class_type") for n in prompt.values() if isinstance(n, dict)}
    return "ltx-2.5" if "UNETLoader" in classes else "ltx-2.3"


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
    seconds = BASE_DURATION_S.get(mode, max(BASE_DURATION_S.values())) * PRESET_MULT.get(
        preset, 3.0
    )
    seconds *= FAMILY_MULT.get(family(prompt), 1.0)
    seconds += decode_seconds(prompt, frames)
    if (mode, family(prompt)) not in _warm_modes:
        seconds += COLD_CACHE_S
    seconds *= max(1.0, float(duration_multiplier))
    return int(min(MAX_DURATION_S, max(MIN_DURATION_S, round(seconds))))


def decode_seconds(prompt: dict, frames: int) -> float:
    """The decode's share of the estimate: what the prompt's "Decode video" node really decodes,
    overlaps included (more tiles cost more), for a video of `frames` (the cap, with automatic
    length); per frame where the prompt has no such node to read."""
    frames = max(0, int(frames))
    try:
        _, decode = workflow.find_node(prompt, "Decode video")
        _, latent = workflow.find_node(prompt, "Video latent")
        # Two passes decode the x2 upscale of the first pass's latent.
        scale = 2 if workflow.has_node(prompt, "Upscale latent") else 1
        width, height = (
            int(latent["inputs"]["width"]) * scale,
            int(latent["inputs"]["height"]) * scale,
        )
        inputs = {name: int(decode["inputs"][name]) for name in decode_plan.Plan.INPUTS}
    except (AttributeError, KeyError, TypeError, ValueError):
        return DECODE_S_PER_FRAME * frames
    volume = decode_plan.decoded_volume(width, height, max(1, frames), inputs)
    return DECODE_S_PER_MEGAPIXEL_FRAME * volume / 1e6


def _gpu(duration: Callable[..., int]):
    # With remote workers this process only dispatches: a ZeroGPU task would hold a GPU idle.
    if spaces is None or worker_settings.configured():
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
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true"):
        return ZEROGPU_MEMORY_GB, "ZeroGPU's large slice" + ignored
    if workers is not None or worker_settings.configured():
        # A job may land on any worker: the smallest GPU among those that can take one.
        rows = workers if workers is not None else executor().status().get("workers") or []
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
            if _mps_available(torch):
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


# -- paths


def input_dir() -> Path:
    return pins.comfy_dir() / "input"


def output_dir() -> Path:
    return pins.comfy_dir() / "output"


CANCEL_DIR = ".aio-cancel"
STALE_MARKER_S = 24 * 3600


def cancel_marker(job_id: str) -> Path:
    """The file whose appearance stops job `job_id`, in whichever process runs it."""
    return pins.comfy_dir() / CANCEL_DIR / (_safe_id(job_id) or "job")


def _safe_id(job_id: str) -> str:
    return "".join(c for c in str(job_id) if c.isalnum() or c in "-_")[:64]


def _sweep_stale_markers() -> None:
    """Markers of jobs cancelled after they ended, or that never reached the engine."""
    now = time.time()
    for marker in (pins.comfy_dir() / CANCEL_DIR).glob("*"):
        try:
            if now - marker.stat().st_mtime > STALE_MARKER_S:
                marker.unlink()
        except OSError:
            pass


# -- the engine


class _Server:
    """What ComfyUI and the packs expect of `server.PromptServer.instance`, without a web server."""

    def __init__(self, on_event: Callable[[str, object], None]) -> None:
        from aiohttp import web

        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.number = 0
        self.sockets_metadata: dict = {}
        self.routes = web.RouteTableDef()
        self.app = web.Application()
        self.prompt_queue = None
        self.supports = ["custom_nodes_from_web"]
        from app.node_replace_manager import NodeReplaceManager  # ComfyUI's app package

        self.node_replace_manager = NodeReplaceManager()
        self._on_event = on_event

    def send_sync(self, event, data, sid=None) -> None:
        self._on_event(event, data)

    def send_progress_text(self, text, node_id, sid=None) -> None:
        self._on_event("progress_text", {"node": node_id, "text": text})

    def add_on_prompt_handler(self, handler) -> None:
        pass

    def queue_updated(self) -> None:
        pass


class Engine:
    """One in-process ComfyUI. Calls are serialised: ComfyUI's model management is global."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._lines = ProgressLines({}, None)
        self._cancelled = threading.Event()
        self._job = ""  # the job now running, whose cancel marker is watched
        # Node ids that really ran in the last job, and those ComfyUI served from its cache.
        self.executed: list[str] = []
        self.cached: list[str] = []
        self.seconds_to_start: float | None = None
        self._start()

    # start-up

    def _start(self) -> None:
        started = time.monotonic()
        problems = checkout_problems(self.root)
        if problems:
            raise AppError("unavailable", problems[0], hint="")
        root = str(self.root)
        if root not in sys.path:
            sys.path.insert(0, root)
        # ComfyUI has its own top-level `app` package; our app.py must not shadow it while
        # ComfyUI imports. Modules that already imported ours keep their reference.
        ours = sys.modules.get("app")
        if ours is not None and not hasattr(ours, "__path__"):
            del sys.modules["app"]
        import torch
        from comfy.cli_args import args

        args.cpu = not (torch.cuda.is_available() or _mps_available(torch))
        args.base_directory = root
        # Read by comfyui_controlnet_aux once, when it is imported.
        os.environ.setdefault("AUX_ANNOTATOR_CKPTS_PATH", str(pins.aux_ckpts_dir()))
        tiny = tinyset.active(pins.models_dir())
        import comfy.model_management
        import comfy.utils
        import execution
        import nodes
        import server
        from comfy_execution.progress import get_progress_state
        from comfy_execution.utils import get_executing_context

        if tiny is not None:
            tinyset.install_seam(tiny)
        comfy_fixes.install()  # where the pin's code does not run on this device (MoGe on CPU)
        self._mm = comfy.model_management
        self._execution = execution
        self._server = _Server(self._on_event)
        server.PromptServer.instance = self._server
        import hook_breaker_ac10a0

        # As ComfyUI's main.py does: packs may not monkeypatch the core functions it guards.
        hook_breaker_ac10a0.save_functions()
        try:
            with node_imports.Watch() as watch:
                self._loop.run_until_complete(
                    nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False)
                )
        finally:
            hook_breaker_ac10a0.restore_functions()
        # After the packs, which may add model folders of their own.
        _use_models_dir(pins.models_dir(), self.root)
        _check_registered(set(nodes.NODE_CLASS_MAPPINGS), watch.failures)

        def hook(value, total, preview, prompt_id=None, node_id=None):
            # As ComfyUI's own server does: the executing node owns a bare ProgressBar's steps.
            context = get_executing_context()
            if node_id is None and context is not None:
                node_id = context.node_id
            if self._cancel_requested():
                self.interrupt()
            self._mm.throw_exception_if_processing_interrupted()
            get_progress_state().update_progress(node_id, value, total, preview)

        comfy.utils.set_progress_bar_global_hook(hook)
        _count_tiles(comfy.utils)
        total_gb = comfy.model_management.total_ram / 1024.0
        self._executor = execution.PromptExecutor(
            self._server,
            cache_type=execution.CacheType.RAM_PRESSURE,
            cache_args={
                "lru": 0,
                "ram": min(10.0, max(2.0, total_gb * 0.10)),
                "ram_inactive": min(96.0, total_gb),
            },
        )
        _sweep_stale_markers()
        self.seconds_to_start = round(time.monotonic() - started, 3)

    # progress

    def _on_event(self, event: str, data) -> None:
        if event == "execution_cached" and isinstance(data, dict):
            self.cached.extend(str(node) for node in data.get("nodes") or ())
        if event == "progress_state" and isinstance(data, dict):
            # A node whose twin (same class, same inputs) ran earlier in this job is served
            # from the cache mid-run: it only ever reports itself finished.
            for node_id, node in (data.get("nodes") or {}).items():
                seen = str(node_id) in self.executed or str(node_id) in self.cached
                if node.get("state") == "finished" and not seen:
                    self.cached.append(str(node_id))
        if event == "executing" and isinstance(data, dict) and data.get("node"):
            self.executed.append(str(data["node"]))
            if self._cancel_requested():  # ComfyUI stops before the next node runs
                self.interrupt()
        self._lines.feed(event, data)

    # running

    def interrupt(self) -> None:
        self._cancelled.set()
        self._mm.interrupt_current_processing(True)

    def _cancel_requested(self) -> bool:
        return self._cancelled.is_set() or bool(self._job and cancel_marker(self._job).exists())

    def run(self, prompt: dict, progress: Progress | None = None, job_id: str = "") -> dict:
        with self._lock:
            started = time.monotonic()
            self._cancelled.clear()
            self._job = job_id
            self.executed, self.cached = [], []
            self._lines = ProgressLines(prompt, progress)
            prompt_id = uuid.uuid4().hex
            marks = [time.monotonic()]
            try:
                valid, error, outputs, node_errors = self._loop.run_until_complete(
                    self._execution.validate_prompt(prompt_id, prompt, None)
                )
                marks.append(time.monotonic())
                if not valid or node_errors:
                    raise classify_validation(prompt, error, node_errors)
                if self._cancel_requested():
                    raise AppError("interrupted", "Generation was cancelled.")
                with comfy_events.Ticker(lambda: self._lines):
                    self._loop.run_until_complete(
                        self._executor.execute_async(
                            prompt, prompt_id, {"client_id": "aio"}, outputs
                        )
                    )
                marks.append(time.monotonic())
            finally:
                self._lines = ProgressLines({}, None)
                if job_id:
                    cancel_marker(job_id).unlink(missing_ok=True)
                # The one place GPU memory is handed back between jobs.
                self._mm.soft_empty_cache()
            if not self._executor.success or self._cancel_requested():
                raise classify_execution(prompt, self._executor.status_messages)
            files = self._collect_outputs(self._executor.history_result)
            marks.append(time.monotonic())
            videos = [f for f in files if Path(f).suffix.lower() in (".mp4", ".webm", ".mov")]
            if not videos:
                raise AppError(
                    "node_failed",
                    "The workflow finished but wrote no video file.",
                    hint="Check that the graph ends in a SaveVideo node.",
                )
            return {
                "video": videos[0],
                "outputs": files,
                "seconds": round(time.monotonic() - started, 3),
                "timings": {
                    "validate": round(marks[1] - marks[0], 4),
                    "execute": round(marks[2] - marks[1], 4),
                    "collect": round(marks[3] - marks[2], 4),
                },
            }

    def _collect_outputs(self, history_result: dict) -> list[str]:
        import folder_paths

        files: list[str] = []
        for node_output in (history_result or {}).get("outputs", {}).values():
            for items in node_output.values():
                for item in items if isinstance(items, list) else ():
                    if not isinstance(item, dict) or item.get("type") != "output":
                        continue
                    base = Path(folder_paths.get_output_directory())
                    path = (base / item.get("subfolder", "") / item["filename"]).resolve()
                    if path.is_file() and str(path) not in files:
                        files.append(str(path))
        return files


def _check_registered(registered: set[str], failures: list) -> None:
    """Every node class of every graph is registered, else the reason: the module that did not
    import and the package it lacks, or the pack that is not installed."""
    needed = pins.workflow_class_types()
    modules = pins.class_modules()
    if modules:  # without the schema snapshot no module can be called unused
        node_imports.log_unused(failures, {modules.get(cls, "") for cls in needed})
    missing = {cls: modules.get(cls, "") for cls in sorted(needed - registered)}
    if not missing:
        return
    explained = node_imports.explain(missing, failures)
    if explained:
        message, hint = explained
        raise AppError("unavailable", message, hint=hint)
    raise AppError(
        "unavailable",
        "node classes the workflows need are not registered: "
        + ", ".join(f"{cls} ({pack_name(cls)})" for cls in missing),
        hint="Run `python bootstrap.py` and install requirements.txt, then restart.",
    )


def _count_tiles(utils) -> None:
    """Tiled decoding reports its tiles as steps: ComfyUI's 3D (video) VAE decode passes no
    progress bar to `tiled_scale_multidim`, so the longest stage after sampling would show no
    progress. Here one is made where none is given, counting the tiles the function will visit."""
    original = utils.tiled_scale_multidim
    if getattr(original, "_aio_counts_tiles", False):
        return

    def tiled_scale_multidim(samples, function, tile=(64, 64), overlap=8, *args, **kwargs):
        if kwargs.get("pbar") is None and len(args) < 6:  # pbar is its 10th parameter
            kwargs["pbar"] = utils.ProgressBar(tile_count(samples.shape, tile, overlap))
        return original(samples, function, tile, overlap, *args, **kwargs)

    tiled_scale_multidim._aio_counts_tiles = True
    utils.tiled_scale_multidim = tiled_scale_multidim


def tile_count(shape, tile, overlap) -> int:
    """How many tiles `comfy.utils.tiled_scale_multidim` decodes for a batch of this shape."""
    dims = len(tile)
    overlap = list(overlap) if isinstance(overlap, (tuple, list)) else [overlap] * dims
    sizes = list(shape[2:])
    if all(sizes[d] <= tile[d] for d in range(dims)):
        return int(shape[0])
    per = 1
    for d in range(dims):
        per *= (
            len(range(0, sizes[d] - overlap[d], tile[d] - overlap[d])) if sizes[d] > tile[d] else 1
        )
    return int(shape[0]) * per


def _use_models_dir(models: Path, root: Path) -> None:
    """Make ComfyUI look for weights in `models` first (LTX_AIO_MODELS_DIR), as
    extra_model_paths.yaml would."""
    if models == root / "models":
        return
    import folder_paths

    for name in list(folder_paths.folder_names_and_paths):
        if name != "custom_nodes":
            folder_paths.add_model_folder_path(name, str(models / name), is_default=True)


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def checkout_problems(root: Path) -> list[str]:
    """Why the engine cannot start here, without importing anything heavy. Empty = can start."""
    core = core_problem(root)
    return ([core] if core else []) + runtime_problems()


def core_problem(root: Path) -> str | None:
    """What is wrong with the ComfyUI checkout at `root`, if anything."""
    record = pins.read_record(root)
    if not (root / "execution.py").is_file():
        return (
            f"ComfyUI is not installed at {root}. Run `python bootstrap.py` with network access "
            "(or restart the app online) to fetch the pinned checkout; without GitHub, "
            "`python bootstrap.py --archives DIR` (or LTX_AIO_PIN_ARCHIVES=DIR) installs it from "
            "the pinned source archives in DIR."
        )
    if not record or record.get("sha") != pins.CORE.sha:
        return (
            f"The ComfyUI checkout at {root} is not the pinned commit {pins.CORE.sha[:10]}. "
            "Run `python bootstrap.py` to replace it."
        )
    return None


def runtime_problems() -> list[str]:
    """What this Python lacks for the engine, and a tiny set asked for but not there."""
    problems = []
    if importlib.util.find_spec("torch") is None:
        problems.append("PyTorch is not installed. Run `pip install -r requirements.txt`.")
    tiny = tinyset.problem(pins.models_dir())
    if tiny:
        problems.append(tiny)
    return problems


def validate(prompt: dict) -> list[str]:
    """ComfyUI's own validate_prompt on `prompt`, in this process's engine: each problem names
    the node's title and input. Model files must exist in ComfyUI's model folders and media in
    its input dir (tests use placeholders). Converts values in place, as ComfyUI does."""
    engine()  # imports and initialises ComfyUI + packs once per process
    import execution  # ComfyUI's module; importable once the engine put its dir on sys.path

    loop = asyncio.new_event_loop()
    try:
        valid, error, _outputs, node_errors = loop.run_until_complete(
            execution.validate_prompt(uuid.uuid4().hex, prompt, None)
        )
    finally:
        loop.close()
    problems = []
    for nid, entry in (node_errors or {}).items():
        label = f"node '{comfy_events.node_title(prompt, nid)}' ({entry.get('class_type', '?')})"
        for err in entry.get("errors", []):
            name = (err.get("extra_info") or {}).get("input_name")
            where = f"{label} input '{name}'" if name else label
            problems.append(f"{where}: {err.get('message', '')} {err.get('details', '')}".strip())
    if not valid and not problems:
        err = error or {}
        problems.append(
            f"workflow: {err.get('message', 'invalid')} {err.get('details', '')}".strip()
        )
    return problems


TINY_WARNING = (
    "Running on the tiny random-weight test set (LTX_AIO_TINY_WEIGHTS=1): every node runs, but "
    "videos are noise. Unset it for real weights."
)

# -- the process-wide engine and the GPU function

_engine: Engine | None = None
_engine_error: AppError | None = None
_task_error: AppError | None = None  # the engine failed to start in the GPU task's process
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The process's engine, started on first use. A failed start is remembered and re-raised."""
    global _engine, _engine_error
    with _engine_lock:
        if _engine is None and _engine_error is None:
            try:
                _engine = Engine(pins.comfy_dir())
            except AppError as exc:
                _engine_error = exc
            except Exception as exc:  # a broken install must read as a message, not a traceback
                log.exception("ComfyUI failed to start")
                _engine_error = AppError(
                    "unavailable",
                    f"ComfyUI failed to start: {type(exc).__name__}: {exc}",
                    hint="Reinstall requirements.txt, run `python bootstrap.py`, then restart.",
                )
        if _engine_error is not None:
            raise _engine_error
        return _engine


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
    global _task_error
    error = result.get("error") if isinstance(result, dict) else None
    if isinstance(error, dict):
        err = AppError(
            error.get("kind") if error.get("kind") in ERROR_KINDS else "node_failed",
            str(error.get("message") or "Generation failed."),
            where=str(error.get("where") or ""),
            hint=str(error.get("hint") or ""),
        )
        if err.kind == "unavailable":
            _task_error = err
        raise err
    return result


def _optional_packs() -> set[str]:
    """Packs that only another weights variant loads (the GGUF loaders): a failed install of one
    is a warning, not a reason to refuse every job."""
    import models

    try:
        variant = models.default_variant()
    except AppError:
        return set()
    return set() if variant == "gguf" else set(pins.ALWAYS_PACKS)


# -- the executor behind generate(): this process's ComfyUI, or remote workers


class InProcess:
    """This process's ComfyUI: the default, and ZeroGPU's GPU task. One job at a time."""

    local_weights = True

    def run(self, prompt: dict, progress: Progress | None, job_id: str, mode: str) -> dict:
        return engine().run(prompt, progress, job_id)

    def cancel(self, job_id: str) -> None:
        """Directly when the job runs in this process, else through its marker, which the
        engine checks between nodes and at every step (the ZeroGPU worker), also when the job
        only reaches the engine later."""
        if job_id:
            marker = cancel_marker(job_id)
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(time.time()))
            except OSError:
                log.exception("could not write the cancel marker")
        if _engine is not None and (not job_id or _engine._job == job_id):
            _engine.interrupt()

    def status(self, wait_s: float = 0.0) -> dict:  # wait_s: only the pool's status waits
        boot = bootstrap.state()
        optional = _optional_packs()
        failed = boot.get("failed") or {}
        problems = [p for name, p in failed.items() if name not in optional]
        warnings = [p for name, p in failed.items() if name in optional]
        if boot["phase"] == "running":
            problems.append(
                "The pinned ComfyUI is being installed; generation starts when it is done."
            )
        # A core that could not be installed is said once, by the install's own message.
        core = None if pins.CORE.name in failed else core_problem(pins.comfy_dir())
        problems += [p for p in [core, *runtime_problems()] if p and p not in problems]
        for err in (_engine_error, _task_error):
            if err is not None and str(err) not in problems:
                problems.append(str(err))
        return {
            "ready": not problems,
            "problems": problems,
            "warnings": warnings,
            "pins": {pin.name: pin.sha for pin in pins.PINS},
            "bootstrap": boot,
            "engine": "started" if _engine else ("failed" if _engine_error else "not_started"),
        }

    def slots(self) -> int:
        return 1


IN_PROCESS = InProcess()


def executor() -> InProcess | worker_pool.Pool:
    """Where prompts run: the pool of remote workers that LTX_AIO_WORKERS names, else this
    process. Each owns its placement, progress, cancel and output files; nothing above asks
    which one ran a job."""
    return worker_pool.pool(input_dir, output_dir) or IN_PROCESS


def run(prompt: dict, progress: Progress | None = None, job_id: str = "", mode: str = "") -> dict:
    """Validate and execute one API-format prompt (of job `job_id`, whose cancel it obeys).

    Returns {"video": path, "outputs": [paths], "seconds": total, "timings": {step: seconds}},
    plus the "worker" that ran it and "notes" when a remote worker did.
    """
    return executor().run(prompt, progress, job_id, mode)


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
    status["warnings"] = [*status.get("warnings", []), *said]
    return status
