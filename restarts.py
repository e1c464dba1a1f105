"""What a restart of the app does to jobs: nothing a user asked for is lost or left behind.

Jobs that were waiting when the app stopped are still queued in History, with their inputs:
`resume_queued` runs them again once the pinned ComfyUI is ready, each taking its turn like any
other job. On ZeroGPU a GPU is granted only within a visitor's request, so there a waiting job
is kept for its owner's next visit (`take_awaiting`), for a day at most. `sweep_leftovers`
removes the staged inputs and outputs a killed run left in ComfyUI's folders.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import history
import history_record
import jobs
import modes
import patches
import pins
import turns
from errors import AppError

log = logging.getLogger("ltx_aio.restarts")

RESUME_WAIT_S = 6 * 3600  # the longest a first install may take before queued jobs give up
# On ZeroGPU a waiting job runs when its owner comes back (next page load): at most this long.
OWNER_WAIT_S = 24 * 3600
NOT_KEPT = (
    "Interrupted by a restart of the app before it started, and its files had not been kept "
    "yet. Submit it again."
)
NOT_RESUMED = "Interrupted by a restart of the app before it started. Submit it again."
NOT_RETURNED = (
    "Interrupted by a restart of the app before it started, and you did not come back within "
    "a day to run it. Run again (in History) runs it."
)
# owner -> ids of their jobs that waited at a restart, left for the owner's own next visit
_awaiting: dict[str, list[str]] = {}
_awaiting_lock = threading.Lock()


def gpu_only_in_requests() -> bool:
    """ZeroGPU grants a GPU only within a visitor's request: nothing can run on its own."""
    return os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true")


def resume_queued(store: history.Store, *, ready: Callable[[], bool] | None = None) -> list[str]:
    """Run, once each and in their order, the jobs that were waiting when the app last stopped
    (History keeps them queued; their inputs were kept when they were recorded), each taking its
    turn like any other job. Called in a thread of its own at start: it waits for the pinned
    ComfyUI to be installed first. Returns the ids it ran (whatever their outcome)."""
    import bootstrap

    waiting = store.queued()
    if not waiting:
        return []
    log.info("%d job(s) were waiting when the app stopped: running them again", len(waiting))
    ready = ready or (lambda: bootstrap.state()["phase"] not in ("not_started", "running"))
    deadline = time.monotonic() + RESUME_WAIT_S
    while not ready() and time.monotonic() < deadline:
        time.sleep(1.0)
    ran = []
    for job in waiting:
        try:
            if _resume(store, job):
                ran.append(job.id)
        except Exception:  # one odd record must not keep the others waiting
            log.exception("resuming job %s failed", job.id)
            with contextlib.suppress(Exception):
                store.mark_failed(job.id, "interrupted", NOT_RESUMED)
    return ran


def _resume(store: history.Store, job: history.Job) -> bool:
    declared = modes.MODES.get(job.mode)
    if declared is None:
        store.mark_failed(job.id, "interrupted", NOT_RESUMED)
        return False
    media_fields = [f.name for f in declared.fields if f.is_media]
    if any(job.params.get(name) and name not in job.inputs for name in media_fields):
        store.mark_failed(job.id, "interrupted", NOT_KEPT)
        return False
    if gpu_only_in_requests():
        # Nobody asks for this one now: it runs within its owner's next page visit. A script's
        # session or key never opens the page, so its jobs end now, as before.
        if job.owner.startswith(("session:", "key:")):
            store.mark_failed(job.id, "interrupted", NOT_RESUMED)
        elif time.time() - job.created_at > OWNER_WAIT_S:
            store.mark_failed(job.id, "interrupted", NOT_RETURNED)
        else:
            with _awaiting_lock:
                _awaiting.setdefault(job.owner, []).append(job.id)
        return False
    try:
        with jobs.TURNS.take_blocking(job.owner, job.id):
            jobs.run(job.mode, job.replay(), job_id=job.id)
    except turns.Dropped:
        return False  # cancelled while it waited
    except AppError as err:  # recorded by run(), as for any job
        log.info("resumed job %s ended: %s", job.id, err)
    return True


def awaiting(owner: str) -> int:
    """How many of `owner`'s jobs wait for their visit to run (ZeroGPU, after a restart)."""
    with _awaiting_lock:
        return len(_awaiting.get(owner, ()))


def take_awaiting(owner: str) -> list[history.Job]:
    """`owner`'s jobs that waited at a restart and still wait, oldest first, handed over once
    (to the visit that runs them); one waiting longer than OWNER_WAIT_S fails with Run again."""
    with _awaiting_lock:
        ids = _awaiting.pop(owner, [])
    store = jobs.open_history()
    waiting = []
    for job_id in ids:
        job = store.get(job_id, owner)
        if job is None or job.status != "queued":
            continue  # cancelled or deleted meanwhile
        if jobs.TURNS.holds(job.id) or jobs.TURNS.place(job.id) is not None:
            continue  # an earlier visit's run has it (its page closed as it started)
        if time.time() - job.created_at > OWNER_WAIT_S:
            store.mark_failed(job.id, "interrupted", NOT_RETURNED)
            continue
        waiting.append(job)
    return waiting


def put_back_awaiting(owner: str, ids: list[str]) -> None:
    """Jobs handed to a visit that ended before they started: they wait for the next one."""
    if ids:
        with _awaiting_lock:
            _awaiting[owner] = [*ids, *_awaiting.get(owner, [])]


def resume_in_background(store: history.Store) -> None:
    import threading

    threading.Thread(
        target=resume_queued, args=(store,), name="aio-resume-queued", daemon=True
    ).start()


# A job id as history.Store makes it, at the start of a staged input's or an output's name.
_JOB_FILE = re.compile(r"^(?:[a-z0-9]+_)?(\d{8}-\d{6}-[0-9a-f]+)_")


def sweep_leftovers(store: history.Store) -> list[Path]:
    """Staged inputs and outputs that a killed run left in ComfyUI's input/ and output/: those
    of this History's jobs that are no longer running (a restart marked them interrupted).
    Files of jobs this History does not know (another app's, a test's) are left alone."""
    removed = []
    outputs = pins.output_dir() / patches.OUTPUT_SUBFOLDER
    for folder in (pins.input_dir(), outputs):
        for path in folder.iterdir() if folder.is_dir() else ():
            match = _JOB_FILE.match(path.name)
            job = store.get(match.group(1)) if match and path.is_file() else None
            if job is not None and job.status not in history_record.UNFINISHED:
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        log.info("removed %d file(s) a killed run left in ComfyUI's folders", len(removed))
    return removed
