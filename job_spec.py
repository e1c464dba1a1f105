"""One job as it runs (`Spec`): the typed shape every step after checking hands the next.

prepare.check() makes it from a submission's checked values (the sizes, frames and seed derived;
the other fields' values in `inputs`); prepare.stage() adds the staged files; the graph's patches
read it (a field's patch by the field's name, `value()`), and note how the decode was cut; the
GPU task's estimate takes its preset and frames; jobs.py adds what the run said (seconds, notes,
the worker, the length LTX-2.5 chose). `record()` is its JSON: what History keeps of a job and
what the API answers as "the parameters actually used", with the same keys as ever, so records
written before this type existed read the same.

Imports nothing of the app: every layer may hold one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Values the checks derive, which win over the field of the same name (a mode's `frames` or
# `width` field is what was asked; the Spec's is what runs): never among `inputs`.
DERIVED = ("mode", "preset", "seed", "width", "height", "frames", "fps", "duration")
# Where a job's values say which History job each of its media came from ({field: job id}: a
# next step from a result, or a `job:<id>` value of the API); no field of any mode has this name.
SOURCE = "source_job"


@dataclass
class Spec:
    mode: str
    job_id: str
    preset: str
    seed: int
    width: int
    height: int
    frames: int
    fps: int
    stages: int  # 1: one pass; 2: a half-size pass and a x2 refine
    samplers: tuple[str, ...] = ()  # each sampler stage's sampler, the recipe's
    # Every other field's checked value, by field name (prompt, model, strengths, control, ...).
    inputs: dict = field(default_factory=dict)
    depth_model: str | None = None  # style's depth estimator, the server's choice
    source_job: dict[str, str] | None = None  # media field -> the History job it came from
    # A video edit's plan (edits.py): the source's frames and fps, the window the graph is sent,
    # the range it remakes or the frames it adds.
    edit: dict | None = None

    # -- added when the job is staged and its graph filled
    files: dict[str, str] | None = None  # media field -> staged file name ({}: none to stage)
    memory_gb: float | None = None  # what the decode may use where it runs
    decode_dtype_bytes: int | None = None
    decode: dict | None = None  # how the decode was cut (decode_plan's description)
    decode_note: str | None = None  # said to the user when even the cut decode may not fit

    # -- added when the run ended
    seconds: float | None = None
    notes: list[str] | None = None  # everything said of the run
    worker: str | None = None  # the remote worker that ran it
    # A paid endpoint's GPU seconds (estimated, then as it reported) and, on a shared deployment,
    # whose they count against (endpoint_cap.py); None for a job that ran here.
    endpoint_s: float | None = None
    visitor: str | None = None
    longest_frames: int | None = None  # automatic length: the cap, when `frames` is the choice

    @property
    def duration(self) -> float:
        return round(self.frames / self.fps, 3)

    @property
    def model(self) -> str | None:
        """The model family a mode with a model field runs (None: the mode's only one)."""
        return self.inputs.get("model")

    def value(self, name: str):
        """The value a field named `name` runs with: the derived one where the checks derive
        it, else the field's own (None for a field the mode does not have)."""
        return getattr(self, name) if name in DERIVED else self.inputs.get(name)

    def record(self) -> dict:
        """The job's JSON, as History keeps it and the API answers it."""
        out = {
            "mode": self.mode,
            "preset": self.preset,
            "seed": self.seed,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "fps": self.fps,
            "duration": self.duration,
            "stages": self.stages,
            "samplers": list(self.samplers),
            "job_id": self.job_id,
        }
        out.update({name: v for name, v in self.inputs.items() if name not in out})
        optional = {
            "depth_model": self.depth_model,
            SOURCE: self.source_job,
            "edit": self.edit,
            "memory_gb": self.memory_gb,
            "decode_dtype_bytes": self.decode_dtype_bytes,
            "files": self.files,
            "decode": self.decode,
            "longest_frames": self.longest_frames,
            "seconds": self.seconds,
            "notes": self.notes,
            "worker": self.worker,
            "endpoint_s": self.endpoint_s,
            "visitor": self.visitor,
        }
        out.update({name: v for name, v in optional.items() if v is not None})
        return out
