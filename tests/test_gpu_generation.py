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
