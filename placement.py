"""Where a job runs when a RunPod endpoint is set: the endpoint alone, or the local side first.

LTX_AIO_RUNPOD_PLACEMENT (runpod_settings.placement()) says which. `always`: every job goes to
the endpoint (the local side is unused). `overflow`: a job runs on the local side (this process's
ComfyUI, or the workers LTX_AIO_WORKERS names) while it has a slot free, else on the endpoint; the
slots are both sides' together, a cancel reaches the side its job runs on (both, for a job not
placed yet), and a job the endpoint loses (unreachable, or it no longer knows the job) runs again
on the local side, the notes saying so. A `Placement` is itself an executor (backend.Executor):
nothing above asks which side ran a job, the result's "worker" names it as before.

Before a job goes to the endpoint, its estimated GPU seconds (`expect`, from backend's estimate)
are shown in its progress and handed to the admission check a layer above may set (`set_guard`:
jobs.py's per-visitor cap), which refuses it before anything is sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from errors import AppError
from progress import Progress

ALWAYS, OVERFLOW = "always", "overflow"
# (job_id, GPU seconds estimated) -> None, or raises AppError to refuse the job before it is sent.
Guard = Callable[[str, int], None]
_guard: Guard | None = None


def set_guard(guard: Guard | None) -> None:
    global _guard
    _guard = guard


def cost_line(name: str, seconds: int) -> str:
    return f"On the RunPod endpoint {name}: about {seconds} GPU-seconds"


class Placement:
    def __init__(self, local, remote, mode: str) -> None:
        self.local, self.remote, self.mode = local, remote, mode
        self._lock = threading.Lock()
        self._where: dict[str, object] = {}  # job id -> the side running it
        self._local_busy = 0
        self._expected: dict[str, int] = {}
        self._cancelled: set[str] = set()

    @property
    def overflow(self) -> bool:
        return self.mode == OVERFLOW

    @property
    def local_weights(self) -> bool:
        # Under overflow a job may run locally (also when the endpoint loses it).
        return self.local.local_weights if self.overflow else self.remote.local_weights

    def slots(self) -> int:
        return self.local.slots() + self.remote.slots() if self.overflow else self.remote.slots()

    def expect(self, job_id: str, seconds: int) -> None:
        """The GPU seconds job `job_id` is estimated to take (shown and checked if it goes to the
        endpoint)."""
        with self._lock:
            self._expected[job_id] = int(seconds)

    def where(self, job_id: str) -> str:
        """ "local", "endpoint" or "" (not running here)."""
        side = self._where.get(job_id)
        return "" if side is None else ("endpoint" if side is self.remote else "local")

    # -- one job

    def run(self, prompt: dict, progress: Progress | None, job_id: str, mode: str) -> dict:
        with self._lock:
            seconds = self._expected.pop(job_id, None)
            local = self.overflow and self._local_busy < self.local.slots()
            side = self._take(job_id, self.local if local else self.remote)
        try:
            if side is self.local:
                return side.run(prompt, progress, job_id, mode)
            try:
                self._admit(job_id, seconds, progress)
                shown = (
                    progress if seconds is None or progress is None else _Costed(progress, seconds)
                )
                result = side.run(prompt, shown, job_id, mode)
                spent = result.get("execution_s") or seconds
                if not spent:
                    return result
                note = f"The RunPod endpoint {side.name} ran it: {spent:g} GPU-seconds"
                note += f" (estimated {seconds})." if seconds and spent != seconds else "."
                notes = [*(result.get("notes") or []), note]
                return {**result, "endpoint_s": spent, "notes": notes}
            except AppError as exc:
                if not (self.overflow and getattr(exc, "lost", False)):
                    raise
                lost = exc
            with self._lock:
                cancelled = job_id in self._cancelled
                if not cancelled:
                    self._give_back(job_id)
                    side = self._take(job_id, self.local)
            if cancelled:
                raise AppError("interrupted", "Generation was cancelled.")
            if progress is not None:
                progress(0.0, "The RunPod endpoint lost the job: running it here instead")
            result = self.local.run(prompt, progress, job_id, mode)
            note = f"{lost.message} It ran on this server's side instead (overflow placement)."
            return {**result, "notes": [note, *(result.get("notes") or [])]}
        finally:
            with self._lock:
                self._give_back(job_id)
                self._cancelled.discard(job_id)

    def _take(self, job_id: str, side):
        self._where[job_id] = side
        if side is self.local:
            self._local_busy += 1
        return side

    def _give_back(self, job_id: str) -> None:
        if self._where.pop(job_id, None) is self.local:
            self._local_busy -= 1

    def _admit(self, job_id: str, seconds: int | None, progress: Progress | None) -> None:
        if seconds is None:
            return
        if _guard is not None:
            _guard(job_id, seconds)
        if progress is not None:
            progress(0.0, cost_line(self.remote.name, seconds))

    # -- cancel and status

    def cancel(self, job_id: str = "") -> None:
        with self._lock:
            side = self._where.get(job_id) if job_id else None
            if job_id and side is not None:
                self._cancelled.add(job_id)
        sides = [side] if side is not None else [self.remote, *([self.local] * self.overflow)]
        for one in sides:
            one.cancel(job_id)

    def status(self, wait_s: float) -> dict:
        remote = self.remote.status(wait_s)
        if not self.overflow:
            return {**remote, "placement": ALWAYS}
        status = self.local.status(wait_s)
        ready = bool(status.get("ready") or remote.get("ready"))
        # Either side can take jobs: what stops one alone is a warning.
        said = [*status.get("problems", []), *remote.get("problems", [])] if ready else []
        return {
            **status,
            "ready": ready,
            "problems": [] if ready else [*status.get("problems", []), *remote["problems"]],
            "warnings": [*status.get("warnings", []), *remote.get("warnings", []), *said],
            "runpod": remote.get("runpod"),
            "placement": OVERFLOW,
        }


class _Costed:
    """A job's progress while on the endpoint: each line says its estimated GPU seconds."""

    def __init__(self, progress: Progress, seconds: int) -> None:
        self._progress, self._seconds = progress, seconds

    def __call__(self, fraction, desc) -> None:
        self._progress(fraction, f"{desc} · about {self._seconds} GPU-seconds")

    def __getattr__(self, name):  # the rest (a preview sink) as the job's own
        return getattr(self._progress, name)


_placed: Placement | None = None
_placed_lock = threading.Lock()


def placed(local, remote, mode: str):
    """The executor for these sides now: `local` when no endpoint is set, else the one Placement
    over them (kept while they and the mode stay the same: it knows where its jobs run)."""
    global _placed
    if remote is None:
        return local
    with _placed_lock:
        held = _placed
        if held is None or (held.local, held.remote, held.mode) != (local, remote, mode):
            held = _placed = Placement(local, remote, mode)
        return held
