"""/healthz's answer time while remote workers are idle, busy, killed and frozen (a benchmark, not
a test: tests/test_workers_supervised.py holds the bound).

Runs `tools/start_workers.py --cpu 2` (two CPU ComfyUI workers over the tiny random-weight set)
and `python app.py` on them, asks /healthz every 0.2 s and goes through the phases: idle; busy
(a job on each worker); one worker killed with kill -9 mid-job (until the tool restarted it and
the app took it back); one frozen with SIGSTOP mid-job (until its job ran again on the other and
it was resumed and back); both killed (until the job ran on one that came back). Reports per
phase the answers' count, median, 95th percentile and worst time, their status codes, and the
slowest section of the report itself (its `took_ms`).

    python tools/bench_healthz.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TINY_DIR = ROOT / ".tiny-weights"
JOB = {"prompt": "waves on rocks at dusk", "width": 320, "height": 256}
JOB.update(preset="balanced", frames=33)  # seconds of work: time to act on it mid-job
JOB_S = 600


def summary(answers) -> dict:
    seconds = sorted(a.seconds for a in answers)
    sections: dict[str, float] = {}
    for answer in answers:
        for name, ms in answer.took_ms.items():
            sections[name] = max(sections.get(name, 0.0), ms)
    slowest = max(sections.items(), key=lambda kv: kv[1], default=("-", 0.0))
    return {
        "answers": len(seconds),
        "median_s": round(statistics.median(seconds), 3),
        "p95_s": round(seconds[int(0.95 * (len(seconds) - 1))], 3),
        "worst_s": round(seconds[-1], 3),
        "codes": sorted({a.code for a in answers}),
        "slowest_section": f"{slowest[0]} {slowest[1]:.0f} ms",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_tiny_weights.py"), str(TINY_DIR)],
        check=True,
        capture_output=True,
    )
    from gradio_client import Client

    import pins
    from testkit.real_app import serve
    from testkit.real_workers import polled, supervise
    from testkit.waiting import wait_for

    tiny = {"LTX_AIO_MODELS_DIR": str(TINY_DIR), "LTX_AIO_TINY_WEIGHTS": "1"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-healthz-"))
    with supervise(tmp, tiny) as group:
        env = {
            "LTX_AIO_WORKERS": ",".join(group.urls),
            "LTX_AIO_WORKER_TIMEOUT": "15",
            "LTX_AIO_WORKER_GRACE": "600",
        }
        with (
            serve(tmp / "app", TINY_DIR, pins.comfy_dir(), **env) as app,
            polled(app.url) as health,
        ):

            def submit(seed: int):
                return Client(app.url, verbose=False).submit(**JOB, seed=seed, api_name="/t2v")

            def running_on(job) -> list[int]:
                found = wait_for(
                    lambda: [i for i in range(2) if group.running(i)] or job.done(),
                    "a job to run on a worker",
                    JOB_S,
                )
                if found is True:
                    raise SystemExit("a job ended before it could be acted on: make it longer")
                return found

            def both_up():
                wait_for(lambda: health.states() == ["up", "up"], "both workers up", JOB_S)

            health.phase = "idle"
            wait_for(lambda: len(health.answers) >= 25, "25 answers", 120)

            health.phase = "busy"
            jobs = [submit(1), submit(2)]
            wait_for(lambda: all(group.running(i) for i in range(2)), "both busy", JOB_S)
            for job in jobs:
                job.result(timeout=JOB_S)

            health.phase = "one killed"
            job = submit(3)
            [killed, *_] = running_on(job)
            os.kill(group.pid(killed), signal.SIGKILL)
            job.result(timeout=JOB_S)
            both_up()

            health.phase = "one frozen"
            job = submit(4)
            [frozen, *_] = running_on(job)
            pid = group.pid(frozen)
            os.kill(pid, signal.SIGSTOP)
            try:
                job.result(timeout=JOB_S)
            finally:
                os.kill(pid, signal.SIGCONT)
            both_up()

            health.phase = "both killed"
            job = submit(5)
            running_on(job)
            for i in range(2):
                os.kill(group.pid(i), signal.SIGKILL)
            job.result(timeout=JOB_S)
            both_up()
            health.phase = "end"

    shutil.rmtree(tmp, ignore_errors=True)
    phases = ["idle", "busy", "one killed", "one frozen", "both killed"]
    figures = {p: summary([a for a in health.answers if a.phase == p]) for p in phases}
    print(f"/healthz with 2 CPU workers on {os.cpu_count()} cores (tiny set, t2v 33 frames)")
    print(f"{'phase':<12} {'n':>4} {'median s':>9} {'p95 s':>7} {'worst s':>8}  codes  slowest")
    for phase, row in figures.items():
        codes = ",".join(str(c) for c in row["codes"])
        print(
            f"{phase:<12} {row['answers']:>4} {row['median_s']:>9} {row['p95_s']:>7} "
            f"{row['worst_s']:>8}  {codes:<6} {row['slowest_section']}"
        )
    if options.json:
        options.json.write_text(json.dumps({"cpus": os.cpu_count(), "phases": figures}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
