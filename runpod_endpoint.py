"""The RunPod executor: a serverless endpoint running RunPod's worker-comfyui runs the prompts.

It sends each job over the endpoint's protocol (runpod_client.py: the graph and its staged inputs
as base64 images, refused before sending when over the hosted 10 MB /run limit) and owns what the
other executors own: progress (from status polling: "Waiting for a GPU" with the endpoint's queue
from its /health while IN_QUEUE, the seconds at work while IN_PROGRESS; the handler streams no
ComfyUI events), cancel (`/cancel`), and the output file (base64 or an S3 URL), written into the
app's output folder. Calls run in the job's own thread, each in a helper thread the job waits on
together with its cancel, so a cancel never waits for an answer. The endpoint unreachable for
LTX_AIO_RUNPOD_SILENCE seconds mid-job fails the job, saying so. `status()` reports the
endpoint's last /health, asked by a thread of its own, and the verdict of its check.

The check: before its first job, the executor sends the endpoint a one-node job (the app's
`AIOPinReport`, worker_nodes/aio_nodes), whose answer is a small JSON file saying what the
endpoint's ComfyUI runs (its version, the pin records, the tiny set's seam, its node classes);
worker_check.py judges it as it judges a remote worker, and a mismatched endpoint is refused
with what differs and what to change. A stock worker-comfyui image, whose ComfyUI lacks the
node, is refused as such. The verdict is kept: a passed check holds until the endpoint is found
lost; a refusal is shown for REFUSED_S, then the next job checks again (the image may have been
rebuilt meanwhile).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pins
import runpod_check
import runpod_settings
from comfy_events import ProgressLines
from errors import AppError
from progress import Progress
from runpod_client import (
    HINT_DOWN,
    HINT_KEY,
    RUN_LIMIT_BYTES,
    Client,
    EndpointLost,
    download,
    failure,
    one_line,
)

log = logging.getLogger("ltx_aio.runpod")

POLL_S = 1.0  # how often a job's status is asked
HEALTH_S = 15.0  # how often /health is asked for the status page
QUEUE_HEALTH_S = 5.0  # ... and while a job waits in the endpoint's queue
REFUSED_S = 60.0  # how long a refused endpoint is refused before the next job checks it again


# -- the executor


@dataclass
class Run:
    id: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    remote: str | None = None  # the endpoint's id for the job, once it took it


class Endpoint:
    local_weights = False  # the endpoint's workers load their own

    def __init__(self, base: str, endpoint_id: str, api_key: str, input_dir, output_dir) -> None:
        self.key = (base, endpoint_id, api_key)
        self.client = Client(base, endpoint_id, api_key, runpod_settings.timeout_s())
        self._input_dir, self._output_dir = input_dir, output_dir
        self._jobs: dict[str, Run] = {}
        self._early_cancels: dict[str, float] = {}
        self._lock = threading.Lock()
        self._health: dict | None = None
        self._health_at = 0.0
        self._health_problem = ""
        self._health_note = ""
        self._checked = threading.Event()
        self._verdict: str | None = None  # the check's: None = not yet, "" = passed, else why not
        self._verdict_at = 0.0
        self._verdict_lock = threading.Lock()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.client.name

    # -- one job

    def run(self, prompt: dict, progress: Progress | None, job_id: str, mode: str) -> dict:
        """Run one prompt on the endpoint (from a job's thread); the result as the other
        executors give it, with the endpoint as its "worker"."""
        import workers

        started = time.monotonic()
        if not self.client.has_key and self.client.url.startswith(runpod_settings.DEFAULT_URL):
            raise AppError("unavailable", "No RunPod API key is set.", hint=HINT_KEY)
        job = Run(job_id or f"job-{time.time_ns()}")
        with self._lock:
            if self._early_cancels.pop(job.id, None) is not None:
                job.cancelled.set()
            self._jobs[job.id] = job
        lines = ProgressLines(prompt, progress)
        try:
            inputs = workers.staged_inputs(prompt, Path(self._input_dir()))
            payload = {"input": {"workflow": prompt, "images": _images(inputs)}}
            if not payload["input"]["images"]:
                del payload["input"]["images"]
            size = len(json.dumps(payload))
            if size > RUN_LIMIT_BYTES:
                raise AppError(
                    "bad_input",
                    f"This job's inputs make a request of {size / 2**20:.1f} MB; a RunPod "
                    f"endpoint takes at most {RUN_LIMIT_BYTES // 2**20} MB per job.",
                    hint="Use a shorter or smaller video or audio file.",
                )
            self._ensure_checked(job, lines)
            lines.say(0.0, f"Sending the job to RunPod endpoint {self.name}")
            try:
                job.remote = self._wait(job, lambda: self.client.submit(payload))
            except EndpointLost as exc:
                self._verdict = None  # whatever answers next is checked again
                raise _lost(f"The RunPod endpoint {self.name} does not answer ({exc}).") from None
            if job.cancelled.is_set():
                self._send_cancel(job)
                raise AppError("interrupted", "Generation was cancelled.")
            body = self._follow(job, prompt, lines, started)
            files = self._outputs(body.get("output"), Path(self._output_dir()))
        finally:
            with self._lock:
                self._jobs.pop(job.id, None)
        result = self._result(files, body.get("output"), started)
        ran_ms = body.get("executionTime")  # what the endpoint bills, when it says
        if isinstance(ran_ms, (int, float)) and ran_ms > 0:
            result["execution_s"] = round(ran_ms / 1000, 3)
        return result

    def _wait(self, job: Run, call):
        """`call()` in a helper thread; the job's cancel ends the wait (the call runs out)."""
        outcome: dict = {}
        done = threading.Event()

        def work():
            try:
                outcome["value"] = call()
            except BaseException as exc:  # handed to the job's thread
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="runpod-call", daemon=True).start()
        while not done.wait(0.2):
            if job.cancelled.is_set():
                self._send_cancel(job)
                raise AppError("interrupted", "Generation was cancelled.")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _follow(self, job: Run, prompt: dict, lines: ProgressLines, started: float) -> dict:
        """Poll the job's status until it ends: its COMPLETED answer, or its failure raised."""
        silent_since: float | None = None
        running_since: float | None = None
        while True:
            try:
                body = self._wait(job, lambda: self.client.job_status(job.remote))
                silent_since = None
            except EndpointLost as exc:
                now = time.monotonic()
                silent_since = silent_since or now
                if now - silent_since >= runpod_settings.silence_s():
                    self._verdict = None  # whatever answers next is checked again
                    # It may still be at work there (and billing): told to stop, if it hears.
                    self._send_cancel(job)
                    raise _lost(
                        f"The RunPod endpoint {self.name} stopped answering mid-job ({exc}); the "
                        "job was not finished."
                    ) from None
                lines.say(None, f"RunPod endpoint {self.name} does not answer: trying again")
                body = None
            state = str((body or {}).get("status") or "")
            if state == "COMPLETED":
                return body
            if state == "FAILED":
                if str(body.get("error") or "") == "Job ID not found":  # the SDK's local server
                    state = "LOST"
                else:
                    raise failure(prompt, body, self.name)
            if state == "LOST":
                self._verdict = None  # whatever answers next is checked again
                raise _lost(
                    f"The RunPod endpoint {self.name} no longer knows the job (was it "
                    "restarted, or the job purged?); the job was not finished."
                )
            if state == "CANCELLED":
                if job.cancelled.is_set():
                    raise AppError("interrupted", "Generation was cancelled.")
                raise AppError(
                    "unavailable",
                    f"The job was cancelled on the RunPod endpoint {self.name} (from its console, "
                    "or by RunPod).",
                    hint="Generate again.",
                )
            if state == "TIMED_OUT":
                raise AppError(
                    "gpu_timeout",
                    f"The RunPod endpoint {self.name} stopped the job at its execution timeout.",
                    hint="Raise the endpoint's execution timeout in RunPod, or switch to the fast "
                    "preset or fewer frames.",
                )
            if state == "IN_QUEUE":
                lines.say(0.0, self._queue_line())
            elif state == "IN_PROGRESS":
                running_since = running_since or time.monotonic()
                took = int(time.monotonic() - running_since)
                lines.say(None, f"Running on RunPod endpoint {self.name} · {took} s")
            if job.cancelled.wait(POLL_S):
                self._send_cancel(job)
                raise AppError("interrupted", "Generation was cancelled.")

    def _queue_line(self) -> str:
        """Where a queued job stands: the endpoint's queue and workers, by its /health."""
        if time.monotonic() - self._health_at >= QUEUE_HEALTH_S:
            self._check()
        line = f"Waiting for a GPU on RunPod endpoint {self.name}"
        health = self._health or {}
        jobs, workers = health.get("jobs") or {}, health.get("workers") or {}
        if isinstance(jobs.get("inQueue"), int):
            line += f": {jobs['inQueue']} job(s) in its queue"
            if isinstance(workers.get("running"), int) and isinstance(workers.get("idle"), int):
                line += f", {workers['running']} worker(s) running, {workers['idle']} idle"
        return line

    def _outputs(self, output, dest: Path) -> list[Path]:
        items = output.get("images") if isinstance(output, dict) else None
        files = []
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("filename") and item.get("data"):
                files.append(self._save(item, dest))
        return files

    def _save(self, item: dict, dest: Path) -> Path:
        name = Path(str(item["filename"])).name
        if not name or name.startswith("."):
            raise AppError("node_failed", f"The RunPod endpoint {self.name} named an unsafe file.")
        if item.get("type") == "s3_url":
            data = download(str(item["data"]), self.name)
        else:
            try:
                data = base64.b64decode(str(item["data"]), validate=False)
            except ValueError:
                raise AppError(
                    "node_failed", f"The RunPod endpoint {self.name} sent {name} unreadable."
                ) from None
        dest.mkdir(parents=True, exist_ok=True)
        target, n = dest / name, 1
        while True:  # claimed at once: a job at the same moment may get a file of the same name
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
                break
            except FileExistsError:  # another endpoint job's file of the same name
                target = dest / f"{Path(name).stem}-{n}{Path(name).suffix}"
                n += 1
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(data)
        partial.replace(target)
        return target

    def _result(self, files: list[Path], output, started: float) -> dict:
        videos = [str(f) for f in files if f.suffix.lower() in (".mp4", ".webm", ".mov")]
        if not videos:
            raise AppError(
                "node_failed",
                "The workflow finished but wrote no video file.",
                where=self.name,
                hint="Check that the graph ends in a SaveVideo node.",
            )
        said = output.get("errors") if isinstance(output, dict) else None
        notes = [f"The endpoint said: {one_line(e)}" for e in said or [] if "unhandled" not in e]
        return {
            "video": videos[0],
            "outputs": [str(f) for f in files],
            "seconds": round(time.monotonic() - started, 3),
            "worker": self.name,
            "notes": notes,
        }

    # -- the check: what the endpoint's ComfyUI runs

    def _ensure_checked(self, job: Run, lines: ProgressLines) -> None:
        """Run the check unless its verdict is kept; raise the refusal of a mismatched endpoint.
        One job checks at a time; the others wait for its verdict (their cancel ends the wait)."""
        if job.cancelled.is_set():
            raise AppError("interrupted", "Generation was cancelled.")
        while not self._verdict_lock.acquire(timeout=0.2):
            if job.cancelled.is_set():
                raise AppError("interrupted", "Generation was cancelled.")
        try:
            if self._verdict and time.monotonic() - self._verdict_at >= REFUSED_S:
                self._verdict = None  # refused a while ago: the image may have been rebuilt
            if self._verdict is None:
                lines.say(0.0, f"Checking RunPod endpoint {self.name} (one small job)")
                self._verdict = self._run_check(job, lines)
                self._verdict_at = time.monotonic()
                log.info("RunPod endpoint %s: %s", self.name, self._verdict or "check passed")
            verdict = self._verdict
        finally:
            self._verdict_lock.release()
        if verdict:
            raise AppError("unavailable", verdict)

    def _run_check(self, job: Run, lines: ProgressLines) -> str:
        """The check job, judged: "" when the endpoint fits the app, else why not."""
        check = Run(job.id, job.cancelled)
        payload = {"input": {"workflow": runpod_check.GRAPH}}
        try:
            check.remote = self._wait(check, lambda: self.client.submit(payload))
        except EndpointLost as exc:
            raise AppError(
                "unavailable", f"The RunPod endpoint {self.name} does not answer ({exc}).",
                hint=HINT_DOWN,
            ) from None  # fmt: skip
        try:
            body = self._follow(check, runpod_check.GRAPH, lines, time.monotonic())
        except AppError as exc:
            refused = runpod_check.without_node(exc, self.name)
            if refused:
                return refused
            raise
        return runpod_check.judge(runpod_check.report(body.get("output"), self.name), self.name)

    # -- cancel

    def cancel(self, job_id: str = "") -> None:
        """Stop job `job_id` (every job when empty); one not started yet is stopped when it
        starts. Returns at once: the endpoint is told from a thread of its own."""
        with self._lock:
            jobs = [self._jobs[job_id]] if job_id in self._jobs else []
            if not job_id:
                jobs = list(self._jobs.values())
            elif not jobs:
                now = time.time()
                self._early_cancels = {
                    k: t for k, t in self._early_cancels.items() if now - t < 3600
                }
                self._early_cancels[job_id] = now
        for job in jobs:
            job.cancelled.set()

    def _send_cancel(self, job: Run) -> None:
        if job.remote is None:
            return

        def tell():
            try:
                if not self.client.cancel(job.remote):
                    log.warning("the RunPod endpoint %s has no /cancel for its jobs", self.name)
            except (EndpointLost, AppError) as exc:
                log.warning("cancel on the RunPod endpoint %s: %s", self.name, exc)

        threading.Thread(target=tell, name="runpod-cancel", daemon=True).start()

    # -- what the app and /healthz show

    def _check(self) -> None:
        try:
            health = self.client.health()
            self._health_problem = ""
            self._health_note = "" if health is not None else "it answers no /health"
            self._health = health
        except EndpointLost as exc:
            self._health_problem = f"The RunPod endpoint {self.name} does not answer ({exc})."
        except AppError as exc:
            self._health_problem = str(exc)
        self._health_at = time.monotonic()
        self._checked.set()

    def _watch(self) -> None:
        while not self._closed.is_set():
            self._check()
            self._closed.wait(HEALTH_S)

    def status(self, wait_s: float = 5.0) -> dict:
        """From the kept state: the endpoint's last /health (asked every HEALTH_S by a thread of
        its own); only before its first answer does it wait, up to `wait_s`."""
        if self._watcher is None:
            with self._lock:
                if self._watcher is None:
                    self._watcher = threading.Thread(
                        target=self._watch, name="runpod-health", daemon=True
                    )
                    self._watcher.start()
        if wait_s > 0:
            self._checked.wait(wait_s)
        problems = [self._health_problem] if self._health_problem else []
        if not self._checked.is_set():
            problems = [f"The RunPod endpoint {self.name} is being checked."]
        warnings = []
        if self._health_note:
            warnings.append(f"The RunPod endpoint {self.name}: {self._health_note}.")
        verdict = self._verdict
        if verdict and time.monotonic() - self._verdict_at < REFUSED_S:
            problems.append(verdict)
        elif verdict:  # the next job checks it again
            warnings.append(f"{verdict} (The next job checks the endpoint again.)")
        return {
            "ready": self._checked.is_set() and not problems,
            "problems": problems,
            "warnings": warnings,
            "pins": {pin.name: pin.sha for pin in pins.PINS},
            "engine": "runpod",
            "local_weights": False,
            "workers": [],
            "runpod": {
                "endpoint": self.name,
                "health": dict(self._health) if self._health else None,
                "busy": len(self._jobs),
                "check": ("not yet" if verdict is None else "refused" if verdict else "passed"),
            },
        }

    def slots(self) -> int:
        return runpod_settings.slots()

    def close(self) -> None:
        self._closed.set()
        self.cancel("")


def _lost(message: str) -> AppError:
    """The endpoint lost the job (it did not finish it): placement.py may run it elsewhere."""
    err = AppError("unavailable", message, hint=HINT_DOWN)
    err.lost = True
    return err


def _images(inputs: list[Path]) -> list[dict]:
    return [
        {"name": path.name, "image": base64.b64encode(path.read_bytes()).decode("ascii")}
        for path in inputs
    ]


_endpoint: Endpoint | None = None
_endpoint_lock = threading.Lock()


def endpoint(input_dir, output_dir) -> Endpoint | None:
    """The process's executor for the endpoint configured now (None: none is). A changed
    setting makes a new one."""
    global _endpoint
    key = (runpod_settings.base_url(), runpod_settings.endpoint_id(), runpod_settings.api_key())
    with _endpoint_lock:
        if _endpoint is not None and _endpoint.key != key:
            _endpoint.close()
            _endpoint = None
        if runpod_settings.configured() and _endpoint is None:
            _endpoint = Endpoint(*key, input_dir, output_dir)
        return _endpoint if runpod_settings.configured() else None


def shutdown() -> None:
    global _endpoint
    with _endpoint_lock:
        if _endpoint is not None:
            _endpoint.close()
            _endpoint = None
