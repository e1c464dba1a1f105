"""How the app answers while one visitor's long line waits for the GPU (a benchmark, not a test).

Serves the app in this process on a shared deployment with the GPU task replaced by the tests'
double, holds the GPU with visitor A's first job, lines up A's other jobs (40 by default), then
measures: /healthz's answer time (median and worst of --probes requests), and how many jobs start
before visitor B's one job once the GPU is let go (the turns say: the one running, nothing of the
line behind it).

    python tools/bench_line.py [--jobs 40] [--probes 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--jobs", type=int, default=40, help="A's jobs, the running one included")
    ap.add_argument("--probes", type=int, default=20)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import httpx
    from gradio_client import Client

    import app  # noqa: F401  (before ComfyUI's own `app` could shadow it)
    import backend
    import jobs
    import owners
    from testkit.app_helpers import running_app
    from testkit.waiting import wait_for

    env = {"LTX_AIO_SHARED": "1", "LTX_AIO_MAX_WAITING": str(args.jobs + 1)}
    with running_app(Path(tempfile.mkdtemp(prefix="bench-line-")), env) as served:
        release = threading.Event()
        fake = backend.generate

        def held(*a, **k):
            release.wait(300)
            return fake(*a, **k)

        backend.generate = held
        key_a, key_b = uuid.uuid4().hex, uuid.uuid4().hex
        owner_a = owners.of(SimpleNamespace(headers={"x-aio-key": key_a}))
        owner_b = owners.of(SimpleNamespace(headers={"x-aio-key": key_b}))
        a = Client(served.url, verbose=False, headers={"x-aio-key": key_a})
        b = Client(served.url, verbose=False, headers={"x-aio-key": key_b})
        theirs = [
            a.submit(prompt=f"a{i}", preset="fast", seed=i, api_name="/t2v")
            for i in range(args.jobs)
        ]
        lined_up = wait_for(
            lambda: jobs.TURNS.waiting(owner_a) == args.jobs - jobs.slots(), "A's line", 120
        )
        answers = []
        for _ in range(args.probes):
            started = time.perf_counter()
            code = httpx.get(f"{served.url}healthz", timeout=60).status_code
            answers.append((time.perf_counter() - started, code))
        before = len(served.engine.calls)
        mine = b.submit(prompt="b", preset="fast", seed=1, api_name="/t2v")
        wait_for(lambda: jobs.TURNS.waiting(owner_b) == 1, "B's job in line", 120)
        release.set()
        _, used = mine.result(timeout=300)
        started_ids = [c["job_id"] for c in served.engine.calls[before:]]
        for job in theirs:
            job.cancel()
        backend.generate = fake
    seconds = [s for s, _ in answers]
    report = {
        "a_jobs": args.jobs,
        "lined_up": lined_up,
        "healthz_median_s": round(statistics.median(seconds), 4),
        "healthz_worst_s": round(max(seconds), 4),
        "healthz_codes": sorted({c for _, c in answers}),
        "jobs_before_b": started_ids.index(used["job_id"]),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
