"""Batch jobs: one panel's values -> several jobs, and where each of them stands.

A batch is one prompt per line and/or N seeds of each prompt. Every job of it is its own History
record (tagged with the batch id) and runs on its own; a cancelled one is skipped, the others go
on. Places and ETAs come from the records and from how long the same mode and preset took lately.
Nothing here knows about Gradio.
"""

from __future__ import annotations

import secrets
import statistics
import time
from dataclasses import dataclass

import history
import history_record
import modes
from errors import bad_input

MAX_JOBS = 32
MAX_SEEDS = 16
# How many recent finished jobs of the same mode and preset estimate the next one's duration.
RECENT = 10


def new_id() -> str:
    return f"batch-{secrets.token_hex(4)}"


def expand(params: dict, *, per_line: bool = False, seeds: int = 1) -> list[dict]:
    """The values of each job: every non-empty prompt line (or the whole prompt) times `seeds`.

    With a fixed seed s the copies use s, s+1, ...; with a random seed (-1 or empty) each copy
    draws its own."""
    try:
        seeds = 1 if seeds is None else int(seeds)
    except (TypeError, ValueError):
        raise bad_input(
            "batch_seeds", f"Seeds per prompt must be a number, got {seeds!r}"
        ) from None
    if not 1 <= seeds <= MAX_SEEDS:
        raise bad_input("batch_seeds", f"Seeds per prompt is {seeds}; allowed 1..{MAX_SEEDS}")
    prompt = params.get("prompt")
    prompts = [prompt]
    if per_line and isinstance(prompt, str):
        prompts = [line.strip() for line in prompt.splitlines() if line.strip()] or [prompt]
    if len(prompts) > 1 and params.get("enhanced_prompt"):  # modes.ENHANCED_PROMPT
        raise bad_input(
            "enhanced_prompt",
            "One enhanced prompt cannot go with one job per prompt line (each line would be "
            "made from the same rewrite)",
            hint="Clear the Enhanced prompt (tick Enhance the prompt in Advanced settings to "
            "rewrite each line), or untick One job per line of the prompt.",
        )
    total = len(prompts) * seeds
    if total > MAX_JOBS:
        raise bad_input(
            "prompt",
            f"This batch would queue {total} jobs ({len(prompts)} prompts x {seeds} seeds); "
            f"at most {MAX_JOBS} at once",
            hint="Use fewer lines or fewer seeds per prompt.",
        )
    base = _fixed_seed(params.get("seed"))
    out = []
    for text in prompts:
        for k in range(seeds):
            values = dict(params)
            if "prompt" in params:
                values["prompt"] = text
            if base is not None and seeds > 1:
                values["seed"] = (base + k) % (modes.SEED_MAX + 1)
            out.append(values)
    return out


def _fixed_seed(value) -> int | None:
    try:
        seed = int(float(value))
    except (TypeError, ValueError):
        return None
    return seed if seed >= 0 else None


@dataclass(frozen=True)
class Place:
    """One job of a batch as the queue view shows it."""

    job_id: str
    number: int  # 1-based, in the order the batch runs
    prompt: str
    seed: int | None
    status: str
    position: int | None  # 0 = running now, 1 = next, ...; None once finished
    eta_s: float | None  # seconds until it should be done; None when finished or unknown
    error: str | None = None


def typical_seconds(store: history.Store, mode: str, preset: str | None) -> float | None:
    """The median run time of the latest finished jobs of this mode and preset, if any."""
    took = []
    for job in store.jobs(mode=mode, status="done", limit=RECENT * 5):
        if (job.used or job.params).get("preset") != preset:
            continue
        total = job.timings.get("total_s")
        if total is None and job.started_at and job.finished_at:
            total = job.finished_at - job.started_at
        if isinstance(total, (int, float)) and total >= 0:
            took.append(float(total))
        if len(took) >= RECENT:
            break
    return statistics.median(took) if took else None


def _time_left(store: history.Store, now: float):
    """A job's typical run time for its mode and preset, less what it has run already (None
    when there is no finished job to go by)."""
    typical: dict[tuple, float | None] = {}

    def left(job: history.Job) -> float | None:
        key = (job.mode, (job.used or job.params).get("preset"))
        if key not in typical:
            typical[key] = typical_seconds(store, *key)
        if typical[key] is None:
            return None
        elapsed = now - job.started_at if job.status == "running" and job.started_at else 0
        return max(typical[key] - elapsed, 0.0)

    return left


def _seed(job: history.Job) -> int | None:
    return job.seed if job.seed is not None else _fixed_seed(job.params.get("seed"))


def places(store: history.Store, job_ids: list[str], *, now: float | None = None) -> list[Place]:
    """Where each job of a batch stands, in run order; deleted jobs are left out."""
    time_left = _time_left(store, time.time() if now is None else now)
    out: list[Place] = []
    ahead_s: float | None = 0.0  # time until the jobs before this one are done
    position = 0
    for number, job_id in enumerate(job_ids, 1):
        job = store.get(job_id)
        if job is None:
            continue
        eta = None
        place = None
        if job.status in history_record.UNFINISHED:
            place = position
            position += 1
            left = time_left(job)
            eta = None if left is None or ahead_s is None else ahead_s + left
            ahead_s = eta
        out.append(
            Place(
                job_id=job.id,
                number=number,
                prompt=str(job.params.get("prompt") or ""),
                seed=_seed(job),
                status=job.status,
                position=place,
                eta_s=eta,
                error=job.error_message if job.status in ("failed", "cancelled") else None,
            )
        )
    return out


def summary(rows: list[Place]) -> dict[str, int]:
    """How many jobs of the batch are in each status."""
    counts = dict.fromkeys(history_record.STATUSES, 0)
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts


def line(store: history.Store, owner: str | None, *, now: float | None = None) -> list[Place]:
    """The caller's jobs that have not ended (every job's, with `owner` None), in the order the
    whole line runs them: each one's place counts everyone's jobs ahead of it, and its ETA their
    typical run times (nothing else of other people's jobs is said)."""
    time_left = _time_left(store, time.time() if now is None else now)
    ahead_s: float | None = 0.0
    out: list[Place] = []
    for position, job in enumerate(store.pending()):
        left = time_left(job)
        ahead_s = None if left is None or ahead_s is None else ahead_s + left
        if owner is not None and job.owner != owner:
            continue
        out.append(
            Place(
                job_id=job.id,
                number=len(out) + 1,
                prompt=f"{job.mode}: {job.params.get('prompt') or ''}",
                seed=_seed(job),
                status=job.status,
                position=position,
                eta_s=ahead_s,
            )
        )
    return out
