"""How far the time left a running job shows is from the time it really had left, per stage.

Runs modes' whole graphs on the tiny random-weight set in this process, recording every figure
stages.Tracker reports (the estimator's shares corrected by the measured node and step times)
against the moment the job really ended. For each stage it prints how long the stage took, the
time left said when the stage began against the real time left then, and the mean absolute
error of every figure said during the stage. The first run is cold (weights load), later runs
warm with new seeds (ComfyUI's cache serves the loaders and the prompt).

    python tools/bench_time_left.py [--modes t2v,i2v] [--runs 2] [--frames 9] [--json out.json]

Needs the pinned checkout (bootstrap.py) and the tiny set (tools/make_tiny_weights.py). CPU seconds
of tiny models: the estimator's figures are a GPU's at real size, so the first figures of a run
are far off here and the corrections are what this measures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEEDS = itertools.count(11)


def run_once(engine, mode: str, frames: int, media: dict) -> tuple[list, float, float]:
    """(said, started, ended): each (time, stage label, seconds left said) of one job."""
    import models
    import pins
    import prepare
    import stages
    from media import unstage

    said: list = []
    report = stages.Tracker.report

    def recording(self, now):
        out = report(self, now)
        said.append((now, out.label, out.left_s))
        return out

    params = {"prompt": "a red fox trots through snow", "preset": "fast", "seed": next(SEEDS),
              "width": 320, "height": 256, "frames": frames, **media.get(mode, {})}  # fmt: skip
    job = f"bench-{uuid.uuid4().hex[:12]}"
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
    prompt = models.resolve_variant(prepared.prompt, "full")
    stages.Tracker.report = recording
    started = time.monotonic()
    try:
        out = engine.run(prompt, progress=lambda fraction, desc: None, job_id=job)
    finally:
        ended = time.monotonic()
        stages.Tracker.report = report
        unstage((prepared.spec.files or {}), pins.input_dir())
    for path in out.get("outputs") or ():
        Path(path).unlink(missing_ok=True)
    return said, started, ended


def per_stage(said: list, ended: float) -> list[dict]:
    rows: list[dict] = []
    for now, label, left in said:
        if left is None:
            continue
        actual = ended - now
        if not rows or rows[-1]["stage"] != label:
            rows.append({"stage": label, "from": now, "said_at_start_s": left,
                         "actual_at_start_s": actual, "errors": []})  # fmt: skip
        rows[-1]["errors"].append(abs(left - actual))
        rows[-1]["to"] = now
    for index, row in enumerate(rows):
        until = rows[index + 1]["from"] if index + 1 < len(rows) else ended
        row["took_s"] = until - row.pop("from")
        row.pop("to", None)
        errors = row.pop("errors")
        row["mean_abs_error_s"] = sum(errors) / len(errors)
        row["figures"] = len(errors)
        for key in ("said_at_start_s", "actual_at_start_s", "took_s", "mean_abs_error_s"):
            row[key] = round(row[key], 2)
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--modes", default="t2v,i2v")
    ap.add_argument("--runs", type=int, default=2, help="runs per mode: the first is cold")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    os.environ.setdefault("LTX_AIO_MODELS_DIR", str(ROOT / ".tiny-weights"))
    os.environ.setdefault("LTX_AIO_TINY_WEIGHTS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LTX_AIO_DATA_DIR", tempfile.mkdtemp(prefix="bench-time-left-"))
    from testkit.mediagen import make_png

    image = make_png(Path(tempfile.mkdtemp(prefix="bench-media-")) / "first.png", 320, 256)
    media = {"i2v": {"image": str(image)}}
    import comfy_engine

    engine = comfy_engine.engine()
    results = []
    for mode in args.modes.split(","):
        for number in range(1, args.runs + 1):
            said, started, ended = run_once(engine, mode, args.frames, media)
            rows = per_stage(said, ended)
            results.append({"mode": mode, "run": number, "total_s": round(ended - started, 2),
                            "stages": rows})  # fmt: skip
            print(f"\n{mode} run {number} ({'cold' if number == 1 else 'warm'}): "
                  f"{ended - started:.2f} s")  # fmt: skip
            heads = ("took", "said left", "real left", "mean |err|")
            print(f"  {'stage':<22}" + "".join(f"{h:>11}" for h in heads))
            for row in rows:
                figures = (row["took_s"], row["said_at_start_s"], row["actual_at_start_s"])
                print(f"  {row['stage']:<22}" + "".join(f"{f:>10.2f}s" for f in figures)
                      + f"{row['mean_abs_error_s']:>10.2f}s")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
