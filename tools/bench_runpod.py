"""The added cost per job of the RunPod endpoint path against a direct worker, on the tiny set.

Starts one ComfyUI of the pinned checkout (CPU, the tiny random-weight set) and RunPod's
worker-comfyui handler from its pin under the runpod SDK's local API server in front of it
(testkit.real_runpod), warms it, then runs the same jobs one at a time, alternately through the
app's worker pool straight to that ComfyUI (LTX_AIO_WORKERS) and through the RunPod executor to the
handler (LTX_AIO_RUNPOD_ENDPOINT). Both paths run on the same ComfyUI, so the difference is what the
endpoint path adds: base64 inputs and outputs in JSON, the handler's upload, its websocket wait and
its /view fetch, status polling (POLL_S). A hosted endpoint adds its queue and a cold start on top,
which no local run can show.

    python tools/bench_runpod.py [--jobs 6] [--modes t2v,i2v] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

TINY_DIR = ROOT / ".tiny-weights"


def one_job(mode: str, seed: int, media_dir: Path) -> float:
    import backend
    import media
    import models
    import modes
    import pins
    import prepare
    from testkit.mediagen import make_png

    params = {"prompt": "a red fox trots through snow", "preset": "fast", "seed": seed}
    params.update(width=320, height=256, frames=9)
    for f in modes.MODES[mode].fields:
        if f.required and f.kind == "image":
            params[f.name] = str(make_png(media_dir / f"{f.name}.png", 320, 256))
    job = f"bench-{uuid.uuid4().hex[:10]}"
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
    prompt = models.resolve_variant(prepared.prompt, "full")
    started = time.perf_counter()
    try:
        result = backend.run(prompt, None, job, mode)
    finally:
        media.unstage(prepared.spec.files, pins.input_dir())
    took = time.perf_counter() - started
    Path(result["video"]).unlink(missing_ok=True)
    return took


def use(path: str, endpoint, worker_url: str) -> None:
    """Jobs through `path` from now on. Each executor is made once and kept (a changed setting
    would make a new one, whose first check is no part of a job): LTX_AIO_WORKERS stays set, and
    the endpoint's settings, which take precedence, come and go."""
    os.environ["LTX_AIO_WORKERS"] = worker_url
    for name, value in endpoint.settings().items():
        if path == "endpoint":
            os.environ[name] = value
        else:
            os.environ.pop(name, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=6, help="jobs per mode and path")
    parser.add_argument("--modes", default="t2v,i2v")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args(argv)
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_tiny_weights.py"), str(TINY_DIR)],
        check=True,
        capture_output=True,
    )
    os.environ.update(LTX_AIO_MODELS_DIR=str(TINY_DIR), LTX_AIO_TINY_WEIGHTS="1")
    import pins
    from testkit import real_runpod

    missing = real_runpod.problems()
    if missing:
        print("cannot run: " + "; ".join(missing), file=sys.stderr)
        return 2
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-runpod-") as tmp,
        real_runpod.serve(Path(tmp), pins.comfy_dir(), TINY_DIR) as endpoint,
    ):
        worker_url = endpoint.comfy.url
        try:
            for mode in options.modes.split(","):
                times = {"worker": [], "endpoint": []}
                # Every job its own seed: ComfyUI would serve a repeated graph from its cache.
                for k, path in enumerate(times):  # warm-up: weights loaded, first calls made
                    use(path, endpoint, worker_url)
                    one_job(mode, 100 + k, Path(tmp))
                for n in range(options.jobs):
                    for k, path in enumerate(times):
                        use(path, endpoint, worker_url)
                        times[path].append(one_job(mode, 200 + 2 * n + k, Path(tmp)))
                worker, via = (statistics.median(times[p]) for p in times)
                # The least of each: the cost itself, as load on a shared machine only adds.
                least_worker, least_via = (min(times[p]) for p in times)
                row = {
                    "mode": mode,
                    "worker_s": [round(t, 2) for t in times["worker"]],
                    "endpoint_s": [round(t, 2) for t in times["endpoint"]],
                    "median_worker_s": round(worker, 2),
                    "median_endpoint_s": round(via, 2),
                    "added_s": round(via - worker, 2),
                    "added_pct": round(100 * (via - worker) / worker, 1),
                    "least_added_s": round(least_via - least_worker, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            import runpod_endpoint
            import worker_pool

            runpod_endpoint.shutdown()
            worker_pool.shutdown()
    print(f"\n{options.jobs} jobs per mode and path, fast preset, 320x256, 9 frames, CPU tiny set")
    print(f"{'mode':>6} {'worker s':>9} {'endpoint s':>11} {'added s':>8} {'added %':>8} "
          f"{'least added s':>14}")  # fmt: skip
    for row in rows:
        print(
            f"{row['mode']:>6} {row['median_worker_s']:>9} {row['median_endpoint_s']:>11} "
            f"{row['added_s']:>8} {row['added_pct']:>8} {row['least_added_s']:>14}"
        )
    print(f"(medians, then the least of each; load average now: {os.getloadavg()[0]:.1f})")
    if options.json:
        options.json.write_text(json.dumps({"runs": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
