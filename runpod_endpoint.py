"""The RunPod executor: a serverless endpoint running RunPod's worker-comfyui runs the prompts.

The endpoint (runpod_settings: its id, the account's API key, the base URL) speaks RunPod's queue
protocol: `POST {base}/{id}/run` with `{"input": {"workflow": <API-format graph>, "images":
[{"name", "image": <base64>}]}}` answers the job's id; `GET /status/{job}` says IN_QUEUE,
IN_PROGRESS, COMPLETED (with the handler's output), FAILED (with its error), CANCELLED or
TIMED_OUT; `POST /cancel/{job}` stops it; `GET /health` counts the endpoint's jobs and workers.
worker-comfyui's handler uploads each input to ComfyUI's `/upload/image`, which stores any file
under its name (a wav or an mp4 as well as a png), runs the graph and returns every output node's
`images` list (SaveVideo lists its mp4 there) as base64, or as S3 URLs when the endpoint has a
bucket; a failure comes back as `{"error", "details"}`, said here as the app's one-line AppError.

It owns what the other executors own: progress (from status polling: the queue while IN_QUEUE,
the seconds at work while IN_PROGRESS; the handler streams no ComfyUI events), cancel, and the
output file, written into the app's output folder. Calls run in the job's own thread, each in a
helper thread the job waits on together with its cancel, so a cancel never waits for an answer.

Where the runpod SDK's local test server (`handler.py --rp_serve_api`) differs from the hosted
API, this client accepts both: it serves `/run`, `/runsync` and `POST /status/{job}` (no GET: a
405 here switches to POST), has no `/cancel` and no `/health` (both 404: a cancel then only ends
the job here, and the endpoint counts nothing), lives at the server's root rather than under
`/{endpoint id}`, and runs a job only while its first /status is asked, answering that one request
when the job has ended (so LTX_AIO_RUNPOD_TIMEOUT must outlast a job there). It also drops a
failure's `details`, keeping the bare error. The hosted API takes at most 10 MB per /run body,
checked here before sending.
"""

from __future__ import annotations

import ast
import base64
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pins
import runpod_settings
from comfy_events import ProgressLines, classify_execution, classify_validation, node_title
from errors import AppError
from progress import Progress

log = logging.getLogger("ltx_aio.runpod")

RUN_LIMIT_BYTES = 10 * 1024 * 1024  # the hosted /run body limit (/runsync: 20 MB)
POLL_S = 1.0  # how often a job's status is asked
HEALTH_S = 15.0  # how often /health is asked for the status page
QUEUE_HEALTH_S = 5.0  # ... and while a job waits in the endpoint's queue
FIRST_CHECK_S = 30.0
DOWNLOAD_S = 300.0  # an S3 output's download, as long as data keeps coming
ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT")
HINT_KEY = f"Set {runpod_settings.KEY_ENV} to an API key of the account that owns the endpoint."
HINT_DOWN = (
    "Check the endpoint in RunPod's console (its workers, its logs), then generate again; "
    f"{runpod_settings.ENDPOINT_ENV} names it."
)


class EndpointLost(Exception):
    """No answer from the endpoint (refused, reset, timed out, or a gateway's 502-504)."""


def display_name(url: str) -> str:
    """The endpoint's URL without credentials or a query: safe to show and to record."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class Client:
    """HTTP calls to one endpoint, synchronous (urllib): the caller's thread waits."""

    def __init__(self, base: str, endpoint_id: str, api_key: str, timeout: float) -> None:
        self.url = f"{base.rstrip('/')}/{urllib.parse.quote(endpoint_id, safe='')}"
        self.name = display_name(self.url)
        self.timeout = timeout
        self._key = api_key
        self._status_method = "GET"

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def call(self, method: str, path: str, body: dict | None = None, timeout=None):
        """(HTTP status, JSON body or text); EndpointLost when nothing answers."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                status, text = response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode("utf-8", "replace")
        except (OSError, ValueError) as exc:  # refused, reset, timed out, a malformed answer
            raise EndpointLost(f"{method} {path.split('/')[1]}: {_why(exc)}") from None
        if status in (502, 503, 504):
            raise EndpointLost(f"{method} {path.split('/')[1]}: HTTP {status}")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def submit(self, payload: dict) -> str:
        status, body = self.call("POST", "/run", payload)
        refused = _refusal(self.name, status, body)
        if refused is not None:
            raise refused
        job = body.get("id") if isinstance(body, dict) else None
        if status != 200 or not job:
            raise AppError(
                "unavailable",
                f"The RunPod endpoint {self.name} did not take the job (HTTP {status}).",
                hint=HINT_DOWN,
            )
        return str(job)

    def job_status(self, job: str) -> dict:
        path = f"/status/{urllib.parse.quote(job, safe='')}"
        status, body = self.call(self._status_method, path)
        if status == 405 and self._status_method == "GET":  # the SDK's local server: POST only
            self._status_method = "POST"
            status, body = self.call("POST", path)
        refused = _refusal(self.name, status, body)
        if refused is not None:
            raise refused
        if status == 404:
            return {"status": "LOST"}
        if status != 200 or not isinstance(body, dict):
            raise EndpointLost(f"{self._status_method} status: HTTP {status}")
        return body

    def cancel(self, job: str) -> bool:
        """False where the endpoint has no /cancel (the SDK's local server)."""
        status, _ = self.call("POST", f"/cancel/{urllib.parse.quote(job, safe='')}")
        return status == 200

    def health(self) -> dict | None:
        """The endpoint's /health ({"jobs": {...}, "workers": {...}}); None where it has none."""
        status, body = self.call("GET", "/health")
        refused = _refusal(self.name, status, body)
        if refused is not None:
            raise refused
        if status != 200 or not isinstance(body, dict):
            return None
        return body


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return "no answer in time"
    return str(reason) or type(reason).__name__


def _refusal(name: str, status: int, body) -> AppError | None:
    """The endpoint's answer when it refuses the app itself (the key, the endpoint id, a limit)."""
    if status in (401, 403):
        return AppError(
            "unavailable", f"The RunPod endpoint {name} refused the API key (HTTP {status}).",
            hint=HINT_KEY,
        )  # fmt: skip
    if status == 413:
        return AppError(
            "bad_input",
            f"The RunPod endpoint {name} refuses a job this large (HTTP 413).",
            hint="Use a shorter or smaller video or audio file.",
        )
    if status == 429:
        return AppError(
            "unavailable", f"The RunPod endpoint {name} is rate-limiting requests (HTTP 429).",
            hint="Wait a moment, then generate again.",
        )  # fmt: skip
    return None


# -- what worker-comfyui says, in the app's terms

_EXECUTION = re.compile(
    r"Workflow execution error: Node Type: (?P<type>.*?), Node ID: (?P<id>.*?), "
    r"Message: (?P<msg>.*)",
    re.S,
)
_NODE_ERROR = re.compile(r"Node (?P<id>\S+) \((?P<key>[^)]*)\): (?P<value>.*)")


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def failure(prompt: dict, body: dict, name: str) -> AppError:
    """A FAILED job's error (worker-comfyui's `{"error", "details"}`) as one AppError."""
    error = body.get("error")
    output = body.get("output") if isinstance(body.get("output"), dict) else {}
    details = body.get("details") or output.get("details") or []
    if isinstance(error, dict):  # some gateways nest it
        details = details or error.get("details") or []
        error = error.get("message") or error.get("error") or json.dumps(error)
    error = str(error or "")
    if error.startswith("{"):  # the SDK's report of a handler that raised
        try:
            raised = json.loads(error)
            error = f"{raised.get('error_type', '')}: {raised.get('error_message', '')}"
            error = error.replace("<class '", "").replace("'>", "")
        except ValueError:
            pass
    details = [str(d) for d in details] if isinstance(details, list) else [str(details)]
    for line in [*details, error]:
        found = _EXECUTION.search(line)
        if found:  # a node raised while executing
            data = {
                "node_id": found["id"].strip(),
                "node_type": found["type"].strip(),
                "exception_message": found["msg"].strip(),
                "exception_type": "",
            }
            err = classify_execution(prompt, [("execution_error", data)])
            err.message = one_line(err.message)
            return err
    if error.startswith("Workflow validation failed"):
        return _validation(prompt, error)
    if "not reachable" in error:
        return AppError(
            "unavailable",
            f"The RunPod endpoint {name} could not reach its ComfyUI: {one_line(error)}",
            hint=HINT_DOWN,
        )
    if error.startswith("Failed to upload"):
        said = "; ".join(details) or error
        return AppError("node_failed", f"The endpoint could not store an input: {one_line(said)}")
    said = error or "the job failed"
    if details:
        said = f"{said}: {details[0]}"
    return AppError(
        "node_failed",
        f"The RunPod endpoint said: {one_line(said)}",
        where=name,
        hint="The endpoint's logs (RunPod's console) say which node failed and why.",
    )


def _validation(prompt: dict, error: str) -> AppError:
    """worker-comfyui's `Workflow validation failed:\\n• Node 12 (errors): [...]` as
    classify_validation would say ComfyUI's own verdict."""
    for line in error.splitlines():
        found = _NODE_ERROR.search(line)
        if not found:
            continue
        node_id, key, value = found["id"], found["key"], found["value"]
        if key == "errors":
            try:
                reasons = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                reasons = None
            if isinstance(reasons, list):
                err = classify_validation(prompt, {}, {node_id: {"errors": reasons}})
                if err.kind == "missing_model":
                    err.hint = (
                        "Put the file into the endpoint's models (its network volume or image), "
                        "then retry."
                    )
                err.message = one_line(err.message)
                return err
        return AppError(
            "invalid_graph", one_line(f"{key}: {value}"), where=node_title(prompt, node_id)
        )
    return AppError("invalid_graph", one_line(error))


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
            lines.say(0.0, f"Sending the job to RunPod endpoint {self.name}")
            try:
                job.remote = self._wait(job, lambda: self.client.submit(payload))
            except EndpointLost as exc:
                raise AppError(
                    "unavailable", f"The RunPod endpoint {self.name} does not answer ({exc}).",
                    hint=HINT_DOWN,
                ) from None  # fmt: skip
            if job.cancelled.is_set():
                self._send_cancel(job)
                raise AppError("interrupted", "Generation was cancelled.")
            body = self._follow(job, prompt, lines, started)
            files = self._outputs(body.get("output"), Path(self._output_dir()))
        finally:
            with self._lock:
                self._jobs.pop(job.id, None)
        return self._result(files, body.get("output"), started)

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
                    raise AppError(
                        "unavailable",
                        f"The RunPod endpoint {self.name} stopped answering mid-job ({exc}); the "
                        "job was not finished.",
                        hint=HINT_DOWN,
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
                raise AppError(
                    "unavailable",
                    f"The RunPod endpoint {self.name} no longer knows the job (was it "
                    "restarted, or the job purged?); the job was not finished.",
                    hint=HINT_DOWN,
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
            data = _download(str(item["data"]), self.name)
        else:
            try:
                data = base64.b64decode(str(item["data"]), validate=False)
            except ValueError:
                raise AppError(
                    "node_failed", f"The RunPod endpoint {self.name} sent {name} unreadable."
                ) from None
        dest.mkdir(parents=True, exist_ok=True)
        target, n = dest / name, 1
        while target.exists():  # another endpoint job's file of the same name
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
            },
        }

    def slots(self) -> int:
        return runpod_settings.slots()

    def close(self) -> None:
        self._closed.set()
        self.cancel("")


def _images(inputs: list[Path]) -> list[dict]:
    return [
        {"name": path.name, "image": base64.b64encode(path.read_bytes()).decode("ascii")}
        for path in inputs
    ]


def _download(url: str, name: str) -> bytes:
    """An output the endpoint put in its S3 bucket (a presigned URL: no key of ours is sent)."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_S) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise AppError(
            "node_failed",
            f"The output of RunPod endpoint {name} could not be fetched from its bucket "
            f"(HTTP {exc.code}).",
            hint="Check the endpoint's bucket settings, then generate again.",
        ) from None
    except (OSError, ValueError) as exc:
        raise AppError(
            "node_failed",
            f"The output of RunPod endpoint {name} could not be fetched from its bucket "
            f"({_why(exc)}).",
            hint="Check the endpoint's bucket settings, then generate again.",
        ) from None


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
