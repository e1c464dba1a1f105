"""Benchmark what the app adds around ComfyUI's own node work.

1. Per-request overhead outside node execution, over N runs of a weight-free graph
   (patch + stage + validate + collect; node execution is reported beside it, not in it),
   plus `prepare.job` per mode on the real templates when modes.py is importable.
2. `import app` time against `import gradio`, and whether importing app pulled in torch/ComfyUI.
3. The idle app process: seconds until its page answers, and its resident memory.

Run with the Python that has torch and the pinned checkout for part 1:
    python tools/bench_overhead.py [--runs 50] [--json out.json] [--skip-engine] [--skip-app]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRAPH = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 8, "color": 0},
        "_meta": {"title": "Frames"},
    },
    "2": {"class_type": "LoadAudio", "inputs": {"audio": ""}, "_meta": {"title": "Audio"}},
    "3": {
        "class_type": "CreateVideo",
        "inputs": {"images": ["1", 0], "fps": 8.0, "audio": ["2", 0]},
        "_meta": {"title": "Video"},
    },
    "4": {
        "class_type": "SaveVideo",
        "inputs": {"video": ["3", 0], "filename_prefix": "", "format": "mp4", "codec": "h264"},
        "_meta": {"title": "Save"},
    },
}


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3)


def _write_wav(path: Path, seconds: float = 1.0, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0\0" * int(seconds * rate))


def bench_engine(runs: int) -> dict:
    import backend
    import comfy_engine
    import pins

    problems = comfy_engine.checkout_problems(pins.comfy_dir())
    if problems:
        return {"skipped": " | ".join(problems)}
    started = time.monotonic()
    comfy_engine.engine()
    result: dict = {"engine_start_s": round(time.monotonic() - started, 3)}
    source = Path(tempfile.mkdtemp()) / "voice.wav"
    _write_wav(source)
    tag = f"bench-{uuid.uuid4().hex[:8]}"
    steps: dict[str, list[float]] = {
        k: [] for k in ("patch", "stage", "validate", "collect", "execute", "overhead")
    }
    staged: list[Path] = []
    try:
        for i in range(runs + 1):
            t0 = time.monotonic()
            prompt = copy.deepcopy(GRAPH)
            # A user edit: only the tail of the graph re-executes.
            prompt["3"]["inputs"]["fps"] = 8.0 + (i % 4)
            prompt["4"]["inputs"]["filename_prefix"] = f"{tag}/run{i}"
            t1 = time.monotonic()
            name = f"{tag}-{uuid.uuid4().hex[:6]}.wav"
            target = pins.input_dir() / name
            shutil.copyfile(source, target)
            staged.append(target)
            prompt["2"]["inputs"]["audio"] = name
            t2 = time.monotonic()
            timings = backend.run(prompt)["timings"]
            if i == 0:
                continue  # the first run loads and caches; measure the steady state
            steps["patch"].append(t1 - t0)
            steps["stage"].append(t2 - t1)
            for key in ("validate", "collect", "execute"):
                steps[key].append(timings[key])
            steps["overhead"].append(
                (t1 - t0) + (t2 - t1) + timings["validate"] + timings["collect"]
            )
    finally:
        for path in staged:
            path.unlink(missing_ok=True)
        shutil.rmtree(pins.output_dir() / tag, ignore_errors=True)
    result.update({f"{k}_median_ms": _median_ms(v) for k, v in steps.items()})
    result["runs"] = runs
    result["prepare_median_ms"] = bench_prepare(runs)
    return result


def bench_prepare(runs: int) -> dict | str:
    try:
        import modes
        import prepare
    except ImportError as exc:
        return f"modes.py not importable: {exc}"
    from testkit import mediagen

    media_dir = Path(tempfile.mkdtemp())
    stage_dir = Path(tempfile.mkdtemp())
    files = {
        "image": mediagen.make_png(media_dir / "i.png", 640, 384),
        "audio": mediagen.make_wav(media_dir / "a.wav", 2.0),
        "video": mediagen.make_mp4(media_dir / "v.mp4", 2.0, 64, 64),
    }
    out: dict = {}
    for name, mode in modes.MODES.items():
        params = {"prompt": "a lighthouse at dusk, waves rolling in", "preset": "fast", "seed": 1}
        for field in mode.fields:
            if field.kind in files:
                params[field.name] = str(files[field.kind])
        times = []
        try:
            for _ in range(runs):
                t0 = time.monotonic()
                prepare.job(name, dict(params), input_dir=stage_dir, job_id=uuid.uuid4().hex)
                times.append(time.monotonic() - t0)
        except Exception as exc:  # report, don't hide: a bench must say what it could not measure
            out[name] = f"failed: {type(exc).__name__}: {exc}"
            continue
        out[name] = _median_ms(times)
    shutil.rmtree(stage_dir, ignore_errors=True)
    return out


def _import_seconds(module: str, repeats: int) -> tuple[float, str]:
    code = (
        f"import sys, time; t = time.perf_counter(); import {module}; "
        "print(time.perf_counter() - t, 'torch' in sys.modules, 'comfy' in sys.modules)"
    )
    times, flags = [], ""
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(out[0]))
        flags = f"torch={out[1]} comfy={out[2]}"
    return statistics.median(times), flags


def bench_imports(repeats: int = 5) -> dict:
    gradio_s, _ = _import_seconds("gradio", repeats)
    app_s, flags = _import_seconds("app", repeats)
    return {
        "import_gradio_s": round(gradio_s, 3),
        "import_app_s": round(app_s, 3),
        "app_minus_gradio_s": round(app_s - gradio_s, 3),
        "after_import_app": flags,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_idle_app(timeout: float = 60.0) -> dict:
    port = _free_port()
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        served = None
        while time.monotonic() - started < timeout and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        served = time.monotonic() - started
                        break
            except OSError:
                time.sleep(0.25)
        if served is None:
            return {"failed": f"page did not answer within {timeout:.0f} s (exit {proc.poll()})"}
        time.sleep(2.0)  # let start-up work (bootstrap thread) settle
        rss_kb = 0
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
        return {"page_served_s": round(served, 2), "idle_rss_mb": round(rss_kb / 1024, 1)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-engine", action="store_true")
    parser.add_argument("--skip-app", action="store_true")
    opts = parser.parse_args()
    report: dict = {"python": sys.version.split()[0]}
    if not opts.skip_engine:
        report["engine"] = bench_engine(max(1, opts.runs))
    if not opts.skip_app:
        report["imports"] = bench_imports()
        report["idle_app"] = bench_idle_app()
    text = json.dumps(report, indent=2)
    print(text)
    if opts.json:
        opts.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
