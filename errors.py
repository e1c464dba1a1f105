"""The one error type users see: what went wrong, where, and what to do next.

Raised where the fact is known (a field check, a missing file, ComfyUI's verdict) and turned into a
`gr.Error` in exactly one place in app.py. Picklable, so it survives the ZeroGPU process boundary.
Each kind carries its own title and next step here (`AppError.title`, `next_step()`), and any
other failure becomes one by `classify` (out of memory recognised once, by `is_out_of_memory`).
"""

from __future__ import annotations

import logging

log = logging.getLogger("ltx_aio.errors")

# Every kind a user can meet. The UI picks its banner and its offered action from the kind.
ERROR_KINDS = (
    "bad_input",  # a field value or uploaded file is unusable
    "invalid_graph",  # ComfyUI refused the workflow (node + input named)
    "missing_model",  # a weight file is not on disk
    "download_failed",  # fetching a weight file failed (network, auth, disk)
    "oom",  # the device ran out of memory
    "gpu_timeout",  # ZeroGPU aborted the task
    "interrupted",  # the user cancelled
    "node_failed",  # a node raised while executing
    "unavailable",  # the engine cannot run here at all (no ComfyUI checkout, missing nodes, ...)
)

TITLES = {
    "bad_input": "Check your input",
    "invalid_graph": "The workflow was rejected",
    "missing_model": "Model files are missing",
    "download_failed": "Model download failed",
    "oom": "Out of memory",
    "gpu_timeout": "The GPU task ran out of time",
    "interrupted": "Cancelled",
    "node_failed": "Generation failed",
    "unavailable": "Generation is unavailable",
}
# What to do next, when the code that raised did not say.
NEXT_STEPS = {
    "bad_input": "Fix the field named above and generate again.",
    "invalid_graph": "This is a bug in the app's workflow; please report it with the parameters.",
    "missing_model": "Download the models for this mode (needs network), then generate again.",
    "download_failed": "Check the network and free disk space (and HF_TOKEN for gated "
    "repositories), then download again.",
    "oom": "Switch to the fast preset, or lower the resolution or the number of frames.",
    "gpu_timeout": "Switch to the fast preset or ask for fewer frames, then generate again.",
    "interrupted": "Generate again when you are ready.",
    "node_failed": "Try again; if it keeps failing, report it with the parameters used.",
    "unavailable": "Once that is fixed where the app runs, generate again.",
}
ABORTED = "ZeroGPU aborted the GPU task before it finished."


class AppError(Exception):
    """A failure with a kind, the field or node it concerns, and a hint for the user."""

    def __init__(self, kind: str, message: str, *, where: str = "", hint: str = "") -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(kind, message, where, hint)
        self.kind = kind
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} {self.hint}".strip() if self.hint else text

    def to_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "where": self.where, "hint": self.hint}

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, "Error")

    def next_step(self) -> str:
        """What to do next: the raiser's own hint, else the kind's."""
        return self.hint or NEXT_STEPS.get(self.kind, "")

    def line(self) -> str:
        """One line for API clients: `[kind] Title: field: what happened. What to do.`"""
        where = f"{self.where}: " if self.where else ""
        text = f"[{self.kind}] {self.title}: {where}{sentence(self.message)}"
        hint = self.next_step()
        return f"{text} {sentence(hint)}" if hint else text


def sentence(text: str) -> str:
    """`text` ending as a sentence does."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def bad_input(field: str, message: str, hint: str = "") -> AppError:
    return AppError("bad_input", message, where=field, hint=hint)


def is_out_of_memory(type_name: str, message: str) -> bool:
    """Whether an exception (its class name and message: PyTorch's, ComfyUI's report of one, or
    a worker's) says the device ran out of memory."""
    return "outofmemory" in type_name.lower() or "out of memory" in message.lower()


def classify(exc: BaseException) -> AppError:
    """Any failure -> the AppError a user can act on. ZeroGPU's own errors arrive as text."""
    if isinstance(exc, AppError):
        return exc
    text = str(getattr(exc, "message", "") or exc)
    name = type(exc).__name__
    lowered = text.lower()
    if "gpu task aborted" in lowered:
        return AppError("gpu_timeout", ABORTED)
    if "quota exceeded" in lowered:
        return AppError(
            "unavailable",
            f"Your ZeroGPU quota is used up ({text.strip()}).",
            hint="Wait for the quota to refill, log in for a larger quota, or use the fast preset.",
        )
    if "no gpu was available" in lowered:
        return AppError(
            "unavailable", "No GPU was free.", hint="All GPUs are busy; try again in a minute."
        )
    if "illegal duration" in lowered:
        return AppError(
            "gpu_timeout",
            "The job needs more GPU time than ZeroGPU allows.",
            hint="Switch to the fast preset or ask for fewer frames.",
        )
    if isinstance(exc, MemoryError) or is_out_of_memory(name, text):
        return AppError("oom", "The device ran out of memory while generating.")
    if isinstance(exc, (KeyboardInterrupt, InterruptedError)):
        return AppError("interrupted", "The job was cancelled.")
    log.error("unclassified failure in a job", exc_info=exc)
    return AppError("node_failed", f"Generation failed unexpectedly ({name}).")
