"""The one error type users see: what went wrong, where, and what to do next.

Raised where the fact is known (a field check, a missing file, ComfyUI's verdict) and turned into a
`gr.Error` in exactly one place in app.py. Picklable, so it survives the ZeroGPU process boundary.
"""

from __future__ import annotations

# Every kind a user can meet. The UI picks its banner and its offered action from the kind.
KINDS = (
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


class AppError(Exception):
    """A failure with a kind, the field or node it concerns, and a hint for the user."""

    def __init__(self, kind: str, message: str, *, where: str = "", hint: str = "") -> None:
        if kind not in KINDS:
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


def bad_input(field: str, message: str, hint: str = "") -> AppError:
    return AppError("bad_input", message, where=field, hint=hint)
