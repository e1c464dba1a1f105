"""One generation job, from raw field values to a video: the flow both the UI and the API run.

record (a queued History row with copies of the inputs) -> prepare.check (every field and file,
so a bad input is named first) -> engine ready? -> prepare.stage (uploads into ComfyUI's input
dir; no GPU yet) -> weights present (download with progress) ->
backend.generate (the GPU task; one automatic retry with a doubled time budget when ZeroGPU aborts
it) -> the output file, checked to be this job's, kept in History, plus the parameters actually
used. Every outcome is recorded (done / failed / cancelled); every failure leaves here as an
`AppError`; nothing here knows about Gradio.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import backend
import downloads
import endpoint_cap
import enhance
import errors
import fields
import history
import history_record
import loras
import media
import models
import modes
import owners
import pins
import placement
import prepare
import retention
import turns
import videofile
from errors import AppError, classify
from job_spec import Spec
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
    spec: Spec  # the job as it ran (its record() is what History keeps and the API answers)
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


def endpoint() -> dict | None:
    """The RunPod endpoint jobs go to, with its last /health numbers (None: none is set)."""
    return backend.engine_status().get("runpod")


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
    spec: Spec,
    progress: Progress,
    notify: Notify,
    store: history.Store,
    job_id: str,
) -> tuple[dict, list[str]]:
    preset, frames = spec.preset, spec.frames

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
    if not path.is_relative_to(pins.output_dir().resolve()):
        raise AppError("node_failed", "The video was written outside ComfyUI's output folder.")
    return str(path)


def _chosen_length(video: str, spec: Spec, notes: list[str]) -> None:
    """Automatic length: the frames the model chose, read from its video (`spec.frames` was
    the longest it was allowed, and becomes `longest_frames`)."""
    try:
        frames = videofile.frame_count(Path(video))
    except Exception as exc:  # the video was checked already: this only loses the figure
        log.warning("could not count the frames of %s: %s", video, exc)
        return
    spec.longest_frames, spec.frames = spec.frames, frames
    notes.append(f"LTX-2.5 chose {spec.duration:.2f} s ({frames} frames) for this prompt")


def _enhanced(checked: prepare.Checked, prepared: prepare.Prepared, progress: Progress) -> dict:
    """The job's prompt rewritten by its model family's enhancer (the same text encoder the
    graph loads next, so it stays loaded), and its graph filled again with the rewrite."""
    progress(0.0, "Enhancing the prompt")
    cached = enhance.apply(prepared.spec, progress)
    prepared.prompt = checked.mode.parameterize(prepared.spec)
    said = "the prompt was enhanced before generating"
    # Where others share the server, a cached rewrite may be someone else's prompt's: not said.
    again = cached and not owners.shared()
    prepared.notes.append(said + (" (the rewrite made for it before)" if again else ""))
    return models.resolve_variant(prepared.prompt)


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
                info = prepare.inspect_media(f, value)
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
    owner: str = history_record.LOCAL,
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
            params[f.name] = fields.coerce(f, value)
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


# Jobs generating now: their spec and visitor, for the admission to a paid endpoint.
_sending: dict[str, tuple[Spec, str]] = {}


def _endpoint_guard(job_id: str, seconds: int) -> None:
    """Before job `job_id` goes to the RunPod endpoint: refused past its visitor's cap
    (endpoint_cap.py), else its estimated GPU seconds noted in History, counted from then on."""
    held = _sending.get(job_id)
    if held is None:  # not a job of this flow (the prompt enhancer)
        return
    spec, visitor = held
    store = open_history()

    def note() -> None:
        spec.endpoint_s = float(seconds)
        spec.visitor = visitor if owners.shared() else None
        store.note_spec(job_id, spec)

    endpoint_cap.admit(store, job_id, visitor, seconds, note)


placement.set_guard(_endpoint_guard)


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
    in History under `job_id` (a queued record made by `jobs.record()`; made here when None), in the
    slot `turn` holds (`wait_turn`), given back when it ends.

    `progress` must be picklable (a `gr.Progress` is): it crosses the ZeroGPU process boundary.
    """
    if turn is not None and not turn.claim():
        raise AppError("interrupted", NOT_STARTED)

    def free_turn() -> None:  # the engine's part is over: the next job may start (twice: no-op)
        if turn is not None:
            TURNS.release(turn)

    visitor = turn.owner if turn is not None else None
    try:
        return _run_recorded(mode, params, progress, notify, job_id, free_turn, visitor)
    finally:
        free_turn()


def _run_recorded(
    mode: str,
    params: dict,
    progress: Progress | None,
    notify: Notify | None,
    job_id: str | None,
    free_turn: Callable[[], None] = lambda: None,
    visitor: str | None = None,
) -> JobResult:
    records = open_history()
    job_id = job_id or record(mode, params)
    job = records.get(job_id)
    if job is None or job.status != "queued":
        raise AppError("interrupted", NOT_STARTED)
    try:
        with records.running(job_id):
            visitor = visitor or job.owner
            result = _run(records, mode, params, job_id, progress, notify, free_turn, visitor)
            try:
                done = records.mark_done(
                    job_id, result.video, spec=result.spec, timings=result.timings
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
    free_turn: Callable[[], None] = lambda: None,
    visitor: str = history_record.LOCAL,
) -> JobResult:
    progress = _silent if progress is None else progress  # gr.Progress is falsy (len 0)
    notify = notify if notify is not None else (lambda message: None)
    marks = {"start": time.monotonic()}
    prepared = None
    try:
        checked = prepare.check(mode, params, job_id=job_id)
        enhance.check_runs_here(checked.spec)
        require_engine()
        # The graph cuts its decode to the memory it may use where it will run.
        memory = backend.decode_memory()
        checked.spec.memory_gb = memory["memory_gb"]
        checked.spec.decode_dtype_bytes = memory.get("dtype_bytes")
        prepared = prepare.stage(checked, input_dir=pins.input_dir())
        if prepared.spec.decode_note:
            prepared.notes.append(prepared.spec.decode_note)
        store.note_spec(job_id, prepared.spec)
        marks["prepared"] = time.monotonic()
        # The weights this exact graph loads, in this machine's variant (fp8 on ZeroGPU, ...).
        prompt = models.resolve_variant(prepared.prompt)
        if backend.local_weights():  # else each remote worker loads them from its own folder
            progress(0.0, "Checking model files")
            # A Hub LoRA is judged from its header on the Hub before anything is downloaded.
            loras.check_fit(prepared.spec, prompt, elsewhere=downloads.hub_header)
            downloads.ensure_models_for_prompt(prompt, progress)
            loras.check_fit(prepared.spec, prompt)  # a Hub LoRA is on disk now
        if enhance.wanted(prepared.spec):
            prompt = _enhanced(checked, prepared, progress)
            store.note_spec(job_id, prepared.spec)
        marks["models"] = time.monotonic()
        progress(0.0, "Starting generation")
        _sending[job_id] = (prepared.spec, visitor)
        try:
            result, retry_notes = _generate(
                mode, prompt, prepared.spec, progress, notify, store, job_id
            )
        finally:
            _sending.pop(job_id, None)
        marks["generated"] = time.monotonic()
        video = _checked_video(result)
        if checked.mode.edit is not None:  # the made clip goes back into its source
            free_turn()  # on this machine's CPU: the engine may take the next job meanwhile
            progress(1.0, "Joining the new part to the video")
            edit = checked.mode.edit
            video = str(edit.finish(prepared.spec, checked.values[edit.field], Path(video)))
        marks["finished"] = time.monotonic()
    except Exception as exc:
        raise classify(exc) from exc
    finally:
        if prepared is not None:  # History keeps its own copies of the inputs
            media.unstage(prepared.spec.files or {}, pins.input_dir())
    timings = {
        "prepare_s": marks["prepared"] - marks["start"],
        "models_s": marks["models"] - marks["prepared"],
        "generate_s": marks["generated"] - marks["models"],
        "finish_s": marks["finished"] - marks["generated"],
        "total_s": marks["finished"] - marks["start"],
    }
    for name, seconds in (result.get("timings") or {}).items():
        if isinstance(seconds, (int, float)):
            timings[f"engine_{name}_s"] = seconds
    timings = {name: round(float(seconds), 3) for name, seconds in timings.items()}
    notes = list(prepared.notes) + retry_notes + list(result.get("notes") or [])
    spec = dataclasses.replace(
        prepared.spec,
        inputs=dict(prepared.spec.inputs),
        seconds=round(float(result.get("seconds") or timings["total_s"]), 2),
        notes=notes,
        worker=result.get("worker") or None,  # which remote worker ran it
        endpoint_s=result.get("endpoint_s"),  # None: it ran here (also after the endpoint lost it)
        visitor=prepared.spec.visitor if result.get("endpoint_s") else None,
    )
    if spec.inputs.get("auto_length"):
        _chosen_length(video, spec, notes)
    return JobResult(video=video, spec=spec, notes=notes, job_id=job_id, timings=timings)


def enhance_prompt(
    family: str,
    prompt: str,
    image: str | Path | None = None,
    progress: Progress | None = None,
    image_field: str = "image",
) -> str:
    """The prompt enhancer alone (a panel's Enhance button, the API's /enhance): `prompt`
    rewritten on `family`'s text encoder, seeing `image` (the field `image_field`) when given.
    The caller holds a turn (`wait_turn`): the enhancer takes the GPU as a job does."""
    try:
        enhance.check_family(family)
        enhance.check_prompt(prompt)
        require_engine()
        text, _ = enhance.enhance(
            family, prompt, image or None, progress=progress, image_field=image_field
        )
        return text
    except Exception as exc:
        raise classify(exc) from exc


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
