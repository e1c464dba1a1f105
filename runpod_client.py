"""The RunPod endpoint's protocol, and what it says in the app's terms (runpod_endpoint.py runs jobs
over it).

A serverless endpoint (runpod_settings: its id, the account's API key, the base URL) speaks
RunPod's queue protocol: `POST {base}/{id}/run` with `{"input": {"workflow": <API-format graph>,
"images": [{"name", "image": <base64>}]}}` answers the job's id; `GET /status/{job}` says
IN_QUEUE, IN_PROGRESS, COMPLETED (with the handler's output), FAILED (with its error), CANCELLED
or TIMED_OUT; `POST /cancel/{job}` stops it; `GET /health` counts the endpoint's jobs and workers.
Every request carries `Authorization: Bearer <key>`; an output in the endpoint's S3 bucket is
fetched by its presigned URL, without it.

RunPod's worker-comfyui handler uploads each input to ComfyUI's `/upload/image`, which stores any
file under its name (a wav or an mp4 as well as a png), runs the graph and returns every output
node's `images` list (SaveVideo lists its mp4 there) as base64, or as S3 URLs when the endpoint
has a bucket. A failure comes back as `{"error", "details"}`: a node that raised as "Job
processing failed" with the detail "Workflow execution error: Node Type: .., Node ID: ..,
Message: ..", a graph ComfyUI refused as "Workflow validation failed:" and a line per node error;
`failure()` says each as the one-line AppError the other executors would.

Where the runpod SDK's local test server (`handler.py --rp_serve_api`) differs from the hosted
API, this client accepts both: it serves `/run`, `/runsync` and `POST /status/{job}` (no GET: a
405 here switches to POST), has no `/cancel` and no `/health` (both 404: a cancel then only ends
the job here, and the endpoint counts nothing), lives at the server's root rather than under
`/{endpoint id}`, and runs a job only while its first /status is asked, answering that one request
when the job has ended (so LTX_AIO_RUNPOD_TIMEOUT must outlast a job there). It also drops a
failure's `details`, keeping the bare error. The hosted API takes at most 10 MB per /run body.
"""

from __future__ import annotations

import ast
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import runpod_settings
from comfy_events import classify_execution, classify_validation, node_title
from errors import AppError
from workers import display_name  # one way to show a URL without its credentials

RUN_LIMIT_BYTES = 10 * 1024 * 1024  # the hosted /run body limit (/runsync: 20 MB)
DOWNLOAD_S = 300.0  # an S3 output's download, as long as data keeps coming
HINT_KEY = f"Set {runpod_settings.KEY_ENV} to an API key of the account that owns the endpoint."
HINT_DOWN = (
    "Check the endpoint in RunPod's console (its workers, its logs), then generate again; "
    f"{runpod_settings.ENDPOINT_ENV} names it."
)


class EndpointLost(Exception):
    """No answer from the endpoint (refused, reset, timed out, or a gateway's 502-504)."""


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


def download(url: str, name: str) -> bytes:
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
