"""One generation job, from raw field values to a video: the flow both the UI and the API run.

record (a queued History row with copies of the inputs) -> modes.check (every field and file,
so a bad input is named first) -> engine ready? -> modes.stage (uploads into ComfyUI's input
dir; no GPU yet) -> weights present (download with progress) ->
backend.generate (the GPU task; one automatic retry with a doubled time budget when ZeroGPU aborts
it) -> the output file, checked to be this job's, kept in History, plus the parameters actually
used. Every outcome is recorded (done / failed / cancelled); every failure leaves here as an
`AppError`; nothing here knows about Gradio.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import backend
import downloads
import errors
import history
import media
import models
import modes
import patches
import retention
import turns
import videofile
from errors import AppError, classify
from progress import Progress

log = logging.getLogger("ltx_aio.jobs")

Notify = Callable[[str], None]

RETRY_MULTIPLIER = 2.0
RETRY_NOTE = (
    "The GPU task was aborted before it finished; retried once automatically with a doubled "
    "GPU time budget."
)


@dataclass
class JobResult:
    video: str
    used: dict
    notes: list[str] = field(default_factory=list)
    job_id: str = ""
    timings: dict = field(default_factory=dict)


def _silent(fraction: float | None, desc: str) -> None:
    pass


def slots() -> int:
    """How many jobs may run at once: one per GPU."""
    return backend.slots()


# Every job takes its turn here for one of the slots, in turn across owners (turns.py).
TURNS = turns.Turns(slots)
LINE_MAX = retention.LINE_MAX  # the most jobs the server keeps waiting
NOT_STARTED = "The job was cancelled before it started."


def _place_said(progress: Progress) -> Callable[[int], None]:
    def said(ahead: int) -> None:
        progress(
            0.0,  # None would hide the line with the bar
            f"Waiting for the GPU: {ahead} job(s) before yours"
            if ahead
            else "Waiting for the GPU: yours is next",
        )

    return said


async def wait_turn(job_id: str, owner: str, progress: Progress | None = None) -> turns.Ticket:
    """Wait (on the event loop, holding no thread) for this job's slot, saying its place in line;
    the ticket goes to `run(turn=...)`, which gives the slot back when the job ends."""
    try:
        waiting = _place_said(_silent if progress is None else progress)  # gr.Progress is falsy
        return await TURNS.acquire(owner, job_id, waiting)
    except turns.Dropped:
        raise AppError("interrupted", NOT_STARTED) from None


def give_back(turn: turns.Ticket | None) -> None:
    """The slot of a job whose run never started (its request was cancelled first)."""
    if turn is not None and turn.claim():
        TURNS.release(turn)


def workers() -> list[dict]:
    """The remote workers jobs run on, each with its state ([] when jobs run in this process)."""
    return list(backend.engine_status().get("workers") or [])


def local_weights() -> bool:
    """Whether jobs load this machine's weights (False: remote workers load their own)."""
    return backend.local_weights()


def require_engine() -> None:
    """Refuse with what blocks generation on this server and how to fix it (a script reads this
    message alone, so it says everything; the page shows the same in its status banner)."""
    status = backend.engine_status()
    if not status.get("ready") and not status.get("waits_for_workers"):
        problems = status.get("problems") or ["The engine reported it is not ready."]
        raise AppError(
            "unavailable",
            "Generation cannot run on this server yet: " + " ".join(map(errors.sentence, problems)),
            hint="Once that is fixed where the app runs, generate again.",
        )


def _generate(
    mode: str,
    prompt: dict,
    used: dict,
    progress: Progress,
    notify: Notify,
    store: history.Store,
    job_id: str,
) -> tuple[dict, list[str]]:
    preset = used.get("preset", "balanced")
    frames = int(used.get("frames") or 0)

    def attempt(multiplier: float) -> dict:
        _still_wanted(store, job_id)
        # `backend.generate` is looked up at call time: it is the boundary the tests replace.
        return backend.unpack(
            backend.generate(mode, preset, prompt, frames, multiplier, progress, job_id)
        )

    try:
        return attempt(1.0), []
    except Exception as exc:
        err = classify(exc)
        if err.kind != "gpu_timeout" or err.message != errors.ABORTED:
            raise err from exc
        first = backend.estimate_duration(mode, preset, prompt, frames)
        if first >= backend.MAX_DURATION_S:  # a retry could not get more time: do not spend it
            raise AppError(
                "gpu_timeout",
                f"ZeroGPU aborted the GPU task at its {first} s maximum.",
                hint=errors.NEXT_STEPS["gpu_timeout"],
            ) from exc
    notify(RETRY_NOTE)
    progress(0.0, "GPU task aborted: retrying once with a doubled GPU time budget")
    try:
        result = attempt(RETRY_MULTIPLIER)
    except Exception as exc:
        err = classify(exc)
        if err.kind == "gpu_timeout":
            err = AppError(
                "gpu_timeout",
                "The GPU task was aborted twice, the second time with a doubled time budget.",
                hint=err.hint or errors.NEXT_STEPS["gpu_timeout"],
            )
        raise err from exc
    return result, [RETRY_NOTE]


def _checked_video(result: dict) -> str:
    video = result.get("video") if isinstance(result, dict) else None
    if not video or not Path(video).is_file():
        raise AppError("node_failed", "The workflow finished without writing a video file.")
    path = Path(video).resolve()
    if not path.is_relative_to(backend.output_dir().resolve()):
        raise AppError("node_failed", "The video was written outside ComfyUI's output folder.")
    return str(path)


def _chosen_length(video: str, used: dict, notes: list[str]) -> dict:
    """Automatic length: the frames the model chose, read from its video (used["frames"] was
    the longest it was allowed)."""
    try:
        frames = videofile.frame_count(Path(video))
    except Exception as exc:  # the video was checked already: this only loses the figure
        log.warning("could not count the frames of %s: %s", video, exc)
        return {}
    seconds = round(frames / used["fps"], 3)
    notes.append(f"LTX-2.5 chose {seconds:.2f} s ({frames} frames) for this prompt")
    return {"frames": frames, "duration": seconds, "longest_frames": used["frames"]}


def open_history() -> history.Store:
    """The History store; a data dir that cannot be opened is a clear `unavailable` error."""
    try:
        return history.open_store()
    except (OSError, sqlite3.Error) as exc:
        raise _history_error(exc) from exc


def _history_error(exc: BaseException) -> AppError:
    log.error("History is unavailable", exc_info=exc)
    # What the system said, without the file it said it of: paths are the server's business.
    reason = getattr(exc, "strerror", None) or str(exc).split(":")[0] or type(exc).__name__
    return AppError(
        "unavailable",
        f"The job could not be recorded in History ({reason}).",
        hint="Check that the data dir (LTX_AIO_DATA_DIR) exists, is writable and has free space.",
    )


def _kept_inputs(mode: str, params: dict) -> tuple[dict, dict, dict]:
    """(params as History shows them, media to keep, each kept file's extension): a media
    field's value is shown by its original name; only usable files are kept, each named for what
    it really holds."""
    kept, extensions = {}, {}
    shown = dict(params)
    for f in modes.MODES[mode].fields:
        value = params.get(f.name)
        if f.is_media and isinstance(value, (str, Path)) and str(value):
            shown[f.name] = Path(value).name
            try:
                info = modes.inspect_media(f, value)
            except AppError:  # the run refuses it and records why; an unusable file is not kept
                continue
            kept[f.name] = value
            extensions[f.name] = media.canonical_suffix(info)
    return shown, kept, extensions


def record(
    mode: str,
    params: dict,
    *,
    batch: str | None = None,
    owner: str = history.LOCAL,
    visitor: str | None = None,
) -> str:
    """A queued History record of `owner` for a job about to run, with copies of its inputs
    (what `Job.replay()` gives back). An owner over their quota or waiting limit (counted for
    `visitor` too, owners.visitor) is refused, and only that is recorded."""
    if mode not in modes.MODES:
        raise AppError("bad_input", f"unknown mode {mode!r}", where="mode")
    shown, kept, extensions = _kept_inputs(mode, params)
    store = open_history()
    try:
        _check_quota(store, mode, owner, visitor)
        return store.create_job(mode, shown, kept, batch=batch, owner=owner, extensions=extensions)
    except (OSError, sqlite3.Error) as exc:
        raise _history_error(exc) from exc


def _waiting_elsewhere(visitor: str | None) -> int:
    return TURNS.waiting(visitor) if visitor else 0


def check_room(owner: str, jobs_wanted: int, visitor: str | None = None) -> None:
    """Refuse a batch that would leave its owner more jobs waiting than one may have."""
    retention.check_waiting(
        open_history(), owner, adding=jobs_wanted, also_waiting=_waiting_elsewhere(visitor)
    )


def _check_quota(store: history.Store, mode: str, owner: str, visitor: str | None = None) -> None:
    drop_unclaimed()
    try:
        retention.check_quota(store, owner)
        retention.check_waiting(store, owner, also_waiting=_waiting_elsewhere(visitor))
    except AppError as err:
        store.record_refusal(mode, err.kind, str(err), owner=owner)
        raise


# A script's submission is recorded when it joins Gradio's queue; its run adopts the record at
# once (the GPU events have no concurrency limit: they wait in TURNS). One never adopted this long
# after was dropped by Gradio before it started (its caller went away).
CLAIM_S = 300.0
DROPPED = "The request was dropped before the job started (the caller went away). Submit it again."
_unclaimed: dict[str, float] = {}  # submission's job id -> when it was recorded (monotonic)
_unclaimed_lock = threading.Lock()


def drop_unclaimed(now: float | None = None) -> list[str]:
    """End the submissions whose run never came for them (CLAIM_S), so none stays queued for
    ever, counted against its owner's waiting limit. Returns the ids it ended."""
    now = time.monotonic() if now is None else now
    with _unclaimed_lock:
        late = [job_id for job_id, at in _unclaimed.items() if now - at > CLAIM_S]
        for job_id in late:
            del _unclaimed[job_id]
    ended = []
    for job_id in late:
        if TURNS.holds(job_id) or TURNS.place(job_id) is not None:
            continue
        with contextlib.suppress(OSError, sqlite3.Error):
            if open_history().mark_cancelled(job_id, DROPPED):
                ended.append(job_id)
    if ended:
        log.info("%d submission(s) were dropped before they started: ended", len(ended))
    return ended


def _claimed(job_id: str) -> None:
    with _unclaimed_lock:
        _unclaimed.pop(job_id, None)


def record_submission(mode: str, values: dict, owner: str, visitor: str | None = None) -> str:
    """A script's submission, recorded the moment it joins the queue (before it waits for the
    GPU): its plain values only; its files are checked and kept when it starts (`adopt`). An
    owner with as many jobs waiting as one may have is refused (AppError), recorded nowhere: the
    submission's own run then says so."""
    drop_unclaimed()
    store = open_history()
    retention.check_waiting(store, owner, also_waiting=_waiting_elsewhere(visitor))
    params = {}
    for f in modes.MODES[mode].fields:
        value = values.get(f.name)
        if f.is_media:
            path = value.get("path") if isinstance(value, dict) else value
            if isinstance(path, str) and path:
                params[f.name] = Path(path).name[:200]
            continue
        try:
            params[f.name] = modes.coerce(f, value)
        except AppError:  # said when it starts; nothing unchecked is kept meanwhile
            continue
    job_id = store.create_job(mode, params, owner=owner)
    with _unclaimed_lock:
        _unclaimed[job_id] = time.monotonic()
    return job_id


def adopt(job_id: str, mode: str, params: dict, owner: str) -> str | None:
    """Start the job a submission recorded: its checked values and kept inputs replace what was
    noted at submit. None when there is no such job of this owner (then record anew); a job
    that ended while it waited (cancelled) does not start."""
    _claimed(job_id)
    store = open_history()
    job = store.get(job_id, owner)
    if job is None or job.mode != mode:
        return None
    if job.status != "queued":
        raise AppError("interrupted", "The job was cancelled before it started.")
    shown, kept, extensions = _kept_inputs(mode, params)
    try:
        retention.check_quota(store, owner)
        store.keep_inputs(job_id, shown, kept, extensions)
    except AppError as err:
        store.mark_refused(job_id, err.kind, str(err))
        raise
    except (OSError, sqlite3.Error) as exc:
        raise _history_error(exc) from exc
    return job_id


def end_unstarted(job_id: str, err: AppError) -> None:
    """Record why a job that never started ended (nothing changes for one that ran: its own
    outcome is recorded already)."""
    _claimed(job_id)
    store = open_history()
    if err.kind == "interrupted":
        store.mark_cancelled(job_id, err.message)
    else:
        store.mark_failed(job_id, err.kind, str(err))


def cancel(job_id: str, owner: str | None = None) -> bool:
    """Cancel one job (given an owner, only that owner's): a queued one never starts; a running
    one is interrupted. False when it had already ended (or is not there to cancel)."""
    records = open_history()
    job = records.get(job_id, owner)
    if job is None or not records.mark_cancelled(job_id):
        return False
    # Waiting for its turn: out of line at once. Read as queued, it may have been granted its
    # slot since and be starting: then the engine is told too.
    if job.status == "running" or (not TURNS.drop(job_id) and TURNS.holds(job_id)):
        backend.cancel(job_id)
    return True


def still_queued(job_id: str) -> bool:
    """Whether a recorded job is still waiting to start (not cancelled meanwhile)."""
    job = open_history().get(job_id)
    return job is not None and job.status == "queued"


def skip(job_id: str, reason: str) -> bool:
    """A queued job that will not run because of something other than the user (its batch
    stopped): recorded as cancelled with that reason. False when it had already ended."""
    return open_history().mark_cancelled(job_id, reason)


def _still_wanted(store: history.Store, job_id: str) -> None:
    job = store.get(job_id)
    if job is None or job.status == "cancelled":
        raise AppError("interrupted", "The job was cancelled.")


def run(
    mode: str,
    params: dict,
    *,
    progress: Progress | None = None,
    notify: Notify | None = None,
    job_id: str | None = None,
    turn: turns.Ticket | None = None,
) -> JobResult:
    """Run one job of `mode` with plain field values (media given as local file paths), recorded
    in History under `job_id` (a queued record made by `record()`; made here when None), in the
    slot `turn` holds (`wait_turn`), given back when it ends.

    `progress` must be picklable (a `gr.Progress` is): it crosses the ZeroGPU process boundary.
    """
    if turn is not None and not turn.claim():
        raise AppError("interrupted", NOT_STARTED)
    try:
        return _run_recorded(mode, params, progress, notify, job_id)
    finally:
        if turn is not None:
            TURNS.release(turn)


def _run_recorded(
    mode: str, params: dict, progress: Progress | None, notify: Notify | None, job_id: str | None
) -> JobResult:
    records = open_history()
    job_id = job_id or record(mode, params)
    job = records.get(job_id)
    if job is None or job.status != "queued":
        raise AppError("interrupted", NOT_STARTED)
    try:
        with records.running(job_id):
            result = _run(records, mode, params, job_id, progress, notify)
            try:
                done = records.mark_done(
                    job_id, result.video, used=result.used, timings=result.timings
                )
            finally:
                # History holds the output now; ComfyUI's output folder is no archive, and a
                # job deleted from History must be gone for good.
                Path(result.video).unlink(missing_ok=True)
            if not done:
                raise AppError("interrupted", "The job was cancelled.")
            result.video = str(records.get(job_id).output)
    except (OSError, sqlite3.Error) as exc:  # recorded as failed by running(), if it could be
        raise _history_error(exc) from exc
    finally:
        prune(records)
    return result


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
    spec = modes.MODES.get(job.mode)
    if spec is None:
        store.mark_failed(job.id, "interrupted", NOT_RESUMED)
        return False
    media_fields = [f.name for f in spec.fields if f.is_media]
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
        with TURNS.take_blocking(job.owner, job.id):
            run(job.mode, job.replay(), job_id=job.id)
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
    store = open_history()
    waiting = []
    for job_id in ids:
        job = store.get(job_id, owner)
        if job is None or job.status != "queued":
            continue  # cancelled or deleted meanwhile
        if TURNS.holds(job.id) or TURNS.place(job.id) is not None:
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
    outputs = backend.output_dir() / patches.OUTPUT_SUBFOLDER
    for folder in (backend.input_dir(), outputs):
        for path in folder.iterdir() if folder.is_dir() else ():
            match = _JOB_FILE.match(path.name)
            job = store.get(match.group(1)) if match and path.is_file() else None
            if job is not None and job.status not in history.UNFINISHED:
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        log.info("removed %d file(s) a killed run left in ComfyUI's folders", len(removed))
    return removed


def prune(store: history.Store) -> list[str]:
    """Apply the retention policy; a failure to prune never fails a job."""
    try:
        return retention.prune(store)
    except Exception:
        log.exception("pruning History failed")
        return []


def _run(
    store: history.Store,
    mode: str,
    params: dict,
    job_id: str,
    progress: Progress | None,
    notify: Notify | None,
) -> JobResult:
    progress = _silent if progress is None else progress  # gr.Progress is falsy (len 0)
    notify = notify if notify is not None else (lambda message: None)
    marks = {"start": time.monotonic()}
    prepared = None
    try:
        checked = modes.check(mode, params, job_id=job_id)
        require_engine()
        # The graph cuts its decode to the memory it may use where it will run.
        memory = backend.decode_memory()
        checked.used["memory_gb"] = memory["memory_gb"]
        checked.used["decode_dtype_bytes"] = memory.get("dtype_bytes")
        prepared = modes.stage(checked, input_dir=backend.input_dir())
        decode_note = prepared.used.pop("decode_note", None)
        if decode_note:
            prepared.notes.append(decode_note)
        store.note_used(job_id, prepared.used)
        marks["prepared"] = time.monotonic()
        # The weights this exact graph loads, in this machine's variant (fp8 on ZeroGPU, ...).
        prompt = models.resolve_variant(prepared.prompt)
        if backend.local_weights():  # else each remote worker loads them from its own folder
            progress(0.0, "Checking model files")
            downloads.ensure_models_for_prompt(prompt, progress)
        marks["models"] = time.monotonic()
        progress(0.0, "Starting generation")
        result, retry_notes = _generate(
            mode, prompt, prepared.used, progress, notify, store, job_id
        )
        marks["generated"] = time.monotonic()
        video = _checked_video(result)
    except Exception as exc:
        raise classify(exc) from exc
    finally:
        if prepared is not None:  # History keeps its own copies of the inputs
            media.unstage(prepared.used.get("files", {}), backend.input_dir())
    timings = {
        "prepare_s": marks["prepared"] - marks["start"],
        "models_s": marks["models"] - marks["prepared"],
        "generate_s": marks["generated"] - marks["models"],
        "total_s": marks["generated"] - marks["start"],
    }
    for name, seconds in (result.get("timings") or {}).items():
        if isinstance(seconds, (int, float)):
            timings[f"engine_{name}_s"] = seconds
    timings = {name: round(float(seconds), 3) for name, seconds in timings.items()}
    notes = list(prepared.notes) + retry_notes + list(result.get("notes") or [])
    used = dict(prepared.used)
    if used.get("auto_length"):
        used.update(_chosen_length(video, used, notes))
    used.update(
        mode=mode,
        job_id=job_id,
        seconds=round(float(result.get("seconds") or timings["total_s"]), 2),
        notes=notes,
    )
    if result.get("worker"):  # which remote worker ran it
        used["worker"] = result["worker"]
    return JobResult(video=video, used=used, notes=notes, job_id=job_id, timings=timings)


def download_models(
    mode: str, preset: str | None, progress: Progress | None = None, model: str | None = None
) -> list[Path]:
    """Fetch the weights `mode` needs at `preset` on `model`, or at every preset / on every
    model family when None (the panel's and the Models view's download buttons)."""
    try:
        return downloads.ensure_models_for_mode(
            mode, preset, progress=_silent if progress is None else progress, model=model
        )
    except Exception as exc:
        raise classify(exc) from exc
