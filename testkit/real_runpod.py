"""A real RunPod endpoint on loopback, for tests and benchmarks: a ComfyUI of the pinned checkout on
the tiny set (started with tools/start_workers.py's functions, as testkit.real_workers does) and
RunPod's worker-comfyui handler, from its pin's archive, under the runpod SDK's local API server in
front of it (testkit/runpod_handler.py says what is patched, and why).

The pin is test data: its archive (../shared/pins, or LTX_AIO_PINS_DIR) is extracted into the
test's temporary folder, never into the repository. `problems()` says what is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testkit.loopback import free_port
from testkit.real_workers import ROOT, TINY, start_workers

SHA = "d2a557235b3800d68dcc6fa3259125fdf4bed8a6"  # worker-comfyui 5.8.5
ARCHIVE = f"worker-comfyui-{SHA}.tar.gz"
ENDPOINT = "local-endpoint"
READY_S = 120
# The runpod SDK's local server answers a job's first /status once the job has run.
SETTINGS = {"LTX_AIO_RUNPOD_TIMEOUT": "900", "LTX_AIO_RUNPOD_SILENCE": "2"}


def archive() -> Path:
    folder = os.environ.get("LTX_AIO_PINS_DIR") or ROOT.parent / "shared" / "pins"
    return Path(folder) / ARCHIVE


def problems() -> list[str]:
    """Why the real handler cannot run here (empty: it can)."""
    found = []
    if not archive().is_file():
        found.append(
            f"the worker-comfyui pin {ARCHIVE} is not in ../shared/pins (or LTX_AIO_PINS_DIR)"
        )
    for module, package in (("runpod", "runpod"), ("websocket", "websocket-client")):
        if importlib.util.find_spec(module) is None:
            found.append(f"the {package} package is not installed (requirements-test.txt)")
    return found


def extract(dest: Path) -> Path:
    with tarfile.open(archive()) as tar:
        tar.extractall(dest, filter="data")
    [top] = [p for p in dest.iterdir() if p.is_dir()]
    return top


@dataclass
class Endpoint:
    comfy: start_workers.Worker
    pin: Path
    port: int
    root: Path
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        """How the app names it (its "worker")."""
        return f"{self.base}/{ENDPOINT}"

    def settings(self) -> dict[str, str]:
        """The app's settings for this endpoint."""
        return {
            "LTX_AIO_RUNPOD_ENDPOINT": ENDPOINT,
            "LTX_AIO_RUNPOD_URL": self.base,
            "LTX_AIO_RUNPOD_API_KEY": "local-test-key",
            **SETTINGS,
        }

    def start(self) -> None:
        pid_file = self.root / "comfyui.pid"
        pid_file.write_text(str(self.comfy.process.pid))
        log = (self.root / "handler.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "testkit" / "runpod_handler.py"),
                 "--pin", str(self.pin), "--comfy", self.comfy.url.removeprefix("http://"),
                 "--pid-file", str(pid_file), "--port", str(self.port), "--endpoint", ENDPOINT],
                cwd=str(self.root), stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the handler exited:\n{self.log_tail()}")
            if self.answers():
                return
            time.sleep(0.3)
        raise RuntimeError(f"the handler did not answer in {READY_S} s:\n{self.log_tail()}")

    def answers(self) -> bool:
        request = urllib.request.Request(
            f"{self.name}/status/none", data=b"", method="POST"
        )  # the SDK's server: POST only
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return "status" in json.loads(response.read())
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """The endpoint lost: its server killed (ComfyUI behind it runs on)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def revive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.start()

    def running(self) -> list[str]:
        """Prompt ids the ComfyUI behind it runs or has waiting."""
        with urllib.request.urlopen(self.comfy.url + "/queue", timeout=10) as r:
            queue = json.loads(r.read())
        return [item[1] for item in queue["queue_running"] + queue["queue_pending"]]

    def log_tail(self, lines: int = 40) -> str:
        path = self.root / "handler.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def serve(tmp: Path, comfy: Path, models: Path):
    """ComfyUI on the tiny set and the handler in front of it; both stopped on exit."""
    root = tmp / "endpoint"
    root.mkdir(parents=True, exist_ok=True)
    pin = extract(tmp / "pin")
    worker = start_workers.start(
        tmp / "comfy", free_port(), cpu=True, checkout=comfy, models=models, env=TINY,
        threads=start_workers.cpu_threads(1),
    )  # fmt: skip
    endpoint = Endpoint(worker, pin, free_port(), root)
    try:
        start_workers.wait_ready(worker)
        endpoint.start()
        yield endpoint
    finally:
        endpoint.kill()
        start_workers.stop(worker)
