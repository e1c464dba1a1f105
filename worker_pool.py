"""The remote executor: a pool of ComfyUI workers (LTX_AIO_WORKERS) that runs the app's prompts.

It owns what the in-process engine owns for one GPU: placement, progress, cancel and the output
file. Each worker is checked when the pool starts (workers.WorkerClient.check, judged by
worker_check: same pins, the node classes the graphs need) and refused with the reason when it does
not fit. A job goes to an idle worker that is up, preferring the one that last ran the same mode on
the same model files (its weights are still loaded), and waits for one when all are busy (the app's
queue lets as many jobs through as there are workers). A worker that stops answering mid-job is
marked down and checked again every few seconds; its job runs again once on another worker, or
fails saying so. With no worker up but one that may come back, a job waits for it up to
LTX_AIO_WORKER_GRACE seconds (a job not started yet, and a lost job for its re-run). A worker that
comes back is first told to drop what it still held of the jobs moved away from it, and their files
are removed there.

The pool runs on an event loop of its own, in a daemon thread; `run()` is called from a job's
thread and hands that thread the job's progress, so callbacks run where they would in-process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pins
from comfy_events import MODEL_SUFFIXES, ProgressLines
from errors import AppError
from progress import Progress
from worker_settings import (
    GRACE_ENV,
    WORKERS_ENV,
    configured_header,
    configured_urls,
    grace_s,
    parse_header,
)

log = logging.getLogger("ltx_aio.workers")

FIRST_CHECK_S = 180.0  # how long a job waits for the pool's first look at its workers
STATUS_WAIT_S = 5.0  # how long a status waits for it (after that: "being checked")
# How often a worker that cannot take jobs is checked again.
RECHECK_S = {"down": 5.0, "refused": 30.0}
PING_IDLE_S = 15.0
CLOSED = "The worker pool was closed: the app is stopping, or its workers setting changed."
# How often a worker may fail to take a job before that counts as losing it (its one re-run).
MISSES = 2
LEFTOVERS_S = 2.0  # how often a worker still holding a moved job is asked about it
# Prompt ids made from job ids: the same job has the same id on whichever worker it runs.
PROMPT_IDS = uuid.UUID("5b0f7c2e-8a41-4c55-9d0e-2f6a7d1c3b90")
DONE = object()


def prompt_id_for(job_id: str) -> str:
    return str(uuid.uuid5(PROMPT_IDS, job_id)) if job_id else str(uuid.uuid4())


def warm_key(prompt: dict, mode: str) -> tuple:
    """What a worker keeps loaded after a job: the mode's graph and its model files."""
    files = {
        value
        for node in prompt.values()
        if isinstance(node, dict)
        for value in (node.get("inputs") or {}).values()
        if isinstance(value, str) and value.lower().endswith(MODEL_SUFFIXES)
    }
    return (mode, tuple(sorted(files)))


@dataclass
class Member:
    """One worker of the pool, as the pool sees it."""

    client: object  # workers.WorkerClient
    state: str = "checking"  # checking | up | down | refused | misconfigured
    reason: str = ""
    facts: object = None  # worker_check.Facts of the last check
    device: dict = field(default_factory=dict)
    job: str | None = None  # the job it runs now
    warm: tuple = ()
    last_used: float = 0.0
    checked_at: float = 0.0
    leftovers: list[list[str]] = field(default_factory=list)  # [prompt id, input names...]
    task: asyncio.Task | None = None  # its check or ping in flight

    @property
    def name(self) -> str:
        return self.client.name


@dataclass
class Run:
    """One job's run on the pool (History's record of the job is history.Job)."""

    id: str
    prompt_id: str
    cancelled: asyncio.Event
    member: Member | None = None
    # When it began to wait for a worker to come back: its grace runs once, however often it
    # has to wait again (workers that come back and are lost before they take it).
    outage_since: float | None = None


class Pool:
    local_weights = False  # each worker loads its own

    def __init__(self, urls: list[str], header: str, input_dir, output_dir) -> None:
        self.urls = list(urls)
        self.header = header
        self._input_dir, self._output_dir = input_dir, output_dir
        self.members: list[Member] = []
        self._jobs: dict[str, Run] = {}
        self._early_cancels: dict[str, float] = {}
        self.start_error = ""
        self._runs: set[concurrent.futures.Future] = set()  # each job's run on the loop
        self._checked = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="workers", daemon=True)
        self._thread.start()
        self._started = self._submit(self._start())

    def _submit(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    async def _start(self) -> None:
        try:
            import aiohttp

            import worker_check
            import workers

            self._needs = worker_check.app_needs()
            self._changed = asyncio.Condition()
            self._session = aiohttp.ClientSession()
            try:
                headers, problem = parse_header(self.header), ""
            except ValueError as exc:
                headers, problem = {}, str(exc)
            self.members = [
                Member(workers.WorkerClient(url, self._session, headers)) for url in self.urls
            ]
            for member in self.members:  # a bad header concerns all; a bad URL only its own
                own = problem
                if urllib.parse.urlsplit(member.client.url).scheme not in ("http", "https"):
                    own = own or (
                        f"is not an http:// or https:// URL. Change the app: name the worker by "
                        f"its address in {WORKERS_ENV}, e.g. http://127.0.0.1:8188."
                    )
                if own:
                    member.state, member.reason = "misconfigured", own
            await asyncio.gather(*(self._check(m) for m in self.members if not m.reason))
            self._watcher = asyncio.create_task(self._watch())
        except Exception as exc:  # e.g. aiohttp missing: said by status(), never a hang
            log.exception("the worker pool could not start")
            self.start_error = f"The worker pool could not start: {type(exc).__name__}: {exc}"
        finally:
            self._checked.set()

    # -- checking

    async def _check(self, member: Member) -> None:
        import workers

        try:
            facts = await member.client.check(self._needs)
            if not facts.problem:
                await self._drop_leftovers(member)
        except workers.WorkerLost as exc:
            await self._set(member, "down", f"does not answer ({exc})")
            return
        except Exception as exc:  # a check must never take the pool down
            log.exception("checking %s failed", member.name)
            await self._set(member, "down", f"could not be checked ({type(exc).__name__})")
            return
        member.facts, member.device = facts, facts.device
        if facts.problem:
            await self._set(member, "refused", facts.problem)
            log.warning("worker %s refused: %s", member.name, facts.problem)
            return
        await self._set(member, "up", facts.note)

    async def _drop_leftovers(self, member: Member) -> None:
        """What a worker that was given up on may still hold of jobs that ran again elsewhere:
        each is cancelled there, and its files are removed once it ended (a job it finished late
        leaves its output until then); asked again at each look until nothing is left."""
        for leftover in list(member.leftovers):
            prompt_id, *inputs = leftover
            if await member.client.reclaim(prompt_id, inputs):
                member.leftovers.remove(leftover)

    async def _set(self, member: Member, state: str, reason: str = "") -> None:
        member.state, member.reason, member.checked_at = state, reason, time.time()
        async with self._changed:
            self._changed.notify_all()

    async def _watch(self) -> None:
        """Check again the workers that cannot take jobs, and ping the idle ones, each in a task
        of its own: a worker that hangs delays nobody else's check."""
        import workers

        async def ping(member: Member) -> None:
            try:
                member.device = await member.client.stats()
                member.checked_at = time.time()
                if member.leftovers:
                    await self._drop_leftovers(member)
            except workers.WorkerLost as exc:
                if member.job is None:  # a job in flight finds out for itself
                    await self._set(member, "down", f"stopped answering ({exc})")

        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for member in self.members:
                if member.task is not None and not member.task.done():
                    continue
                since = now - member.checked_at
                if since >= RECHECK_S.get(member.state, float("inf")):
                    member.task = asyncio.create_task(self._check(member))
                elif (
                    member.state == "up"
                    and member.job is None
                    and (since >= PING_IDLE_S or (member.leftovers and since >= LEFTOVERS_S))
                ):
                    member.task = asyncio.create_task(ping(member))

    # -- placement

    async def _acquire(self, job: Run, key: tuple, tried: list[Member], say) -> Member:
        waiting = False
        async with self._changed:
            while True:
                if job.cancelled.is_set():
                    raise AppError("interrupted", "Generation was cancelled.")
                usable = [m for m in self.members if m.state == "up" and m not in tried]
                idle = [m for m in usable if m.job is None]
                if idle:
                    member = min(idle, key=lambda m: (m.warm != key, m.last_used))
                    member.job, member.warm = job.id, key
                    return member
                timeout = None
                if not usable and not any(m.state == "checking" for m in self.members):
                    # A short outage (a worker coming back is checked again every few
                    # seconds) is waited out: by a job not started yet, and by a job lost
                    # mid-run for its one re-run, which must be on another worker.
                    comeback = any(m.state == "down" and m not in tried for m in self.members)
                    if not comeback or grace_s() <= 0:
                        raise self._none_left(tried)
                    if job.outage_since is None:
                        job.outage_since = time.monotonic()
                    if not waiting:
                        say(None, "Waiting for a worker: none is up right now")
                        waiting = True
                    timeout = job.outage_since + grace_s() - time.monotonic()
                    if timeout <= 0:
                        raise self._none_left(tried, waited=grace_s())
                elif not waiting:
                    say(None, "Waiting for a free worker")
                    waiting = True
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    async def _release(self, member: Member) -> None:
        member.job, member.last_used = None, time.monotonic()
        member.leftovers += member.client.unclean  # ended there, its cleanup unanswered
        member.client.unclean.clear()
        async with self._changed:
            self._changed.notify_all()

    def _none_left(self, tried: list[Member], waited: float | None = None) -> AppError:
        others = "; ".join(f"{m.name}: {m.reason or m.state}" for m in self.members)
        if waited is not None:
            who = "No worker"
            if tried:
                lost = ", ".join(m.name for m in tried)
                who = f"The worker {lost} stopped answering mid-job, and no other worker"
            return AppError(
                "unavailable",
                f"{who} came back within {waited:g} s: {others}.",
                hint="Start the workers (python tools/start_workers.py), then generate again; "
                f"{GRACE_ENV} sets how long a job waits for one.",
            )
        if tried:
            lost = ", ".join(m.name for m in tried)
            return AppError(
                "unavailable",
                f"The worker {lost} stopped answering mid-job, and no other worker is up to run "
                f"the job again ({others}).",
                hint="Restart the workers (python tools/start_workers.py), then generate again.",
            )
        return AppError(
            "unavailable",
            f"No worker can run jobs: {others}.",
            hint="Start the workers (python tools/start_workers.py) or fix what is said above; "
            "the app checks them again every few seconds.",
        )

    # -- running

    def run(self, prompt: dict, progress: Progress | None, job_id: str, mode: str) -> dict:
        """Run one prompt on a worker (from a job's thread); the result as the in-process engine
        gives it, plus the worker it ran on and any note about a run moved elsewhere."""
        if not self._checked.wait(FIRST_CHECK_S):
            raise AppError("unavailable", "The workers did not answer their first check in time.")
        if self.start_error:
            raise AppError("unavailable", self.start_error)
        lines = ProgressLines(prompt, progress)
        said: queue.SimpleQueue = queue.SimpleQueue()
        done = self._submit(self._run(prompt, job_id, mode, said.put))
        self._runs.add(done)
        done.add_done_callback(self._runs.discard)
        if self.start_error == CLOSED:  # closed meanwhile: its loop may never run this
            done.cancel()
        done.add_done_callback(lambda _: said.put(DONE))
        while True:
            try:
                item = said.get(timeout=1.0)
            except queue.Empty:  # a node that counts nothing shows its seconds at work
                lines.tick()
                continue
            if item is DONE:
                break
            kind, payload = item
            if kind == "event":
                lines.feed(*payload)
            else:
                lines.say(*payload)
        try:
            return done.result()
        except concurrent.futures.CancelledError:  # close() ended it
            raise AppError("unavailable", CLOSED, hint="Generate again.") from None

    async def _run(self, prompt: dict, job_id: str, mode: str, tell) -> dict:
        import workers

        started = time.monotonic()
        job = Run(job_id or uuid.uuid4().hex, prompt_id_for(job_id), asyncio.Event())
        if self._early_cancels.pop(job.id, None) is not None:
            job.cancelled.set()
        self._jobs[job.id] = job
        inputs = workers.staged_inputs(prompt, Path(self._input_dir()))
        key, tried, missed, notes = warm_key(prompt, mode), [], [], []

        def say(fraction, desc):
            tell(("say", (fraction, desc)))

        try:
            while True:
                member = await self._acquire(job, key, tried, say)
                job.member = member
                say(0.0, f"Running on worker {member.name}")
                try:
                    files = await member.client.run(
                        prompt,
                        job.prompt_id,
                        inputs,
                        Path(self._output_dir()),
                        lambda kind, data: tell(("event", (kind, data))),
                        job.cancelled,
                    )
                except workers.WorkerLost as exc:
                    if exc.leftovers:
                        member.leftovers.append(exc.leftovers)
                    missed.append(member)
                    # Gone before it took the job (it died while idle): no lost run, unless it
                    # keeps doing so (it answers checks yet never takes a job).
                    if not exc.started and missed.count(member) <= MISSES:
                        await self._set(member, "down", f"does not answer ({exc})")
                        log.warning("worker %s did not take job %s: %s", member.name, job.id, exc)
                        if job.cancelled.is_set():
                            raise AppError("interrupted", "Generation was cancelled.") from None
                        say(0.0, f"Worker {member.name} does not answer")
                        continue
                    await self._set(member, "down", f"stopped answering mid-job ({exc})")
                    log.warning("worker %s lost job %s: %s", member.name, job.id, exc)
                    tried.append(member)
                    if job.cancelled.is_set():
                        raise AppError("interrupted", "Generation was cancelled.") from None
                    if len(tried) > 1:
                        raise AppError(
                            "unavailable",
                            f"The workers {', '.join(m.name for m in tried)} each stopped "
                            "answering mid-job; the job was not finished.",
                            hint="Check the workers' logs and machines, then generate again.",
                        ) from None
                    notes.append(
                        f"The worker {member.name} stopped answering mid-job; the job ran "
                        "again from the start on another worker."
                    )
                    say(0.0, f"Worker {member.name} stopped answering: running the job again")
                    continue
                finally:
                    job.member = None
                    await self._release(member)
                return self._result(files, member, notes, started)
        finally:
            self._jobs.pop(job.id, None)

    @staticmethod
    def _result(files: list[Path], member: Member, notes: list[str], started: float) -> dict:
        videos = [str(f) for f in files if f.suffix.lower() in (".mp4", ".webm", ".mov")]
        if not videos:
            raise AppError(
                "node_failed",
                "The workflow finished but wrote no video file.",
                where=member.name,
                hint="Check that the graph ends in a SaveVideo node.",
            )
        return {
            "video": videos[0],
            "outputs": [str(f) for f in files],
            "seconds": round(time.monotonic() - started, 3),
            "worker": member.name,
            "notes": notes,
        }

    def cancel(self, job_id: str = "") -> None:
        """Stop job `job_id` (every job when empty) on whichever worker has it; a job that has
        not reached the pool yet is stopped when it does. Returns at once: it is called on the
        web server's own event loop, which a worker that does not answer must not hold up."""
        done = self._submit(self._cancel(job_id))
        done.add_done_callback(_log_failure)

    async def _cancel(self, job_id: str) -> None:
        import workers

        jobs = [self._jobs[job_id]] if job_id in self._jobs else []
        if not job_id:
            jobs = list(self._jobs.values())
        elif not jobs:
            now = time.time()
            self._early_cancels = {k: t for k, t in self._early_cancels.items() if now - t < 3600}
            self._early_cancels[job_id] = now
        for job in jobs:
            job.cancelled.set()
            member = job.member
            if member is not None:
                try:
                    await member.client.cancel(job.prompt_id)
                except workers.WorkerLost as exc:
                    log.warning("cancel on %s: %s", member.name, exc)
        async with self._changed:
            self._changed.notify_all()

    # -- what the app and /healthz show

    def status(self, wait_s: float = STATUS_WAIT_S) -> dict:
        """From the kept state: never a probe. Only before the first check has ended does it
        wait, up to `wait_s` (/healthz: not at all; it says "being checked" meanwhile)."""
        if wait_s > 0:
            self._checked.wait(wait_s)
        members = list(self.members)
        rows = [
            {
                "url": m.name,
                "state": m.state,
                "busy": m.job is not None,
                "reason": m.reason,
                "version": getattr(m.facts, "version", ""),
                "device": dict(m.device),
                "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(m.checked_at))
                if m.checked_at
                else None,
            }
            for m in members
        ]
        up = [m for m in members if m.state == "up"]
        # None up, but one may come back: jobs wait for it (grace_s) instead of failing.
        waits = not up and self._checked.is_set() and not self.start_error
        waits = waits and any(m.state == "down" for m in members) and grace_s() > 0
        problems = [] if up else [str(self._none_left([]).message)]
        if waits:
            problems = [f"{problems[0]} Jobs wait up to {grace_s():g} s for one to come back."]
        if not self._checked.is_set():
            problems = ["The workers are being checked."]
        elif self.start_error:
            problems = [self.start_error]
        warnings = [
            f"Worker {m.name} is {m.state}: {m.reason}"
            for m in members
            if m.state in ("down", "refused", "misconfigured")
        ]
        return {
            "ready": bool(up),
            "waits_for_workers": waits,
            "problems": problems,
            "warnings": warnings,
            "pins": {pin.name: pin.sha for pin in pins.PINS},
            "engine": "workers",
            "local_weights": False,
            "workers": rows,
        }

    def slots(self) -> int:
        return len(self.urls)

    def close(self) -> None:
        async def stop():
            watcher = getattr(self, "_watcher", None)
            for task in [watcher, *(m.task for m in self.members)]:
                if task is not None:
                    task.cancel()
            session = getattr(self, "_session", None)
            if session is not None:
                await session.close()

        if not self._thread.is_alive():  # closed already
            return
        self.start_error = CLOSED  # what a job that comes now is told
        for run in list(self._runs):  # a job waiting for a worker must not wait for ever
            run.cancel()
        try:
            self._started.cancel()  # a first check that hangs (a frozen worker) is not waited for
            self._submit(stop()).result(timeout=30)
        except Exception:
            log.exception("closing the worker pool")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def _log_failure(done: concurrent.futures.Future) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("cancelling a job on the workers failed", exc_info=done.exception())


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool(input_dir, output_dir) -> Pool | None:
    """The process's pool for the workers configured now (None: none are; the in-process engine
    runs the prompts). A changed configuration makes a new pool."""
    global _pool
    urls, header = configured_urls(), configured_header()
    with _pool_lock:
        if _pool is not None and (_pool.urls, _pool.header) != (urls, header):
            _pool.close()
            _pool = None
        if urls and _pool is None:
            _pool = Pool(urls, header, input_dir, output_dir)
        return _pool


def shutdown() -> None:
    """Close the process's pool, if any (tests and tools; a server just exits)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None
