"""`python app.py` as a user starts it, on the real engine and the tiny random-weight set.

No double anywhere: its own process, the pinned checkout, ComfyUI in-process, History in a data
dir of the test's own. The tests talk to it over HTTP only (gradio_client, Chromium, /healthz).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testkit.loopback import free_port

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 300


@dataclass
class RealApp:
    url: str
    data: Path
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")


def _wait_ready(app: RealApp) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = None
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            raise RuntimeError(f"app.py exited ({app.process.returncode}):\n{app.log_tail()}")
        try:
            status, body = app.health()
            if status == 200:
                return
            last = body.get("reasons")
        except (OSError, ValueError):  # not listening yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"app.py not ready after {READY_TIMEOUT_S} s: {last}\n{app.log_tail()}")


@contextmanager
def serve(tmp: Path, models: Path, comfy: Path, data: Path | None = None, **env):
    """Start app.py with the tiny set and its own data dir (or `data`); stop it on exit."""
    data = data or tmp / "data"
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = tmp / "app.log"
    environment = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "LTX_AIO_COMFYUI_DIR": str(comfy),
        "LTX_AIO_DATA_DIR": str(data),
        "LTX_AIO_MODELS_DIR": str(models),
        "LTX_AIO_TINY_WEIGHTS": "1",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=str(tmp),
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    app = RealApp(f"http://127.0.0.1:{port}", data, log, process)
    try:
        _wait_ready(app)
        yield app
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
