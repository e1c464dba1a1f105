"""How much transformer work each sampling step does, per model family and preset, before and after
the samplers of recipes.py.

At CFG 1 ComfyUI evaluates only the positive prompt, unless the sampler disables that shortcut
(the cfg-pp samplers do): then every step evaluates the negative prompt too. This benchmark runs
t2v's whole graph on the tiny random-weight set in this process, counting at ComfyUI's
`comfy.samplers.calc_cond_batch` how many conditionings each step hands the transformer and how
many transformer calls that makes, and timing the sampling passes. "before" runs the samplers the
graphs had (LTX-2.3: euler_ancestral_cfg_pp then euler_cfg_pp in every preset; LTX-2.5:
euler_ancestral in both passes), "after" the ones recipes.py chooses now (its settings, such as
LTX_AIO_LTX23_QUALITY_SAMPLERS, apply).

    python tools/bench_sampling.py [--family ltx-2.3] [--presets fast,balanced,quality]
                                   [--frames 9] [--repeat 2] [--json out.json]

Needs the pinned checkout (bootstrap.py) and the tiny set (tools/make_tiny_weights.py); sizes are
the L-exec tests' (320x256). The counts do not depend on the weights; the seconds are CPU seconds
of tiny models, to compare before with after, not a GPU's.
"""

from __future__ import annotations

import argparse
import contextlib
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

import recipes  # noqa: E402

BEFORE = {recipes.LTX23: ("euler_ancestral_cfg_pp", "euler_cfg_pp"),
          recipes.LTX25: ("euler_ancestral", "euler_ancestral")}  # fmt: skip
SEEDS = itertools.count(1)


@contextlib.contextmanager
def count_evaluations():
    """Counts, while open, each call of ComfyUI's calc_cond_batch (one per model evaluation, that
    is one per step of the Euler samplers): the conditionings it was given (None: skipped by the
    CFG-1 shortcut) and the seconds spent inside the guiders' sampling. Yields the tally."""
    import comfy.samplers

    tally = {"evaluations": 0, "conditionings": 0, "sampling_s": 0.0, "passes": 0}
    calc, outer = comfy.samplers.calc_cond_batch, comfy.samplers.CFGGuider.outer_sample

    def counting_calc(model, conds, *args, **kwargs):
        tally["evaluations"] += 1
        tally["conditionings"] += sum(1 for c in conds if c is not None)
        return calc(model, conds, *args, **kwargs)

    def timed_outer(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return outer(self, *args, **kwargs)
        finally:
            tally["sampling_s"] += time.perf_counter() - started
            tally["passes"] += 1

    comfy.samplers.calc_cond_batch = counting_calc
    comfy.samplers.CFGGuider.outer_sample = timed_outer
    try:
        yield tally
    finally:
        comfy.samplers.calc_cond_batch = calc
        comfy.samplers.CFGGuider.outer_sample = outer


def set_samplers(prompt: dict, samplers) -> None:
    for stage, name in enumerate(samplers, start=1):
        for node in prompt.values():
            if (node.get("_meta") or {}).get("title") == f"Sampler {stage}":
                node["inputs"]["sampler_name"] = name


def measure(engine, family: str, preset: str, variant: str, frames: int) -> dict:
    """One run; a new seed each time, so ComfyUI's cache cannot skip the sampling."""
    import models
    import pins
    import prepare
    from media import unstage

    params = {"prompt": "a red fox trots through snow", "preset": preset, "seed": next(SEEDS),
              "width": 320, "height": 256, "frames": frames, "model": family}  # fmt: skip
    job = f"bench-{uuid.uuid4().hex[:12]}"
    prepared = prepare.job("t2v", params, input_dir=pins.input_dir(), job_id=job)
    prompt = models.resolve_variant(prepared.prompt, "full")
    if variant == "before":
        set_samplers(prompt, BEFORE[family])
    samplers = [
        n["inputs"]["sampler_name"] for n in prompt.values() if n["class_type"] == "KSamplerSelect"
    ]
    try:
        with count_evaluations() as tally:
            out = engine.run(prompt, job_id=job)
    finally:
        unstage((prepared.spec.files or {}), pins.input_dir())
    for path in out.get("outputs") or ():
        Path(path).unlink(missing_ok=True)
    per_step = tally["conditionings"] / max(1, tally["evaluations"])
    return {
        "family": family, "preset": preset, "variant": variant, "samplers": samplers,
        "passes": tally["passes"], "steps": tally["evaluations"],
        "conditionings_per_step": round(per_step, 2), "sampling_s": round(tally["sampling_s"], 3),
    }  # fmt: skip


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--family", default=f"{recipes.LTX23},{recipes.LTX25}")
    ap.add_argument("--presets", default="fast,balanced,quality")
    ap.add_argument("--frames", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    weights = ROOT / ".tiny-weights"
    os.environ.setdefault("LTX_AIO_MODELS_DIR", str(weights))
    os.environ.setdefault("LTX_AIO_TINY_WEIGHTS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LTX_AIO_DATA_DIR", tempfile.mkdtemp(prefix="bench-sampling-"))
    import comfy_engine

    engine = comfy_engine.engine()
    rows = []
    for family in args.family.split(","):
        measure(engine, family, "fast", "after", args.frames)  # load the family's models once
        for preset in args.presets.split(","):
            for variant in ("before", "after"):
                runs = [
                    measure(engine, family, preset, variant, args.frames)
                    for _ in range(args.repeat)
                ]
                rows.append(min(runs, key=lambda r: r["sampling_s"]))
                print(json.dumps(rows[-1]), flush=True)
    print()
    print(
        "| family | preset | before: samplers, conditionings/step, sampling s "
        "| after: samplers, conditionings/step, sampling s | transformer work after/before |"
    )
    print("|---|---|---|---|---|")
    for before, after in zip(rows[::2], rows[1::2], strict=True):
        work = (after["conditionings_per_step"] * after["steps"]) / max(
            1e-9, before["conditionings_per_step"] * before["steps"]
        )
        said = [
            f"{' + '.join(r['samplers'])}, {r['conditionings_per_step']:g}, {r['sampling_s']:.2f}"
            for r in (before, after)
        ]
        print(f"| {before['family']} | {before['preset']} | {said[0]} | {said[1]} | {work:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
