"""Real ComfyUI workers for tests: servers of the pinned checkout on loopback ports over the tiny
random-weight set, started by tools/start_workers.py's own functions; they can be killed and
started again on the same port and folders, as a crashed and restarted worker would be."""

from __future__ import annotations

import json
import sys
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import start_workers  # noqa: E402
from loopback import free_port  # noqa: E402

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
