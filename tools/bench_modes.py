"""Benchmark every mode x model x preset on the tiny random-weight set, each case in its own
process.

Per case: import time (our modules and torch), engine start (ComfyUI and the packs imported and
initialised), then one cold run (models loaded, prompt encoded) and one warm run (a new seed only)
with their wall and CPU seconds, and the process's peak resident memory. CPU seconds are the
figure to compare on a shared machine; wall seconds depend on what else runs.

    python tools/bench_modes.py [--modes t2v,style] [--family ltx-2.3] [--presets fast,balanced]
                                [--shape preset] [--models .tiny-weights] [--json out.json]

--shape small (default) runs 320x256 and 9 or 17 frames, as the L-exec tests do; --shape preset
runs each preset's own size with 121 frames. Needs the pinned checkout and requirements.txt; the
tiny set is made first when missing (tools/make_tiny_weights.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import modes  # noqa: E402  (light: no torch, no ComfyUI)
import prepare  # noqa: E402

CASES = [
    (mode, model, preset, control)
    for mode, spec in modes.MODES.items()
    for model in spec.models
    for preset in ("fast", "balanced", "quality")
    for control in (("pose", "depth", "canny") if mode == "style" else (None,))
]


def _media(folder: Path, width: int, height: int) -> dict:
    from testkit.mediagen import make_mp4, make_png, make_wav

    return {
        "image": make_png(folder / "first.png", width, height, (200, 120, 40)),
        "first_image": make_png(folder / "first.png", width, height, (200, 120, 40)),
        "last_image": make_png(folder / "last.png", width, height, (30, 90, 200)),
        "audio": make_wav(folder / "voice.wav", seconds=5.0, kind="chirp"),
        "video": make_mp4(folder / "clip.mp4", seconds=5.0, width=width, height=height, fps=24),
    }


def worker(mode: str, model: str, preset: str, control: str | None, shape: str) -> dict:
    """One case, in this process: what it cost from a cold start."""
    started = time.perf_counter()
    import torch  # noqa: F401  (counted as import: every run pays it)

    import comfy_engine
    import models
    import pins

    imported = time.perf_counter()
    engine = comfy_engine.engine()
    engine_started = time.perf_counter()
    spec = modes.MODES[mode]
    small = shape == "small"
    size = (320, 256) if small else (spec.presets[preset].width, spec.presets[preset].height)
    params = {"prompt": "a red fox trots through fresh snow at dawn", "preset": preset, "seed": 1}
    if len(spec.models) > 1:
        params["model"] = model
    names = {f.name for f in spec.fields}
    if small:
        params.update(width=size[0], height=size[1])
    if "frames" in names and "video" not in names:
        params["frames"] = 9 if small else 121
    if control:
        params["control"] = control
    from testkit.modes_helpers import required_values

    params.update(required_values(mode))  # a retake's range
    result: dict = {"mode": mode, "model": model, "preset": preset, "control": control}
    with tempfile.TemporaryDirectory() as tmp:
        media = _media(Path(tmp), *size)
        for f in spec.fields:
            if f.kind in modes.MEDIA_KINDS and f.required:
                params[f.name] = str(media[f.name])
        for run in ("cold", "warm"):
            job = f"bench-{run}-{os.getpid()}"
            prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
            prompt = models.resolve_variant(prepared.prompt, "full")
            wall, cpu = time.perf_counter(), time.process_time()
            out = engine.run(prompt, job_id=job)
            result[f"{run}_wall_s"] = round(time.perf_counter() - wall, 2)
            result[f"{run}_cpu_s"] = round(time.process_time() - cpu, 2)
            for path in out["outputs"]:
                Path(path).unlink(missing_ok=True)
            import media as staging

            staging.unstage(prepared.spec.files, pins.input_dir())
            params["seed"] += 1
        result.update(
            width=prepared.spec.width,
            height=prepared.spec.height,
            frames=prepared.spec.frames,
        )
    result.update(
        import_s=round(imported - started, 2),
        engine_start_s=round(engine_started - imported, 2),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
    return result


def run_case(case: tuple, shape: str, models: Path) -> dict:
    mode, model, preset, control = case
    env = {**os.environ, "LTX_AIO_MODELS_DIR": str(models), "LTX_AIO_TINY_WEIGHTS": "1"}
    argv = [sys.executable, __file__, "--worker", mode, model, preset, control or "-", shape]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        failed = " | ".join(tail)
        return {"mode": mode, "model": model, "preset": preset, "control": control, "error": failed}
    return json.loads(lines[-1])


COLUMNS = ("mode", "model", "preset", "control", "width", "height", "frames", "import_s",
           "engine_start_s", "cold_wall_s", "cold_cpu_s", "warm_wall_s", "warm_cpu_s",
           "peak_rss_mb")  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = [" ".join(f"{c:>14}" for c in COLUMNS)]
    for row in rows:
        if "error" in row:
            case = f"{row['mode']:>14} {row['model']:>14} {row['preset']:>14}"
            lines.append(f"{case} failed: {row['error']}")
            continue
        lines.append(" ".join(f"{str(row.get(c) or '-'):>14}" for c in COLUMNS))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        mode, model, preset, control, shape = argv[1:6]
        print(json.dumps(worker(mode, model, preset, None if control == "-" else control, shape)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--modes", default="", help="comma list (default: every mode)")
    ap.add_argument("--family", default="", help="comma list of models (default: each mode's all)")
    ap.add_argument("--presets", default="fast,balanced", help="comma list")
    ap.add_argument("--shape", choices=("small", "preset"), default="small")
    ap.add_argument("--models", type=Path, default=ROOT / ".tiny-weights")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    chosen = set(filter(None, args.modes.split(","))) or {c[0] for c in CASES}
    presets = set(filter(None, args.presets.split(",")))
    families = set(filter(None, args.family.split(","))) or {c[1] for c in CASES}
    maker = ROOT / "tools" / "make_tiny_weights.py"
    subprocess.run([sys.executable, str(maker), str(args.models)], check=True)
    rows = []
    for case in CASES:
        if case[0] in chosen and case[1] in families and case[2] in presets:
            rows.append(run_case(case, args.shape, args.models.resolve()))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
