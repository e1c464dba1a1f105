"""This process's ComfyUI: started lazily once (`engine()`), and the executor that runs on it.

`Engine` imports ComfyUI and the packs from the pinned checkout on first use, with a stand-in for
ComfyUI's web server (`_Server`: the packs expect `PromptServer.instance`), checks that every node
class the graphs need is registered (else which module did not import and what to install), and
runs one prompt at a time: ComfyUI's own `validate_prompt`, then its `PromptExecutor`, with
progress lines and a cancel that a marker file reaches across processes. `InProcess` is the
executor backend.py hands prompts to when no remote worker is configured (worker_pool.Pool is
the other). `validate()` is ComfyUI's own check of a prompt, for L2 and the tools.

Nothing here runs at import: torch and ComfyUI load on the first `engine()`.
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
import node_imports
import pins
import tinyset
from comfy_events import ProgressLines, classify_execution, classify_validation, pack_name
from errors import AppError
from progress import Progress, previews_on

log = logging.getLogger("ltx_aio.comfy_engine")


# -- a job's cancel marker, seen by whichever process runs it

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
        from comfy.cli_args import LatentPreviewMethod, args

        args.cpu = not (torch.cuda.is_available() or mps_available(torch))
        # Latent2RGB: LTX's latent formats carry the factors, so previews need no extra model.
        args.preview_method = (
            LatentPreviewMethod.Latent2RGB if previews_on() else LatentPreviewMethod.NoPreviews
        )
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
                # The app's own nodes (worker_nodes/aio_nodes), as every remote worker loads them.
                self._loop.run_until_complete(nodes.load_custom_node(str(pins.AIO_NODES)))
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
            if preview is not None:
                self._lines.preview(preview)

        comfy.utils.set_progress_bar_global_hook(hook)
        comfy_fixes.count_tiles_as_progress(comfy.utils)
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
            texts = _collect_texts(prompt, self._executor.history_result)
            marks.append(time.monotonic())
            videos = [f for f in files if Path(f).suffix.lower() in (".mp4", ".webm", ".mov")]
            if not videos and not texts:
                raise AppError(
                    "node_failed",
                    "The workflow finished but wrote no video file.",
                    hint="Check that the graph ends in a SaveVideo node.",
                )
            return {
                "video": videos[0] if videos else None,
                "texts": texts,
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


def _collect_texts(prompt: dict, history_result: dict) -> dict[str, str]:
    """What text output nodes said (the prompt enhancer's PreviewAny), by node title."""
    texts = {}
    for node_id, node_output in (history_result or {}).get("outputs", {}).items():
        said = node_output.get("text") if isinstance(node_output, dict) else None
        if isinstance(said, (list, tuple)) and all(isinstance(t, str) for t in said):
            texts[comfy_events.node_title(prompt, node_id)] = "".join(said)
    return texts


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


def _use_models_dir(models: Path, root: Path) -> None:
    """Make ComfyUI look for weights in `models` first (LTX_AIO_MODELS_DIR), as
    extra_model_paths.yaml would."""
    if models == root / "models":
        return
    import folder_paths

    for name in list(folder_paths.folder_names_and_paths):
        if name != "custom_nodes":
            folder_paths.add_model_folder_path(name, str(models / name), is_default=True)


def mps_available(torch) -> bool:
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


# -- the process-wide engine

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


def remember_task_failure(err: AppError) -> None:
    """The engine could not start where the GPU task ran (the ZeroGPU worker, another process):
    it stays failed there, so status() reports it from then on."""
    global _task_error
    _task_error = err


def _optional_packs() -> set[str]:
    """Packs that only another weights variant loads (the GGUF loaders): a failed install of one
    is a warning, not a reason to refuse every job."""
    import models

    try:
        variant = models.default_variant()
    except AppError:
        return set()
    return set() if variant == "gguf" else set(pins.ALWAYS_PACKS)


# -- the executor: this process's ComfyUI behind backend.run()


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
