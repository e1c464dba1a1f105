"""L-exec: the video edits (extend, retake) run whole on the tiny set, and what they hand back.

The tiny weights are random, so what the model makes is noise; what is checked is what the edit
promises around it. Extend: the result lasts the source plus the seconds asked (to the frame),
its first part is the source's frames and sound, and it has sound throughout. Retake: frames and
sound outside the range are the source's, inside they are new. And that the masks hold inside
the engine: the kept sound of the engine's own clip is the same whatever the seed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

import models
import modes
import pins
import prepare
import splice
from testkit.mediagen import make_mp4

pytestmark = pytest.mark.comfy

FPS = 24
PIXEL_TOLERANCE = 4.0  # mean absolute difference (0..255) a re-encode may leave in a frame
CHANGED = 12.0  # a frame the model made differs from the source's by more than this


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two seconds with a moving picture and a chirp throughout (no silent stretch)."""
    d = tmp_path_factory.mktemp("edit-media")
    return make_mp4(d / "source.mp4", seconds=2.0, width=320, height=256, fps=FPS, kind="chirp")


def run_edit(engine, mode: str, source: Path, made: list, *, finish: bool = True, **values):
    params = {"prompt": "a fox in the snow", "preset": "fast", "seed": 7, "width": 320,
              "height": 256, "video": str(source), "model": modes.LTX23, **values}  # fmt: skip
    job = f"edit-{uuid.uuid4().hex[:10]}"
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
    try:
        result = engine.run(models.resolve_variant(prepared.prompt, "full"))
    finally:
        from media import unstage

        unstage(prepared.spec.files, pins.input_dir())
    video = Path(result["video"])
    made.append(video)
    if finish:
        video = modes.MODES[mode].edit.finish(prepared.spec, source, video)
        made.append(video)
    return prepared.spec, video


def pictures(path: Path) -> np.ndarray:
    return np.stack(list(splice.frames(path))).astype(np.float32)


def frame_diffs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).mean(axis=(1, 2, 3))


def rms(samples: np.ndarray, seconds: float = 0.25) -> list[float]:
    step = round(seconds * splice.RATE)
    return [float(np.sqrt((samples[:, i : i + step] ** 2).mean()))
            for i in range(0, samples.shape[1] - step + 1, step)]  # fmt: skip


def sound_diff(a: np.ndarray, b: np.ndarray, start_s: float, end_s: float) -> float:
    i, j = round(start_s * splice.RATE), round(end_s * splice.RATE)
    return float(np.abs(a[:, i:j] - b[:, i:j]).mean())


@pytest.mark.parametrize("model", [modes.LTX23, modes.LTX25])
def test_extend_lasts_the_source_plus_the_seconds_and_starts_as_the_source(
    model, clip, real_engine, outputs
):
    preset = "fast" if model == modes.LTX23 else "balanced"  # one pass, and two
    spec, out = run_edit(
        real_engine,
        "extend",
        clip,
        outputs,
        seconds=1.0,
        context_frames=9,
        model=model,
        preset=preset,
    )
    source = splice.probe(clip)
    result = splice.probe(out)
    # 1.0 s at 24 fps is 24 new frames: the result lasts the source plus 1 s, to the frame.
    assert result.frames == source.frames + 24
    assert abs(result.seconds - (source.seconds + 1.0)) <= 1 / FPS
    assert (result.width, result.height, result.fps) == (source.width, source.height, source.fps)
    assert spec.edit["new_frames"] == 24 and spec.edit["context"] == 9
    # The first part is the source, frame by frame (a re-encode apart) ...
    ours, theirs = pictures(out), pictures(clip)
    assert frame_diffs(ours[: source.frames], theirs).max() < PIXEL_TOLERANCE
    # ... and its sound, sample by sample, up to the crossfade into the new part.
    mine, original = splice.sound(out), splice.sound(clip, source.seconds)
    assert sound_diff(mine, original, 0.05, source.seconds - 0.1) < 0.02
    # Sound throughout, the new part included: no silent quarter second.
    assert min(rms(mine)) > 0.01
    assert mine.shape[1] / splice.RATE >= result.seconds - 0.05


def test_retake_keeps_everything_outside_the_range_and_remakes_the_range(
    clip, real_engine, outputs
):
    spec, out = run_edit(real_engine, "retake", clip, outputs, start=0.75, end=1.25)
    plan = spec.edit
    assert (plan["start_frame"], plan["end_frame"]) == (18, 30)
    assert splice.probe(out).frames == splice.probe(clip).frames
    ours, theirs = pictures(out), pictures(clip)
    diffs = frame_diffs(ours, theirs)
    outside = np.r_[diffs[:18], diffs[30:]]
    assert outside.max() < PIXEL_TOLERANCE
    assert diffs[18:30].min() > CHANGED
    mine, original = splice.sound(out), splice.sound(clip, 2.0)
    assert sound_diff(mine, original, 0.05, 0.7) < 0.02
    assert sound_diff(mine, original, 1.3, 1.95) < 0.02
    assert sound_diff(mine, original, 0.8, 1.2) > 0.05  # the range got new sound


def sampled_latents(engine, mode: str, source: Path, made: list, **values) -> tuple:
    """The job's first pass as sampled: (spec, video latent, audio latent), saved beside the
    video by two SaveLatent nodes added to its graph (one pass: the fast preset)."""
    params = {"prompt": "a fox in the snow", "preset": "fast", "width": 320, "height": 256,
              "video": str(source), "model": modes.LTX23, **values}  # fmt: skip
    job = f"latent-{uuid.uuid4().hex[:10]}"
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
    prompt = models.resolve_variant(prepared.prompt, "full")
    separate = next(k for k, n in prompt.items() if n["_meta"]["title"] == "Separate AV 1")
    for slot, name in enumerate(("video", "audio")):
        prompt[f"latent-{name}"] = {"class_type": "SaveLatent", "_meta": {"title": name},
                                    "inputs": {"samples": [separate, slot],
                                               "filename_prefix": f"{job}/{name}"}}  # fmt: skip
    try:
        made.append(Path(engine.run(prompt)["video"]))
    finally:
        from media import unstage

        unstage(prepared.spec.files, pins.input_dir())
    import safetensors.torch

    out = []
    for name in ("video", "audio"):
        (path,) = (pins.output_dir() / job).glob(f"{name}_*.latent")
        made.append(path)
        out.append(safetensors.torch.load_file(str(path))["latent_tensor"].float().numpy())
    return prepared.spec, out[0], out[1]


def latent_diff(a: np.ndarray, b: np.ndarray, first: int, last: int) -> float:
    """Mean absolute difference of latent frames [first, last) (time is axis 2)."""
    return float(np.abs(a[:, :, first:last] - b[:, :, first:last]).mean())


def test_the_masks_keep_what_they_keep_whatever_the_seed(clip, real_engine, outputs):
    """Inside the engine, the first pass keeps the latents its masks keep, exactly (to float
    rounding: latents are scaled in and out) for two seeds, and makes new ones elsewhere:
    extend's context (25 frames: latent frames 0..3, the sound latents of its first second), a
    retake's window outside its range."""
    per_second = 25  # LTX-2.3's audio latents a second (16 kHz, hop 160, x4)
    _, va, aa = sampled_latents(real_engine, "extend", clip, outputs, seconds=1.0, seed=1)
    _, vb, ab = sampled_latents(real_engine, "extend", clip, outputs, seconds=1.0, seed=2)
    assert latent_diff(va, vb, 0, 4) < 1e-5 and latent_diff(va, vb, 4, va.shape[2]) > 0.01
    kept = int(25 / FPS * per_second)  # the context's sound latents
    assert latent_diff(aa, ab, 0, kept) < 1e-5 and latent_diff(aa, ab, kept + 1, aa.shape[2]) > 0.01

    spec, va, aa = sampled_latents(
        real_engine, "retake", clip, outputs, start=0.75, end=1.25, seed=1
    )
    _, vb, ab = sampled_latents(real_engine, "retake", clip, outputs, start=0.75, end=1.25, seed=2)
    plan = spec.edit
    first, last = (
        plan["start_frame"] - plan["window_start"],
        plan["end_frame"] - plan["window_start"],
    )
    v_first, v_last = (first - 1) // 8 + 1, (last - 2) // 8 + 2  # latent frames holding the range
    assert (
        latent_diff(va, vb, 0, v_first) < 1e-5 and latent_diff(va, vb, v_last, va.shape[2]) < 1e-5
    )
    assert latent_diff(va, vb, v_first, v_last) > 0.01
    a_first, a_last = int(first / FPS * per_second), int(np.ceil(last / FPS * per_second))
    assert (
        latent_diff(aa, ab, 0, a_first) < 1e-5 and latent_diff(aa, ab, a_last, aa.shape[2]) < 1e-5
    )
    assert latent_diff(aa, ab, a_first, a_last) > 0.01
