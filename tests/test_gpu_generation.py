"""L4: real generation per mode with real weights. Opt-in: `python -m pytest --gpu` on a GPU
machine with network (for the first download) and the pinned checkout."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import backend
import comfy_engine
import downloads
import models
import modes
import pins
import prepare
from testkit.mediagen import make_mp4, make_png, make_wav
from testkit.modes_helpers import required_values

pytestmark = pytest.mark.gpu

PROMPTS = {
    "t2v": "A red fox trots across fresh snow at dawn, breath visible, birds calling",
    "i2v": "The scene comes alive, leaves sway and light flickers",
    "a2v": "A drummer plays on a dim stage, lights pulsing with the beat",
    "lipsync": "A woman speaks warmly to the camera",
    "keyframe": "The camera glides smoothly from the first view to the last",
    "style": "A watercolour painting, soft washes of colour",
    "extend": "The scene carries on, the camera still gliding forward",
    "retake": "A bird flies through the frame, calling",
}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {
        "image": make_png(d / "face.png", 768, 512),
        "last": make_png(d / "last.png", 768, 512, color=(30, 90, 200)),
        "audio": make_wav(d / "speech.wav", seconds=3.0),
        "video": make_mp4(d / "clip.mp4", seconds=2.0, width=256, height=256, fps=24),
    }


def _params(mode: str, media: dict) -> dict:
    params = {"prompt": PROMPTS[mode], "preset": "fast", "seed": 1234, **required_values(mode)}
    for field in modes.MODES[mode].fields:
        if not field.required:  # the optional keyframes: a job of the required inputs
            continue
        if field.kind == "image":
            params[field.name] = str(media["last" if field.name == "last_image" else "image"])
        elif field.kind in ("audio", "video"):
            params[field.name] = str(media[field.kind])
    return params


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_gpu_generates_video_with_audio(mode, media):
    import av

    problems = comfy_engine.checkout_problems(pins.comfy_dir())
    assert not problems, problems
    downloads.ensure_models_for_mode(mode, "fast")
    prepared = prepare.job(
        mode, _params(mode, media), input_dir=pins.input_dir(), job_id=uuid.uuid4().hex
    )
    prompt = models.resolve_variant(prepared.prompt)
    downloads.ensure_models_for_prompt(prompt)
    result = backend.unpack(backend.generate(mode, "fast", prompt, prepared.spec.frames))
    with av.open(result["video"]) as container:
        kinds = {stream.type for stream in container.streams}
        frames = container.streams.video[0].frames
    assert kinds == {"video", "audio"}
    assert Path(result["video"]).stat().st_size > 10_000
    if "frames" in prepared.spec.record():
        assert frames == prepared.spec.frames


def _generate(mode: str, params: dict) -> tuple[prepare.Prepared, str]:
    problems = comfy_engine.checkout_problems(pins.comfy_dir())
    assert not problems, problems
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=uuid.uuid4().hex)
    prompt = models.resolve_variant(prepared.prompt)
    downloads.ensure_models_for_prompt(prompt)
    result = backend.unpack(backend.generate(mode, params["preset"], prompt, prepared.spec.frames))
    return prepared, result["video"]


def test_gpu_four_keyframes_each_land_at_their_time(tmp_path):
    """What random weights cannot show: the decoded frame nearest each keyframe's time is the
    closest of the four to its own image (solid colours, strength 1.0)."""
    import numpy as np

    import splice

    colours = [(220, 40, 40), (40, 200, 60), (40, 80, 220), (230, 220, 40)]
    images = [make_png(tmp_path / f"k{i}.png", 768, 448, c) for i, c in enumerate(colours)]
    times = [0.0, 1.5, 3.0]  # and the last frame, at the end of 121 frames (5 s at 24 fps)
    params = {"prompt": "a smooth colour wash, one colour flowing into the next",
              "preset": "fast", "seed": 1234, "frames": 121, "fps": 24,
              "first_image": str(images[0]), "last_image": str(images[3]),
              "first_strength": 1.0, "last_strength": 1.0,
              "image_2": str(images[1]), "time_2": times[1], "strength_2": 1.0,
              "image_3": str(images[2]), "time_3": times[2], "strength_3": 1.0}  # fmt: skip
    _, video = _generate("keyframe", params)
    frames = np.stack(list(splice.frames(video))).astype(float)
    at = [0, round(times[1] * 24), round(times[2] * 24), len(frames) - 1]
    for index, own in zip(at, range(4), strict=True):
        mean = frames[index].reshape(-1, 3).mean(axis=0)
        distances = [np.abs(mean - np.array(c)).sum() for c in colours]
        assert int(np.argmin(distances)) == own, (index, distances)


def test_gpu_an_extend_continues_without_a_visible_jump(tmp_path):
    """The first new frame after the seam is about as close to the source's last frame as the
    source's own last two frames are to each other (no cut to another picture)."""
    import numpy as np

    import splice

    source = make_mp4(tmp_path / "src.mp4", seconds=3.0, width=768, height=448, fps=24)
    params = {"prompt": "the gradient keeps drifting slowly", "preset": "fast", "seed": 1,
              "video": str(source), "seconds": 2.0, "keep_sound": True}  # fmt: skip
    prepared, made = _generate("extend", params)
    out = modes.MODES["extend"].edit.finish(prepared.spec, source, Path(made))
    frames = np.stack(list(splice.frames(out))).astype(float)
    seam = 72
    step = np.abs(frames[seam] - frames[seam - 1]).mean()
    own = np.abs(frames[seam - 1] - frames[seam - 2]).mean()
    assert step < max(3 * own, 12.0), (step, own)
