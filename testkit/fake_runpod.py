"""A stand-in for a hosted RunPod serverless endpoint: the parts of RunPod's queue API that the
runpod SDK's local test server lacks (`/cancel`, `/health`, a job waiting IN_QUEUE, outputs as S3
URLs, FAILED answers carrying worker-comfyui's `{"error", "details"}`), on a loopback port in a
thread of its own. A test scripts each job's answers: `statuses` is the list of /status bodies a
job goes through (the last repeats), and the server records every request it was asked. The
executor's check job (runpod_check: a graph of one AIOPinReport) is answered apart: from
`check_statuses` (by default the report of an endpoint at the app's pins, `report()`), its
requests recorded in `checks`, not `asked`.

    with fake_runpod.serve() as fake:
        fake.statuses = [{"status": "IN_QUEUE"}, {"status": "COMPLETED", "output": {...}}]
        os.environ["LTX_AIO_RUNPOD_URL"] = fake.base
"""

from __future__ import annotations

import base64
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testkit.loopback import free_port

ENDPOINT = "fake-endpoint"
CHECK_JOB = "check-1"


def report(**changes) -> dict:
    """What AIOPinReport says on an endpoint at this app's pins (`changes` replace its keys)."""
    import worker_check

    needs = worker_check.app_needs()
    found = {
        "comfyui_version": needs.core_version,
        "pins": {"ComfyUI": needs.core_sha, **needs.packs},
        "tiny_seam": needs.tiny,
        "classes": sorted(needs.classes | {"AIOPinReport", "SaveVideo"}),
    }
    return {**found, **changes}


def check_answer(found: dict) -> dict:
    """The COMPLETED /status body of a check job whose node wrote `found`."""
    data = base64.b64encode(json.dumps(found).encode()).decode()
    image = {"filename": "aio-pin-report.json", "type": "base64", "data": data}
    return {"status": "COMPLETED", "output": {"images": [image]}}


@dataclass
class FakeEndpoint:
    port: int
    statuses: list = field(default_factory=lambda: [{"status": "IN_PROGRESS"}])
    health: dict | None = field(
        default_factory=lambda: {
            "jobs": {"completed": 3, "failed": 1, "inProgress": 1, "inQueue": 4, "retried": 0},
            "workers": {"idle": 0, "running": 2},
        }
    )
    code: int = 200  # the HTTP status every API answer carries (401: a wrong key)
    status_methods: tuple = ("GET", "POST")  # ("POST",): as the SDK's local server
    status_code: int = 200  # what a job's /status answers carry (503: unreachable behind a proxy)
    files: dict = field(default_factory=dict)  # path -> bytes, served as a bucket's objects
    asked: list = field(default_factory=list)  # (method, path, headers, body)
    polls: int = 0
    check_statuses: list = field(default_factory=lambda: [check_answer(report())])
    checks: list = field(default_factory=list)  # the check job's requests, as `asked`
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self, method: str, prefix: str) -> list:
        return [a for a in self.asked if a[0] == method and a[1].startswith(prefix)]

    @staticmethod
    def requests_of(asked: list, part: str) -> list:
        return [a for a in asked if part in a[1]]

    def answer(self, method: str, path: str, headers: dict, body) -> tuple[int, object]:
        workflow = (
            ((body or {}).get("input") or {}).get("workflow") if path.endswith("/run") else {}
        )
        is_check = CHECK_JOB in path or any(
            isinstance(n, dict) and n.get("class_type") == "AIOPinReport"
            for n in (workflow or {}).values()
        )
        (self.checks if is_check else self.asked).append((method, path, headers, body))
        if path.startswith("/bucket/"):
            return (200, self.files[path]) if path in self.files else (404, {"error": "none"})
        own = f"/{ENDPOINT}"
        if not path.startswith(own + "/"):
            return 404, {"error": "not found"}
        path = path[len(own) :]
        if self.code != 200:
            return self.code, {"error": "Unauthorized"}
        if method == "POST" and path == "/run":
            return 200, {"id": CHECK_JOB if is_check else "job-1", "status": "IN_QUEUE"}
        if is_check and path.startswith("/status/"):
            body = self.check_statuses[
                min(
                    len(self.requests_of(self.checks, "/status/")) - 1, len(self.check_statuses) - 1
                )
            ]
            return 200, {"id": CHECK_JOB, **body}
        if is_check and method == "POST" and path.startswith("/cancel/"):
            self.check_statuses = [{"status": "CANCELLED"}]
            return 200, {"id": CHECK_JOB, "status": "CANCELLED"}
        if path.startswith("/status/"):
            if self.status_code != 200:
                return self.status_code, {"error": "Service Unavailable"}
            if method not in self.status_methods:
                return 405, {"detail": "Method Not Allowed"}
            body = self.statuses[min(self.polls, len(self.statuses) - 1)]
            self.polls += 1
            return 200, {"id": path.split("/")[-1], **body}
        if method == "POST" and path.startswith("/cancel/"):
            self.statuses = [{"status": "CANCELLED"}]
            return 200, {"id": path.split("/")[-1], "status": "CANCELLED"}
        if method == "GET" and path == "/health":
            return (200, self.health) if self.health is not None else (404, {"detail": "none"})
        return 404, {"error": "not found"}


def _handler(fake: FakeEndpoint):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _serve(self, method: str):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, answer = fake.answer(method, self.path, dict(self.headers), body)
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._serve("GET")

        def do_POST(self):
            self._serve("POST")

    return Handler


@contextmanager
def serve():
    fake = FakeEndpoint(free_port())
    fake.server = ThreadingHTTPServer(("127.0.0.1", fake.port), _handler(fake))
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        stop(fake)
        thread.join(timeout=30)


def stop(fake: FakeEndpoint) -> None:
    """Stop answering (the endpoint lost): the port refuses connections from then on."""
    if fake.server is not None:
        fake.server.shutdown()
        fake.server.server_close()
        fake.server = None


@contextmanager
def endpoint_on(fake: FakeEndpoint, folder, key: str = "key"):
    """The app's own RunPod executor talking to `fake`, its input and output folders under
    `folder` (in/ made, out/ as the executor makes it); closed afterwards."""
    import runpod_endpoint

    (folder / "in").mkdir(exist_ok=True)
    made = runpod_endpoint.Endpoint(
        fake.base, ENDPOINT, key, lambda: folder / "in", lambda: folder / "out"
    )
    try:
        yield made
    finally:
        made.close()
