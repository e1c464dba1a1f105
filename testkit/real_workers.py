"""Real ComfyUI workers for tests and benchmarks: servers of the pinned checkout on loopback ports
over the tiny random-weight set. `serve` starts them with tools/start_workers.py's own functions
(they can be killed and started again on the same port and folders, as a crashed and restarted
worker would be); `supervise` runs the tool itself, as an operator does, which restarts them.
`polled` asks an app's /healthz in the background, timing each answer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import start_workers  # noqa: E402

from testkit.loopback import free_port  # noqa: E402

TINY = {"LTX_AIO_TINY_WEIGHTS": "1"}


@dataclass
class Workers:
    procs: list[start_workers.Worker]
    ports: list[int]
    roots: list[Path]
    comfy: Path
    models: Path

    @property
    def urls(self) -> list[str]:
        return [w.url for w in self.procs]

    def setting(self, *which: int) -> str:
        """LTX_AIO_WORKERS for these workers (all when none named)."""
        return ",".join(self.urls[i] for i in (which or range(len(self.procs))))

    def start(self, i: int) -> None:
        self.procs[i] = start_workers.start(
            self.roots[i],
            self.ports[i],
            cpu=True,
            checkout=self.comfy,
            models=self.models,
            env=TINY,
            threads=start_workers.cpu_threads(len(self.procs)),
        )

    def kill(self, i: int) -> None:
        self.procs[i].process.kill()
        self.procs[i].process.wait(timeout=30)

    def revive(self, i: int) -> None:
        """Start worker `i` again (same port and folders) if it is not running; wait for it."""
        if self.procs[i].process.poll() is not None:
            self.start(i)
        start_workers.wait_ready(self.procs[i])

    def get(self, i: int, path: str) -> dict:
        with urllib.request.urlopen(self.urls[i] + path, timeout=30) as response:
            return json.loads(response.read())

    def running(self, i: int) -> list[str]:
        """Prompt ids worker `i` is executing now."""
        return [item[1] for item in self.get(i, "/queue")["queue_running"]]

    def files(self, i: int, folder: str) -> list[Path]:
        return [p for p in (self.roots[i] / folder).rglob("*") if p.is_file()]


@contextmanager
def serve(tmp: Path, comfy: Path, models: Path, count: int = 2):
    roots = [tmp / f"worker-{n}" for n in range(count)]
    group = Workers([], [free_port() for _ in roots], roots, comfy, models)
    group.procs = [None] * count
    try:
        for n in range(count):  # both start at once: they share the two CPU cores anyway
            group.start(n)
        for n in range(count):
            group.revive(n)
        yield group
    finally:
        for worker in group.procs:
            if worker is not None:
                start_workers.stop(worker)


# -- the tool as an operator runs it, and /healthz watched meanwhile


def two_free_ports() -> int:
    """A port P with P + 1 free too (the tool numbers its workers from P)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two consecutive free ports")


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/system_stats", timeout=5) as r:
            return "system" in json.loads(r.read())
    except (OSError, ValueError):
        return False


def server_pid(port: int) -> int | None:
    """The ComfyUI server process listening on `port` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        named = b"--port" in words and words[words.index(b"--port") + 1] == str(port).encode()
        if b"main.py" in words and named:
            return int(entry.name)
    return None


@dataclass
class Supervised:
    """The tool and its two workers (ports `port` and `port + 1`)."""

    tool: subprocess.Popen
    port: int
    log: Path
    root: Path

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port + i}" for i in range(2)]

    def said(self) -> str:
        return self.log.read_text(errors="replace")

    def pid(self, i: int) -> int | None:
        return server_pid(self.port + i)

    def answers(self, i: int) -> bool:
        return answers(self.port + i)

    def running(self, i: int) -> list[str]:
        """Prompt ids worker `i` executes or has waiting (none when it does not answer)."""
        try:
            with urllib.request.urlopen(self.urls[i] + "/queue", timeout=5) as r:
                queue = json.loads(r.read())
        except (OSError, ValueError):
            return []
        return [item[1] for item in queue["queue_running"] + queue["queue_pending"]]

    def outputs(self, i: int) -> list[Path]:
        return [p for p in (self.root / f"worker-{i}" / "output").rglob("*") if p.is_file()]

    def knows(self, i: int, prompt_id: str) -> bool | None:
        """Whether worker `i` has a record of the prompt (None: it did not answer)."""
        try:
            with urllib.request.urlopen(f"{self.urls[i]}/api/jobs/{prompt_id}", timeout=5):
                return True
        except urllib.error.HTTPError as exc:
            return False if exc.code == 404 else None
        except OSError:
            return None


@contextmanager
def supervise(tmp: Path, env: dict):
    """`tools/start_workers.py --cpu 2` under `tmp`, with `env` added (the tiny set's settings);
    ready when it says how to start the app; SIGTERM on exit, and no worker left behind."""
    from testkit.waiting import wait_for

    port = two_free_ports()
    log = tmp / "supervisor.log"
    environment = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        tool = subprocess.Popen(
            [sys.executable, str(ROOT / "tools" / "start_workers.py"), "--cpu", "2",
             "--port", str(port), "--root", str(tmp / "workers")],
            env=environment, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    group = Supervised(tool, port, log, tmp / "workers")
    try:
        wait_for(lambda: "Start the app with" in group.said(), "both workers ready", 600)
        yield group
    finally:
        if tool.poll() is None:
            tool.send_signal(signal.SIGTERM)
            try:
                tool.wait(timeout=120)
            except subprocess.TimeoutExpired:
                tool.kill()
                tool.wait(timeout=30)
        for i in range(2):  # a test may have stopped them already; none may be left running
            pid = server_pid(port + i)
            if pid:
                os.kill(pid, signal.SIGKILL)


class Answer(NamedTuple):
    phase: str
    seconds: float
    code: int
    reasons: list
    took_ms: dict  # the report's own time per section


@dataclass
class Polled:
    """/healthz asked every 0.2 s in a thread of its own: each answer's time, code, reasons and
    sections' times, under the name of the phase it came in."""

    url: str
    phase: str = "start"
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def get(self) -> tuple[int, dict]:
        """(status, report); (0, {"error": ...}) when no report came within 5 s."""
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except (OSError, ValueError) as exc:  # no answer: counted, never a silent end
            return 0, {"error": repr(exc)}

    def failures(self) -> list[Answer]:
        return [a for a in self.answers if a.code == 0]

    def count(self, phase: str) -> int:
        return sum(a.phase == phase for a in self.answers)

    def ask(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            code, body = self.get()
            took = time.monotonic() - started
            said = (body.get("reasons") or [], body.get("took_ms") or {})
            self.answers.append(Answer(self.phase, took, code, *said))
            self.stop.wait(0.2)

    def worst(self) -> dict[str, float]:
        worst: dict[str, float] = {}
        for answer in self.answers:
            worst[answer.phase] = max(worst.get(answer.phase, 0.0), answer.seconds)
        return worst

    def slowest(self) -> Answer | None:
        """The slowest answer, with the report's own time per section (what to look at when the
        bound is passed: a section, or the wait before the report began)."""
        return max(self.answers, key=lambda a: a.seconds, default=None)

    def states(self) -> list[str]:
        """The workers' states as /healthz says them now."""
        return [row["state"] for row in self.get()[1].get("workers", [])]


@contextmanager
def polled(url: str):
    poll = Polled(url)
    thread = threading.Thread(target=poll.ask, daemon=True)
    thread.start()
    try:
        yield poll
    finally:
        poll.stop.set()
        thread.join(timeout=60)
