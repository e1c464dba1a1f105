"""The per-visitor cap on a paid endpoint: GPU seconds one visitor may spend there per day.

On a shared deployment (owners.shared()) with LTX_AIO_RUNPOD_VISITOR_S set, a job about to go to
the RunPod endpoint is refused before it is sent when its estimated GPU seconds would take its
visitor (owners.visitor) past the cap over the last 24 hours. What a visitor spent is read from
History: each job's `endpoint_s` (noted with its `visitor` when it is sent: the estimate, then
the endpoint's own execution time once it has ended; a job that ran here has none), so a restart
forgets nothing and a job that ran locally never counts.
"""

from __future__ import annotations

import threading
import time

import history
import owners
import runpod_settings
from errors import AppError

DAY_S = 24 * 3600
_lock = threading.Lock()  # one admission at a time: two jobs of one visitor cannot both pass


def applies() -> bool:
    return owners.shared() and runpod_settings.visitor_s() > 0


def spent(
    store: history.Store, visitor: str, now: float, but: str = ""
) -> list[tuple[float, float]]:
    """(when, GPU seconds) of the visitor's endpoint jobs of the last 24 hours, oldest first."""
    found = []
    for job in store.jobs(limit=-1, refusals=False):
        used = job.used or {}
        when = job.started_at or job.created_at
        seconds = used.get("endpoint_s")
        if job.id == but or used.get("visitor") != visitor or now - when >= DAY_S:
            continue
        if isinstance(seconds, (int, float)) and seconds > 0:
            found.append((when, float(seconds)))
    return sorted(found)


def admit(store: history.Store, job_id: str, visitor: str, seconds: int, note) -> None:
    """Refuse (AppError) a job of `visitor` whose `seconds` would pass the cap; else `note()`
    records its spend in History (under the same lock, so the next admission counts it)."""
    with _lock:
        if applies():
            _check(store, job_id, visitor, seconds, time.time())
        note()


def _check(store: history.Store, job_id: str, visitor: str, seconds: int, now: float) -> None:
    cap = runpod_settings.visitor_s()
    past = spent(store, visitor, now, but=job_id)
    used = sum(s for _, s in past)
    if used + seconds <= cap:
        return
    said = (
        f"This job's about {seconds} GPU-seconds on the RunPod endpoint would pass the "
        f"{cap:g} GPU-seconds a visitor may spend there per day ({used:.0f} spent in the last "
        "24 hours)"
    )
    if seconds > cap:
        raise AppError(
            "unavailable", said + ".", hint="Pick the fast preset or fewer frames, then generate."
        )
    for when, s in past:  # the oldest drop out of the 24 hours first
        used -= s
        if used + seconds <= cap:
            free = time.strftime("%H:%M UTC", time.gmtime(when + DAY_S))
            raise AppError("unavailable", f"{said}; it frees up at {free}.", hint="Generate then.")
    raise AppError("unavailable", said + ".", hint="Generate again later.")  # not reached
