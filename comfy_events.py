"""What ComfyUI says, in the app's terms, wherever it runs (in this process or on a worker).

ComfyUI speaks the same vocabulary in library mode and as a server: `validate_prompt`'s verdict is
the body of a refused `POST /prompt`, the executor's status messages are the websocket's
`execution_error` / `execution_interrupted` events, and progress arrives as `executing` and
`progress_state` events. Both executors turn them into the one AppError and the one progress line
here, so a job reads the same whichever ran it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import errors
import pins
import stages
from errors import AppError
from progress import Progress, preview_sink

log = logging.getLogger("ltx_aio.backend")


MODEL_SUFFIXES = (".safetensors", ".sft", ".gguf", ".ckpt", ".pt", ".pth", ".bin", ".onnx")


def node_title(prompt: dict, node_id) -> str:
    node = prompt.get(str(node_id)) or {}
    return (node.get("_meta") or {}).get("title") or node.get("class_type") or f"node {node_id}"


def pack_name(node_class: str) -> str:
    module = pins.class_modules().get(node_class, "")
    if module == pins.AIO_NODES_MODULE:
        return "the app's own nodes (worker_nodes/aio_nodes)"
    pin = pins.pack_of(module)
    return pin.name if pin else "ComfyUI core"


def classify_validation(prompt: dict, error: dict | None, node_errors: dict | None) -> AppError:
    """ComfyUI's validate_prompt verdict as one AppError naming the node and input."""
    error = error or {}
    if error.get("type") == "missing_node_type":
        info = error.get("extra_info") or {}
        cls = info.get("class_type")
        if cls:
            return AppError(
                "unavailable",
                f"node class {cls} is not installed ({pack_name(cls)})",
                where=info.get("node_title") or cls,
                hint="Run `python bootstrap.py`, then restart the app.",
            )
        return AppError("invalid_graph", error.get("message", "a node has no class_type"))
    for node_id, entry in (node_errors or {}).items():
        for reason in entry.get("errors") or []:
            input_name = (reason.get("extra_info") or {}).get("input_name", "")
            where = f"{node_title(prompt, node_id)}.{input_name}".rstrip(".")
            details = str(reason.get("details") or "")
            value = (prompt.get(str(node_id)) or {}).get("inputs", {}).get(input_name)
            if (
                reason.get("type") == "value_not_in_list"
                and isinstance(value, str)
                and value.lower().endswith(MODEL_SUFFIXES)
            ):
                return AppError(
                    "missing_model",
                    f"model file {value} is not installed",
                    where=where,
                    hint="Download this mode's models (Models panel or downloads.py), then retry.",
                )
            if reason.get("type") == "custom_validation_failed" or "Invalid" in details:
                return AppError(
                    "bad_input",
                    details or reason.get("message", "invalid input"),
                    where=where,
                    hint="Upload the file again or pick another one.",
                )
            return AppError(
                "invalid_graph",
                f"{reason.get('message', 'invalid value')}: {details}".strip(": "),
                where=where,
            )
    return AppError("invalid_graph", f"{error.get('message', 'invalid workflow')}".strip())


def classify_execution(prompt: dict, status_messages: list) -> AppError:
    """The executor's last word on a failed or interrupted run as one AppError."""
    for event, data in reversed(status_messages or []):
        if event == "execution_interrupted":
            return AppError("interrupted", "Generation was cancelled.")
        if event != "execution_error":
            continue
        where = node_title(prompt, data.get("node_id"))
        kind_name = str(data.get("exception_type", ""))
        message = str(data.get("exception_message", "")).strip()
        if errors.is_out_of_memory(kind_name, message):
            return AppError(
                "oom",
                "The device ran out of memory.",
                where=where,
                hint="Choose a lower preset (fast), a smaller resolution or fewer frames.",
            )
        if kind_name.endswith("FileNotFoundError") and any(
            s in message.lower() for s in MODEL_SUFFIXES
        ):
            return AppError(
                "missing_model",
                message,
                where=where,
                hint="Download this mode's models, then retry.",
            )
        return AppError(
            "node_failed", f"{kind_name.rsplit('.', 1)[-1]}: {message}".strip(": "), where=where
        )
    return AppError("interrupted", "Generation was cancelled.")


class ProgressLines:
    """ComfyUI's progress events of one prompt as the app's progress lines: the stage running
    now, its step while it counts them, the whole job's percentage and its time left
    (stages.Tracker: the estimator's figures corrected by what the nodes took), e.g.
    "Sampling pass 1 · step 3/8 · 42% · about 1 min 10 s left". `tick()`, about once a second,
    keeps the figures moving while a node counts nothing (loading, encoding the mp4). A latent
    preview goes to the progress callback's `show_preview` (progress.preview_sink), at most one
    every PREVIEW_EVERY_S, as a small JPEG. Repeats are dropped, and a broken display never
    fails the generation."""

    def __init__(self, prompt: dict, progress: Progress | None, clock=time.monotonic) -> None:
        self._titles = {
            str(k): (v.get("_meta") or {}).get("title") or v.get("class_type", str(k))
            for k, v in prompt.items()
            if isinstance(v, dict)
        }
        self._progress = progress
        self._sink = preview_sink(progress)
        self._last: tuple | None = None
        self._clock = clock
        self._tracker = stages.Tracker(stages.plan(prompt), started_at=clock())
        self._preview_at: float | None = None
        self._preview_node: str | None = None
        self._lock = threading.RLock()  # tick() speaks from the ticker's thread

    def title(self, node_id) -> str:
        return self._titles.get(str(node_id), f"node {node_id}")

    def feed(self, event: str, data) -> None:
        if self._progress is None or not isinstance(data, dict):
            return
        with self._lock:
            self._feed(event, data)

    def _feed(self, event: str, data: dict) -> None:
        now = self._clock()
        if event == "preview":  # a worker's, from its websocket
            self.preview(data.get("image"))
        elif event == "execution_cached":
            self._tracker.skip(data.get("nodes") or ())
        elif event == "executing":
            if data.get("node"):
                self._tracker.start(str(data["node"]), now)
            else:  # the prompt ended
                self._tracker.end(now)
            self.report()
        elif event == "progress_state":
            for node_id, node in (data.get("nodes") or {}).items():
                # ComfyUI v0.33 reports every node as "0/1" while it runs: no steps counted.
                if node.get("state") != "running" or (node.get("max") or 0) <= 1:
                    continue
                self._tracker.steps(str(node_id), node["value"], node["max"], now)
                self.report()

    def report(self) -> stages.Report:
        """Say where the job stands now (and return it)."""
        with self._lock:
            report = self._tracker.report(self._clock())
            self.say(report.fraction, report.line())
            return report

    def tick(self) -> None:
        """Called about once a second while a job runs: the percentage and time left move on
        while a node counts nothing."""
        with self._lock:
            if self._progress is not None and self._tracker.current is not None:
                self.report()

    def preview(self, image) -> None:
        """A latent preview of the frames being made: ComfyUI's ("JPEG", PIL image, size) from
        the in-process sampler, or the encoded image a worker sent. Throttled; never fails."""
        if self._sink is None or image is None:
            return
        with self._lock:
            now, node = self._clock(), self._tracker.current
            due = self._preview_at is None or now - self._preview_at >= PREVIEW_EVERY_S
            if not (due or node != self._preview_node):
                return
            self._preview_at, self._preview_node = now, node
        try:
            self._sink(small_jpeg(image))
        except Exception:
            log.exception("a preview could not be shown")

    def say(self, fraction: float | None, desc: str) -> None:
        with self._lock:
            if self._progress is None or (fraction, desc) == self._last:
                return
            self._last = (fraction, desc)
            try:
                self._progress(fraction, desc)
            except Exception:
                log.exception("progress callback failed")


PREVIEW_EVERY_S = 1.0  # "a few times per stage": a pass on a GPU takes tens of seconds
PREVIEW_PX = 256  # the longer side of a preview: a low-resolution look, light on a slow link


def small_jpeg(image) -> bytes:
    """A preview as a small JPEG: from ComfyUI's (format, PIL image, size) tuple, a PIL image, or
    encoded bytes (a worker's JPEG or PNG)."""
    from io import BytesIO

    from PIL import Image

    if isinstance(image, tuple):
        image = image[1]
    if isinstance(image, (bytes, bytearray)):
        image = Image.open(BytesIO(bytes(image)))
    image = image.convert("RGB")
    image.thumbnail((PREVIEW_PX, PREVIEW_PX))
    out = BytesIO()
    image.save(out, format="JPEG", quality=75)
    return out.getvalue()


class Ticker:
    """Calls `lines().tick()` every `every` seconds in a thread of its own, while in a `with`."""

    def __init__(self, lines: Callable[[], ProgressLines], every: float = 1.0) -> None:
        self._lines, self._every = lines, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-ticker", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self._lines().tick()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
