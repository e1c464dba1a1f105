"""The events that run jobs: a mode's `/<mode>` API endpoint and its panel's Generate button.

Both record every job in History (jobs.record) and run it (jobs.run) in a worker thread, so that a
cancel reaches the job itself through `jobs.cancel`: the Cancel button cancels the panel's event
(the thread is abandoned and its jobs cancelled), and a client's `job.cancel()` stops exactly the
job it names (cancel_ui.py). The Generate button runs one job or a batch (batch.py) in order
inside its one request: ZeroGPU grants GPU time only within a request.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import gradio as gr
import gradio.utils

import api_docs
import batch
import batch_ui
import cancel_ui
import jobs
import live_ui
import modes
import owners
import restarts
import uploads_ui
from banners_ui import banner_html, batch_banner, page_notice, running_banner, success_banner
from errors import AppError
from job_spec import SOURCE
from outcome_ui import Outcome

log = logging.getLogger("ltx_aio.app")

# Failures every later job of a batch would meet too: the rest of the batch is not run.
STOPS_BATCH = ("unavailable", "missing_model", "download_failed")
# The page's per-browser owner secret (gr.BrowserState), given to every private event that
# reads or writes jobs; see owners.py.
OWNER = "aio_owner"
# The panel's "live preview" checkbox, given to Generate (live_ui.py; off for a slow link).
PREVIEWS = "aio_previews"


def api_error(err: AppError) -> gr.Error:
    """The one place an AppError becomes a gr.Error (message says the kind and what to do)."""
    return gr.Error(err.line(), title=err.title, print_exception=False)


def _plain(mode: modes.Mode, values: dict, request: gr.Request | None = None) -> dict:
    """Gradio payloads (events run with preprocess=False) -> plain values, files as paths.

    A media value must be a file this request's own sender uploaded to this server (or that
    the server handed out to them: uploads_ui.hand_out): with preprocess off, Gradio passes a
    client's `{"path": ...}` through unchecked, and any other path would let a caller copy a
    server file, or someone else's upload, into History, where it can be downloaded.

    A file the server handed out of a History job (a next step, the API's `job:<id>`) says which
    job it came from: the new job records it (job_spec.SOURCE), so a chain of jobs links up."""
    out, sources = dict(values), {}
    for f in mode.fields:
        if f.is_media:
            out[f.name] = uploaded(f.name, values.get(f.name), request)
            source = uploads_ui.source_of(out[f.name]) if out[f.name] else None
            if source:
                sources[f.name] = source
    if sources:
        out[SOURCE] = sources
    return out


NOT_UPLOADED = uploads_ui.HINT


def uploaded(name: str, value, request: gr.Request | None = None) -> str | None:
    """The path of `value` (a Gradio file payload or path), when it is a file this request's
    sender uploaded to this server (or was handed out by it); else one message naming `name`."""
    path = value.get("path") if isinstance(value, dict) else value
    if path is None or path == "":
        if isinstance(value, dict) and value.get("url"):
            raise AppError(
                "bad_input", "a URL was given, not an uploaded file", where=name, hint=NOT_UPLOADED
            )
        return None
    upload_dir = Path(gradio.utils.get_upload_folder()).resolve()
    resolved = Path(path).resolve() if isinstance(path, str) else None
    if resolved is None or not resolved.is_relative_to(upload_dir):
        raise AppError(
            "bad_input", "the file was not uploaded to this server", where=name, hint=NOT_UPLOADED
        )
    if request is not None and not _senders(str(resolved), request):
        raise AppError(
            "bad_input",
            "this file was not uploaded by you (it is in the server's upload folder, but no "
            "upload of yours put it there)",
            where=name,
            hint=NOT_UPLOADED,
        )
    return str(resolved)


def _senders(path: str, request: gr.Request) -> bool:
    return uploads_ui.usable_by(path, uploads_ui.request_fingerprint(request))


# anyio 4.1 renamed `cancellable` to `abandon_on_cancel`; Gradio allows anyio 4.0.
_ABANDON = (
    "abandon_on_cancel"
    if "abandon_on_cancel" in inspect.signature(anyio.to_thread.run_sync).parameters
    else "cancellable"
)


async def in_thread(fn, *args, abandon: bool = True, **kwargs):
    """Run blocking work off the event loop. Gradio cannot stop a thread: when the event is
    cancelled, an abandoned thread runs on and the caller's cancel handling stops the job."""
    return await anyio.to_thread.run_sync(
        functools.partial(fn, *args, **kwargs), **{_ABANDON: abandon}
    )


async def run_in_turn(
    mode: str, params: dict, job_id: str, visitor: str, progress
) -> jobs.JobResult:
    """One recorded job: its turn (as `visitor`, owners.visitor) waited for on the event loop,
    its place in line shown, then run in a worker thread that holds the slot until the job ends,
    even when this request is cancelled meanwhile and the thread is abandoned."""
    if not await in_thread(jobs.still_queued, job_id):  # cancelled: it takes no turn
        raise AppError("interrupted", jobs.NOT_STARTED)
    turn = await jobs.wait_turn(job_id, visitor, progress)
    try:
        return await in_thread(
            jobs.run, mode, params, progress=progress, notify=gr.Warning, job_id=job_id, turn=turn
        )
    finally:
        jobs.give_back(turn)  # only when the thread never started: it gives it back itself


def make_api_handler(mode: modes.Mode):
    async def handler(request: gr.Request, progress=gr.Progress(), **values):  # noqa: B008
        event = cancel_ui.event_id()
        cancel_ui.detach()  # a cancel stops this job only when it names this job's event
        job_id = None
        try:
            owner = owners.of(request)
            visitor = owners.visitor(owner, uploads_ui.request_fingerprint(request))
            job_id = _submitted(request)  # recorded when it joined the queue (make_api_submit)
            params = _plain(mode, values, request)
            if cancel_ui.asked(event, owner):
                raise AppError("interrupted", "The job was cancelled before it started.")
            job_id = job_id and await in_thread(jobs.adopt, job_id, mode.name, params, owner)
            if not job_id:
                [job_id] = await record_jobs(mode.name, [params], owner, visitor)
            with cancel_ui.tracking(event, job_id, owner):
                counted = live_ui.Counted(progress)  # MCP's notifications word counted progress
                result = await run_in_turn(mode.name, params, job_id, visitor, counted)
        except AppError as err:
            log.info("%s job refused: %s", mode.name, err)
            if job_id:  # a submission refused before it ran: its record says why
                jobs.end_unstarted(job_id, err)
            raise api_error(err) from None
        except BaseException:  # the server is stopping this task: stop the job too
            if job_id:
                jobs.cancel(job_id)
            raise
        return result.video, result.spec.record()

    handler.__name__ = mode.name
    handler.__qualname__ = mode.name
    handler.__doc__ = api_docs.docstring(mode)
    handler.__signature__ = api_docs.signature(mode).replace(
        parameters=[*_special_params(), *api_docs.signature(mode).parameters.values()]
    )
    return handler


SUBMITTED = "aio_job"  # where a submission's job id waits on its request (request.state)


def make_api_submit(mode: modes.Mode):
    """Runs when a script's submission joins the queue (Gradio's validator hook), before it waits
    for the GPU: the job is recorded at once, so History lists it while it waits and a restart
    finds it (and says it was interrupted). It never refuses: the job's own checks say what is
    wrong, in the one error line every API failure has."""

    def submitted(request: gr.Request, **values):
        try:
            owner = owners.of(request)
            visitor = owners.visitor(owner, uploads_ui.request_fingerprint(request))
            job_id = jobs.record_submission(mode.name, values, owner, visitor)
            setattr(request.request.state, SUBMITTED, job_id)
        except AppError as err:  # over a limit: the run records and says it
            log.info("%s submission not recorded: %s", mode.name, err)
        except Exception:  # the job is then recorded when it starts, as before
            log.exception("recording a %s submission failed", mode.name)
        return [None] * len(values)  # one "valid" per input

    submitted.__signature__ = api_docs.signature(mode).replace(
        parameters=[_special_params()[0], *api_docs.signature(mode).parameters.values()]
    )
    return submitted


def _submitted(request: gr.Request) -> str | None:
    state = getattr(getattr(request, "request", None), "state", None)
    return getattr(state, SUBMITTED, None) if state is not None else None


def _special_params() -> list[inspect.Parameter]:
    """What Gradio fills in itself: the request (which says who the caller is) and the progress
    tracker, which Gradio finds only among positional parameters."""
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return [
        inspect.Parameter("request", positional, annotation=gr.Request),
        inspect.Parameter("progress", positional, default=gr.Progress()),
    ]


def _split(
    mode: modes.Mode, values: dict, request: gr.Request | None = None
) -> tuple[dict, bool, int]:
    values = {k: v for k, v in values.items() if k != OWNER}
    params = _plain(mode, values, request)
    per_line = bool(params.pop(batch_ui.PER_LINE, False))
    seeds = params.pop(batch_ui.SEEDS, 1)
    return params, per_line, seeds


async def record_jobs(
    mode: str, each: list[dict], owner: str, visitor: str | None = None
) -> list[str]:
    """Record one queued job per set of values (`each`), off the event loop. When this request
    is cancelled meanwhile (Gradio cancels the task; the thread cannot be stopped and goes on),
    every job recorded so far or still to come of it is cancelled, so none is left queued for
    ever."""
    recorded: list[str] = []
    abandoned = threading.Event()
    lock = threading.Lock()

    def work() -> list[str]:
        batch_id = batch.new_id() if len(each) > 1 else None
        if len(each) > 1:  # the whole batch, or none of it
            jobs.check_room(owner, len(each), visitor)
        try:
            for params in each:
                job_id = jobs.record(mode, params, batch=batch_id, owner=owner, visitor=visitor)
                with lock:
                    recorded.append(job_id)
                    if abandoned.is_set():
                        raise AppError("interrupted", "The request was cancelled.")
        except BaseException:
            for job_id in recorded:
                jobs.cancel(job_id)
            raise
        return list(recorded)

    try:
        return await in_thread(work, abandon=False)
    except BaseException:
        with lock:
            abandoned.set()
            ids = list(recorded)
        for job_id in ids:
            jobs.cancel(job_id)
        raise


@dataclass
class Shown:
    """Where a panel shows a job: its video, the parameters it ran with, the outcome banner
    and the queue of a batch. The panel's handlers answer {component: update} over these."""

    video: gr.Video
    record: gr.JSON  # Spec.record() of the job shown
    outcome: Outcome
    queue: batch_ui.QueueView
    busy: gr.State  # whether the panel's Generate is in flight
    live: gr.HTML  # the running job's stage, time left and preview (live_ui.py)

    @property
    def outputs(self) -> list:
        return [self.video, self.record, self.live, *self.outcome.components, *self.queue.outputs]


def make_ui_handler(mode: modes.Mode, shown: Shown):
    """The Generate button: one job, or a batch run in order inside this one request (ZeroGPU
    grants GPU time only within a request); a cancelled job of a batch is skipped."""
    outcome, queue = shown.outcome, shown.queue

    async def handler(request: gr.Request, progress=gr.Progress(), **values):  # noqa: B008
        previews = bool(values.pop(PREVIEWS, True))
        params = values  # until checked: the failure banner reads only the preset
        owner = owners.of(request, values.get(OWNER))
        visitor = owners.visitor(owner, uploads_ui.request_fingerprint(request))
        try:
            params, per_line, seeds = _split(mode, values, request)
            each = batch.expand(params, per_line=per_line, seeds=seeds)
            ids = await record_jobs(mode.name, each, owner, visitor)
        except AppError as err:
            yield outcome.failed(err, params) | queue.updates([])
            return
        many = len(ids) > 1
        yield outcome.say(running_banner(ids)) | queue.updates(ids, running=True)
        ended = live_ui.hidden(shown.live)
        try:
            for number, (job_id, job_values) in enumerate(zip(ids, each, strict=True), 1):
                live = live_ui.Live(progress, previews=previews)
                try:
                    run = asyncio.ensure_future(
                        run_in_turn(mode.name, job_values, job_id, visitor, live)
                    )
                    async for update in live.follow(run, shown.live):
                        yield update
                    result = run.result()
                except AppError as err:
                    log.info("%s job %s failed: %s", mode.name, job_id, err)
                    if not many:
                        yield outcome.failed(err, params) | queue.updates(ids) | ended
                        return
                    if err.kind in STOPS_BATCH:
                        reason = (
                            f"Not run: job #{number} of this batch failed "
                            f"({err.title}), and every later job "
                            "would fail the same way."
                        )
                        for rest in ids[number:]:
                            jobs.skip(rest, reason)
                        yield outcome.failed(err, params) | queue.updates(ids) | ended
                        return
                    view = queue.updates(ids, picked=batch_ui.KEEP)
                    yield outcome.say(running_banner(ids)) | view | ended
                    continue
                banner = success_banner(result.spec) if not many else running_banner(ids)
                ran = {shown.video: result.video, shown.record: result.spec.record()} | ended
                yield ran | outcome.say(banner) | queue.updates(ids, picked=batch_ui.KEEP)
        except BaseException:  # cancelled or closed: no job of this request is left to run
            for job_id in ids:
                jobs.cancel(job_id)
            raise
        if many:
            yield outcome.say(batch_banner(ids)) | queue.updates(ids, running=False)

    return handler


RETURNED = "Your waiting jobs"


async def on_return(request: gr.Request, secret, progress=gr.Progress()):  # noqa: B008
    """A page load: where the app restarted on ZeroGPU with jobs of this visitor waiting (no GPU
    could run them without a visitor's request, restarts.take_awaiting), run them now, in order, in
    this request, saying so in the page's banner; gone when the page is closed, they wait for
    the next visit."""
    owner = owners.of(request, secret)
    waiting: list = []
    if restarts.awaiting(owner):  # taken whole even when this request is cancelled meanwhile
        waiting = await in_thread(restarts.take_awaiting, owner, abandon=False)
    if not waiting:
        yield gr.update()  # nothing waited: the banner stays as it is
        return
    ended = 0
    try:
        visitor = owners.visitor(owner, uploads_ui.request_fingerprint(request))
        count = "1 job" if len(waiting) == 1 else f"{len(waiting)} jobs"
        said = (
            f"{count} of yours waited when the app restarted: run now, in order. History shows "
            "each one when it ends."
        )
        yield page_notice(banner_html("info", RETURNED, said))
        for job in waiting:
            try:
                await run_in_turn(job.mode, job.replay(), job.id, visitor, progress)
            except AppError as err:
                log.info("resumed %s job %s ended: %s", job.mode, job.id, err)
            ended += 1
    except BaseException:  # the page was closed: what did not start waits for the next visit
        restarts.put_back_awaiting(owner, [job.id for job in waiting[ended:]])
        raise
    said = f"The {count} of yours that waited at the restart ended: see History."
    yield page_notice(banner_html("ok", RETURNED, said))


def make_cancel(shown: Shown):
    """The panel's Cancel: stops this panel's running or waiting jobs (the caller's own only),
    and says so only when there were any (`busy`: a Generate still between its click and its
    first job)."""

    def on_cancel(
        ids: list[str] | None,
        busy: bool = False,
        secret: str | None = None,
        request: gr.Request = None,
    ) -> dict:
        owner = owners.scope(owners.of(request, secret))
        stopped = [job_id for job_id in ids or [] if jobs.cancel(job_id, owner)]
        if stopped or busy:
            said = (
                "The job is being stopped."
                if len(stopped) <= 1
                else (f"{len(stopped)} jobs of the batch are being stopped.")
            )
            banner = banner_html("info", "Cancelling", said)
        else:
            banner = banner_html("info", "Nothing to cancel", "No job of this panel is running.")
        cancelled = {shown.busy: False} | shown.outcome.say(banner) | live_ui.hidden(shown.live)
        return cancelled | shown.queue.updates(ids, running=False)

    return on_cancel
