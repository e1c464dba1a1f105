"""Time every mode at its presets' real sizes on a GPU machine with no network.

Here (with network to PyPI and ../shared/pins beside the checkout):
    python tools/gpu_timing.py pack      # .gpu-carry/part1 and part2: each < 64 MiB with the tree
There (a GPU machine whose Python has torch, e.g. the device tool's H200), two calls in a row
while the machine stays up (ComfyUI v0.33's comfy-kitchen alone is 58 MB, PyAV 41 MB: together
they do not fit in one 64 MiB call):
    carry .gpu-carry/part1:  python3 tools/gpu_timing.py install .gpu-carry/part1
    carry .gpu-carry/part2:  python3 tools/gpu_timing.py run [--budget-s 480] [--modes t2v,i2v]
                             python3 tools/gpu_timing.py run --ab   # both sides of each choice

`run` installs part 2 beside part 1 in /tmp/site, the pins from the carried archives into
/tmp/comfyui, writes the REAL-size random model sets (LTX-2.3, and LTX-2.5 with the 2.3 family's
transformer config and ComfyUI's default decoder config) as sparse files (large tensors are file
holes that read as zeros: seconds to write, almost no disk; kernel speed does not depend on the
values), then runs each mode x model x preset twice through the app's own engine (cold: models
loaded; warm: a new seed only) at the preset's size and 121 frames, and writes
$OUT/gpu_timing.json (or ./) with wall seconds, CUDA peak memory and the device's name. Cases still
waiting when the time budget is spent are reported as not run. The style mode needs
comfyui_controlnet_aux (18 MB), which does not fit beside the wheels, so it is not timed.
ltx-pipelines 1.0.0 reads Gemma 3 in Hugging Face layout, which this offline set does not make, so
`run` says that instead of timing it.

`run --ab` times, instead, both sides of each choice where the official sources disagree
(recipes.py): LTX-2.3 at balanced with the samplers it had (cfg-pp) against today's (Euler), at
quality with LTX_AIO_LTX23_QUALITY_SAMPLERS cfg_pp against euler, LTX-2.5's refine with
LTX_AIO_LTX25_REFINE_SAMPLER euler against euler_ancestral, and style's depth with
LTX_AIO_STYLE_DEPTH moge against depth_anything_v2 (that side needs comfyui_controlnet_aux, which
this carry leaves out: it says so instead); each side's mp4 is kept in $OUT/ab/ beside the
timings, to compare by eye once the real weights are there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARRY = ROOT / ".gpu-carry"
SITE = Path("/tmp/site")
LIMIT_BYTES = 64 * 1024 * 1024  # what the device tool lets travel, working tree included
# What the GPU image lacks of requirements.txt for ComfyUI v0.33 + the GGUF pack, Python 3.12.
PART1 = ["comfy-kitchen==0.2.31"]
PART2 = [
    "av==16.1.0", "comfy-aimdo==0.4.13", "SQLAlchemy==2.1.9", "alembic==1.20.1", "Mako==1.4.3",
    "torchsde==0.2.6", "trampoline==0.1.2", "spandrel==0.4.2", "simpleeval==1.0.8",
    "blake3==1.0.11", "gguf==0.19.0", "pydantic==2.12.5", "pydantic-core==2.41.5",
    "pydantic-settings==2.16.3", "typing-inspection==0.4.5", "annotated-types==0.8.0",
    "python-dotenv==1.2.4",
]  # fmt: skip
PLATFORMS = [
    "manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64", "any",
]  # fmt: skip
CASES = [("t2v", "ltx-2.5"), ("t2v", "ltx-2.3"), ("i2v", "ltx-2.5"), ("i2v", "ltx-2.3"),
         ("keyframe", "ltx-2.5"), ("keyframe", "ltx-2.3"), ("a2v", "ltx-2.3"),
         ("lipsync", "ltx-2.3")]  # fmt: skip
FRAMES = 121
# (label, mode, model, preset, environment, samplers forced on the graph or None): the A/B pairs.
AB = [
    ("ltx23-balanced-cfg_pp", "t2v", "ltx-2.3", "balanced", {},
     ("euler_ancestral_cfg_pp", "euler_cfg_pp")),
    ("ltx23-balanced-euler", "t2v", "ltx-2.3", "balanced", {}, None),
    ("ltx23-quality-cfg_pp", "t2v", "ltx-2.3", "quality",
     {"LTX_AIO_LTX23_QUALITY_SAMPLERS": "cfg_pp"}, None),
    ("ltx23-quality-euler", "t2v", "ltx-2.3", "quality",
     {"LTX_AIO_LTX23_QUALITY_SAMPLERS": "euler"}, None),
    ("ltx25-refine-euler", "t2v", "ltx-2.5", "quality",
     {"LTX_AIO_LTX25_REFINE_SAMPLER": "euler"}, None),
    ("ltx25-refine-euler_ancestral", "t2v", "ltx-2.5", "quality",
     {"LTX_AIO_LTX25_REFINE_SAMPLER": "euler_ancestral"}, None),
    # The style depth model: MoGe runs on core nodes; Depth Anything V2 needs
    # comfyui_controlnet_aux, which this carry leaves out (that side then says so).
    ("style-depth-moge", "style", "ltx-2.3", "balanced", {"LTX_AIO_STYLE_DEPTH": "moge"}, None),
    ("style-depth-depth_anything_v2", "style", "ltx-2.3", "balanced",
     {"LTX_AIO_STYLE_DEPTH": "depth_anything_v2"}, None),
]  # fmt: skip
NEEDS_PACK = {"style-depth-depth_anything_v2": "comfyui_controlnet_aux"}


def _download(wheels: list[str], folder: Path) -> None:
    folder.mkdir(parents=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--implementation", "cp", *platforms,
         "-d", str(folder), *wheels],
        check=True,
    )  # fmt: skip


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def pack(archives: Path) -> int:
    sys.path.insert(0, str(ROOT))
    import pins

    shutil.rmtree(CARRY, ignore_errors=True)
    _download(PART1, CARRY / "part1" / "wheels")
    _download(PART2, CARRY / "part2" / "wheels")
    (CARRY / "part2" / "pins").mkdir()
    for pin in pins.needed_pins():
        if pin.name != "comfyui_controlnet_aux":
            shutil.copy2(archives / pin.archive_name, CARRY / "part2" / "pins" / pin.archive_name)
    tree = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    tracked = sum((ROOT / n).stat().st_size for n in tree.stdout.decode().split("\0") if n)
    fits = True
    for part in ("part1", "part2"):
        total = _size(CARRY / part) + tracked
        print(f".gpu-carry/{part}: with the tree {total / 2**20:.1f} of 64 MiB")
        fits &= total <= LIMIT_BYTES
    if not fits:
        print("too large to travel: leave something out", file=sys.stderr)
        return 1
    print("then there: `install .gpu-carry/part1` (carry it), then `run` (carry part2)")
    return 0


def install(part: Path) -> None:
    wheels = sorted(str(p) for p in (part / "wheels").glob("*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
         "--no-cache-dir", "--upgrade", "--target", str(SITE), *wheels],
        check=True,
    )  # fmt: skip
    sys.path.insert(0, str(SITE))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(SITE), os.environ.get("PYTHONPATH")])
    )


def _case(
    engine, mode: str, model: str, preset: str, media: dict, frames: int,
    samplers=None, keep: Path | None = None,
) -> dict:  # fmt: skip
    """Two runs of one case (cold, warm). `samplers` forces the graph's KSamplerSelect names by
    pass; `keep` is where the warm run's mp4 is copied (else every output is deleted)."""
    import torch

    import models
    import modes
    import pins
    import prepare

    params = {"prompt": "a red fox trots through fresh snow at dawn, birds calling",
              "preset": preset, "seed": 1, "model": model}  # fmt: skip
    fields = {f.name: f for f in modes.MODES[mode].fields}
    if "frames" in fields:
        params["frames"] = frames
    for name, f in fields.items():
        if f.kind in modes.MEDIA_KINDS and f.required:
            params[name] = str(media[name])
    row = {"mode": mode, "model": model, "preset": preset}
    for run in ("cold", "warm"):
        job = f"gpu-{mode}-{model}-{preset}-{run}"
        prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
        prompt = models.resolve_variant(prepared.prompt, "full")
        for stage, name in enumerate(samplers or (), start=1):
            for node in prompt.values():
                if node.get("_meta", {}).get("title") == f"Sampler {stage}":
                    node["inputs"]["sampler_name"] = name
        row["samplers"] = [n["inputs"]["sampler_name"] for n in prompt.values()
                           if n["class_type"] == "KSamplerSelect"]  # fmt: skip
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        started = time.perf_counter()
        out = engine.run(prompt, job_id=job)
        if cuda:
            torch.cuda.synchronize()
            row[f"{run}_peak_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 1)
        row[f"{run}_s"] = round(time.perf_counter() - started, 2)
        row.update(size=f"{prepared.spec.width}x{prepared.spec.height}",
                   frames=prepared.spec.frames)  # fmt: skip
        if keep is not None and run == "warm":
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out["video"], keep)
        for path in out["outputs"]:
            Path(path).unlink(missing_ok=True)
        params["seed"] += 1
    return row


def _without_pack(pack: str) -> None:
    """The engine refuses to start while a graph's node class is missing; the style graph's come
    from a pack this run does not carry (so style is not timed): leave them out of that check."""
    import pins

    every, modules = pins.workflow_class_types, pins.class_modules()

    def carried(workflows_dir=pins.WORKFLOWS_DIR) -> set[str]:
        packs = {cls: pins.pack_of(modules.get(cls, "")) for cls in every(workflows_dir)}
        return {cls for cls, pin in packs.items() if pin is None or pin.name != pack}

    pins.workflow_class_types = carried


def run(args) -> int:
    out_dir = Path(os.environ.get("OUT") or ".")
    report: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": []}
    deadline = time.monotonic() + args.budget_s
    # A rehearsal runs the same steps here, on the CPU, with the tiny set and 9 frames.
    size, frames, work = ("tiny", 9, Path("/tmp/gpu-rehearsal")) if args.rehearse else (
        "real", FRAMES, Path("/tmp"))  # fmt: skip
    if not args.rehearse:
        if not (SITE / "comfy_kitchen").is_dir():
            print("run `install .gpu-carry/part1` first (carrying it), then this", file=sys.stderr)
            return 2
        install(CARRY / "part2")
    weights = work / f"{size}-weights"
    os.environ.update(
        LTX_AIO_COMFYUI_DIR=str(work / "comfyui"), LTX_AIO_MODELS_DIR=str(weights),
        LTX_AIO_TINY_WEIGHTS="1", HF_HUB_OFFLINE="1",
    )  # fmt: skip
    sys.path.insert(0, str(ROOT))
    import bootstrap
    import pins

    wanted = [p for p in pins.needed_pins() if p.name != "comfyui_controlnet_aux"]
    _without_pack("comfyui_controlnet_aux")
    archives = CARRY / "part2" / "pins" if not args.rehearse else ROOT.parent / "shared" / "pins"
    state = bootstrap.ensure(archives=archives, pins=wanted)
    report["bootstrap"] = state["phase"], state["problems"]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_tiny_weights.py"), str(weights),
         "--size", size, "--skip", "controlnet_aux",  # the pack is not installed: no style
         *(["--sparse-above", "1000000"] if size == "real" else [])],
        check=True,
    )  # fmt: skip
    report["weights_s"] = round(time.perf_counter() - started, 1)
    import torch

    import comfy_engine
    from testkit.mediagen import make_mp4, make_png, make_wav

    report["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    engine = comfy_engine.engine()
    report["engine_start_s"] = round(time.perf_counter() - started, 1)
    folder = work / "gpu-media"
    folder.mkdir(exist_ok=True)
    first = make_png(folder / "first.png", 1280, 720)
    media = {
        "image": first,
        "first_image": first,
        "last_image": make_png(folder / "last.png", 1280, 720, (30, 90, 200)),
        "audio": make_wav(folder / "speech.wav", seconds=5.1, kind="chirp"),
    }
    if args.ab:
        # A source for style's A/B: a distinct clip per run would keep ComfyUI from caching
        # the depth nodes of the warm run; the cold row is the depth model's figure.
        media["video"] = make_mp4(folder / "source.mp4", seconds=5.0, width=1024, height=576,
                                  fps=24)  # fmt: skip
        return _ab(engine, media, frames, out_dir, deadline, report)
    chosen = set(args.modes.split(","))
    for mode, model in [case for case in CASES if case[0] in chosen]:
        for preset in args.presets.split(","):
            row = {"mode": mode, "model": model, "preset": preset}
            if time.monotonic() > deadline:
                report["rows"].append({**row, "skipped": "time budget"})
                continue
            try:
                report["rows"].append(_case(engine, mode, model, preset, media, frames))
            except Exception as exc:  # one case failing must not lose the others' figures
                report["rows"].append({**row, "error": repr(exc)})
            print(json.dumps(report["rows"][-1]), flush=True)
            (out_dir / "gpu_timing.json").write_text(json.dumps(report, indent=1))
    report["ltx_pipelines"] = (
        "skipped: ltx-pipelines reads Gemma 3 in Hugging Face layout (config, tokenizer, "
        "weights), which this offline set does not make"
    )
    (out_dir / "gpu_timing.json").write_text(json.dumps(report, indent=1))
    return 0 if not any("error" in r for r in report["rows"]) else 1


def _ab(engine, media: dict, frames: int, out_dir: Path, deadline: float, report: dict) -> int:
    """Both sides of each choice (AB), each side's warm mp4 kept in out_dir/ab/."""
    import pins

    installed = {pin.name for pin in pins.needed_pins() if pins.is_installed(pin)}
    for label, mode, model, preset, env, samplers in AB:
        row = {"ab": label, "mode": mode, "model": model, "preset": preset, "env": env}
        if time.monotonic() > deadline:
            row["skipped"] = "time budget"
        elif NEEDS_PACK.get(label, "") and NEEDS_PACK[label] not in installed:
            row["skipped"] = f"{NEEDS_PACK[label]} is not installed"
        else:
            saved = {name: os.environ.get(name) for name in env}
            os.environ.update(env)
            try:
                keep = out_dir / "ab" / f"{label}.mp4"
                row.update(_case(engine, mode, model, preset, media, frames, samplers, keep))
            except Exception as exc:  # one side failing must not lose the others' figures
                row["error"] = repr(exc)
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
        (out_dir / "gpu_timing.json").write_text(json.dumps(report, indent=1))
    return 0 if not any("error" in r for r in report["rows"]) else 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="here: wheels + pin archives into .gpu-carry/part1, part2")
    p.add_argument("--pins", type=Path, default=ROOT.parent / "shared" / "pins")
    i = sub.add_parser("install", help="there, first: install one carried part into /tmp/site")
    i.add_argument("part", type=Path)
    r = sub.add_parser("run", help="there, second: make the real-size sets, time every mode")
    r.add_argument("--modes", default=",".join(sorted({mode for mode, _ in CASES})))
    r.add_argument("--presets", default="fast,balanced,quality")
    r.add_argument("--budget-s", type=float, default=480.0)
    r.add_argument("--rehearse", action="store_true", help="here, on the CPU: tiny set, 9 frames")
    r.add_argument("--ab", action="store_true", help="both sides of each recipe choice instead")
    args = ap.parse_args(argv)
    if args.command == "install":
        install(args.part.resolve())
        print(f"installed {args.part} into {SITE}")
        return 0
    return pack(args.pins) if args.command == "pack" else run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
