"""Throughput with 1 and with 2 remote ComfyUI workers, through the app's own worker pool.

For 1, then 2 workers: starts them as tools/start_workers.py does (CPU workers over the tiny
random-weight set, each with its share of the cores; or `--gpus 0,1` over LTX_AIO_MODELS_DIR),
warms each with one job, times N jobs (new seeds: every job samples and decodes; weights and
prompt encodings stay loaded) run as many at once as there are workers, as the app's queue does,
and stops them. Reports jobs per minute, the speedup, each worker's CPU seconds and how many jobs
each took.

    python tools/bench_workers.py [--jobs 6] [--mode t2v] [--preset fast] [--json out.json]

On a machine whose cores the workers share (a 2-core CPU box), a second worker can only win what
the first leaves idle: read the CPU columns with the throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import start_workers  # noqa: E402

from testkit.loopback import free_port  # noqa: E402

TINY_DIR = ROOT / ".tiny-weights"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare(mode: str, preset: str, seed: int, media_dir: Path):
    import models
    import modes
    import pins
    import prepare
    from testkit.mediagen import make_png, make_wav

    params = {"prompt": "a red fox trots through snow", "preset": preset, "seed": seed}
    params.update(width=320, height=256)
    fields = {f.name: f for f in modes.MODES[mode].fields}
    if "frames" in fields and "video" not in fields:
        params["frames"] = 9
    for name, f in fields.items():
        if not f.required:  # the optional keyframes: a job of the required inputs
            continue
        if f.kind == "audio":
            params[name] = str(make_wav(media_dir / "voice.wav", seconds=1.0, kind="chirp"))
        elif f.kind == "image":
            params[name] = str(make_png(media_dir / f"{name}.png", 320, 256))
    job = f"bench-{uuid.uuid4().hex[:10]}"
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
    return models.resolve_variant(prepared.prompt, "full"), job, prepared


def one_job(mode: str, preset: str, seed: int, media_dir: Path) -> dict:
    import backend
    import media
    import pins

    prompt, job, prepared = prepare(mode, preset, seed, media_dir)
    started = time.perf_counter()
    try:
        result = backend.run(prompt, None, job, mode)
    finally:
        media.unstage(prepared.spec.files, pins.input_dir())
    Path(result["video"]).unlink(missing_ok=True)
    return {"worker": result["worker"], "seconds": round(time.perf_counter() - started, 2)}


def measure(workers, jobs: int, mode: str, preset: str, media_dir: Path) -> dict:
    import backend
    import worker_pool
    import worker_settings

    count = len(workers)
    os.environ[worker_settings.WORKERS_ENV] = ",".join(w.url for w in workers)
    worker_pool.shutdown()
    backend.executor()
    with ThreadPoolExecutor(count) as runner:  # warm-up: one job on each worker, at once
        list(runner.map(lambda n: one_job(mode, preset, 1000 + n, media_dir), range(count)))
    cpu = [cpu_seconds(w.process.pid) for w in workers]
    started = time.perf_counter()
    with ThreadPoolExecutor(count) as runner:
        rows = list(runner.map(lambda n: one_job(mode, preset, 2000 + n, media_dir), range(jobs)))
    wall = time.perf_counter() - started
    used = [round(cpu_seconds(w.process.pid) - c, 1) for w, c in zip(workers, cpu, strict=True)]
    worker_pool.shutdown()
    return {
        "workers": count,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "jobs_per_min": round(jobs * 60 / wall, 2),
        "job_s": sorted(r["seconds"] for r in rows),
        "worker_cpu_s": used,
        "jobs_per_worker": [sum(r["worker"] == w.url for r in rows) for w in workers],
    }


def run_with(gpus: list, env: dict, folder: Path, options) -> dict:
    """Start one worker per entry of `gpus` (None: a CPU worker with its share of the cores, as
    tools/start_workers.py starts them), measure, stop them."""
    workers = []
    try:
        for n, gpu in enumerate(gpus):
            threads = start_workers.cpu_threads(len(gpus)) if gpu is None else None
            root = folder / f"{len(gpus)}-w{n}"
            workers.append(
                start_workers.start(
                    root, free_port(), gpu=gpu, cpu=gpu is None, env=env, threads=threads
                )
            )
        for worker in workers:
            start_workers.wait_ready(worker)
        return measure(workers, options.jobs, options.mode, options.preset, folder)
    finally:
        for worker in workers:
            start_workers.stop(worker)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--mode", default="t2v")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--gpus", help="two GPU indices, e.g. 0,1 (default: CPU, tiny set)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)
    gpus = options.gpus.split(",")[:2] if options.gpus else [None, None]
    env = {}
    if not options.gpus:
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "make_tiny_weights.py"), str(TINY_DIR)],
            check=True,
            capture_output=True,
        )
        env = {"LTX_AIO_MODELS_DIR": str(TINY_DIR), "LTX_AIO_TINY_WEIGHTS": "1"}
        os.environ.update(env)
    import worker_pool

    print(f"{start_workers.cpu_threads(1)} CPU cores", flush=True)
    figures = []
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        try:
            for count in (1, 2):
                figures.append(run_with(gpus[:count], env, Path(tmp), options))
                print(json.dumps(figures[-1]), flush=True)
        finally:
            worker_pool.shutdown()
    one, two = figures
    speedup = round(two["jobs_per_min"] / one["jobs_per_min"], 2)
    print(f"\n{options.jobs} x {options.mode} {options.preset} (320x256, 9 frames)")
    print(f"{'workers':>8} {'wall s':>8} {'jobs/min':>9} {'worker CPU s':>14}")
    for row in figures:
        cpu = "+".join(str(c) for c in row["worker_cpu_s"])
        print(f"{row['workers']:>8} {row['wall_s']:>8} {row['jobs_per_min']:>9} {cpu:>14}")
    print(f"speedup 2 vs 1 worker: {speedup}x  (load average now: {os.getloadavg()[0]:.1f})")
    if options.json:
        summary = {"runs": figures, "speedup": speedup, "cpus": start_workers.cpu_threads(1)}
        options.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
