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
from errors import AppError
from progress import Progress

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
    """ComfyUI's progress events of one prompt as the app's progress lines: the running node's
    title, then "<title>: step k/n" while it counts steps (sampling, tiled decoding), and for a
    node that counts nothing (encoding the mp4, loading weights) "<title>: 12 s" from `tick()`,
    so that no stage sits silent. Repeats are dropped, and a broken display never fails the
    generation."""

    def __init__(self, prompt: dict, progress: Progress | None, clock=time.monotonic) -> None:
        self._titles = {
            str(k): (v.get("_meta") or {}).get("title") or v.get("class_type", str(k))
            for k, v in prompt.items()
            if isinstance(v, dict)
        }
        self._progress = progress
        self._last: tuple | None = None
        self._clock = clock
        self._node: str | None = None  # the node running now
        self._since = 0.0
        self._counted = False  # whether it reported steps of its own
        self._lock = threading.RLock()  # tick() speaks from the ticker's thread

    def title(self, node_id) -> str:
        return self._titles.get(str(node_id), f"node {node_id}")

    def feed(self, event: str, data) -> None:
        if self._progress is None or not isinstance(data, dict):
            return
        with self._lock:
            self._feed(event, data)

    def _feed(self, event: str, data: dict) -> None:
        if event == "executing" and data.get("node"):
            self._node, self._since, self._counted = str(data["node"]), self._clock(), False
            self.say(None, self.title(data["node"]))
        elif event == "progress_state":
            for node_id, node in (data.get("nodes") or {}).items():
                # ComfyUI v0.33 reports every node as "0/1" while it runs: no steps counted.
                if node.get("state") != "running" or (node.get("max") or 0) <= 1:
                    continue
                value, total = node["value"], node["max"]
                if str(node_id) == self._node:
                    self._counted = True
                self.say(value / total, f"{self.title(node_id)}: step {value:g}/{total:g}")

    def tick(self) -> None:
        """Called about once a second while a job runs: a node that counts no steps shows how
        long it has been at work."""
        with self._lock:
            if self._progress is None or self._node is None or self._counted:
                return
            seconds = int(self._clock() - self._since)
            if seconds >= 1:
                self.say(None, f"{self.title(self._node)}: {seconds} s")

    def say(self, fraction: float | None, desc: str) -> None:
        with self._lock:
            if self._progress is None or (fraction, desc) == self._last:
                return
            self._last = (fraction, desc)
            try:
                self._progress(fraction, desc)
            except Exception:
                log.exception("progress callback failed")


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
