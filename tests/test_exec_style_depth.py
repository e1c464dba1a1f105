"""L-exec: the style graph with Comfy's IC-LoRA template's depth model (LTX_AIO_STYLE_DEPTH=moge),
run whole by the app's engine on the tiny set: ComfyUI core's MoGe-2 loads the set's file (the
real name and key layout, tools/make_tiny_weights.py), reads the restyled frames, and its grey
depth guides the IC-LoRA to an mp4 of the used shape."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import comfy_fixes
import models
import pins
import prepare
import recipes
from testkit.mediagen import make_mp4

pytestmark = pytest.mark.comfy

MOGE_CLASSES = {"LoadMoGeModel", "MoGeInference", "MoGeRender"}
MOGE_FILE = "moge_2_vitl_normal_fp16.safetensors"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("moge-media") / "clip.mp4", seconds=1.0,
                    width=320, height=256, fps=24, kind="chirp")  # fmt: skip


@pytest.fixture
def engine(real_engine):
    # What the app fixes in the pinned ComfyUI (MoGe in fp32 on the CPU), as the engine is to
    # apply it when it starts; applying it again is harmless.
    comfy_fixes.install()
    return real_engine


def streams(path: str) -> dict:
    import av

    with av.open(path) as container:
        video = container.streams.video[0]
        return {
            "codec": video.codec_context.name,
            "frames": sum(1 for _ in container.decode(video=0)),
            "size": (video.codec_context.width, video.codec_context.height),
            "fps": float(video.average_rate),
            "audio": [a.codec_context.name for a in container.streams.audio],
        }


def test_moge_is_held_in_fp32_on_the_cpu_where_pytorch_has_no_fp16_antialiased_resize(engine):
    import comfy.model_management as mm
    import comfy.utils
    import folder_paths
    import torch
    from comfy.ldm.moge.model import MoGeModel

    path = folder_paths.get_full_path_or_raise("geometry_estimation", MOGE_FILE)
    moge = MoGeModel(comfy.utils.load_torch_file(path, safe_load=True))
    if not mm.is_device_cpu(moge.load_device):
        pytest.skip("ComfyUI runs on a GPU here: MoGe keeps its fp16")
    assert moge.dtype == torch.float32
    assert {p.dtype for p in moge.model.parameters()} == {torch.float32}
    out = moge.infer(torch.rand(1, 3, 64, 96), resolution_level=0)
    assert out["depth"].shape == (1, 64, 96)


def test_style_with_moge_depth_runs_whole_to_an_mp4_of_the_used_shape(clip, engine, monkeypatch):
    monkeypatch.setenv(recipes.STYLE_DEPTH.env, "moge")
    params = {"prompt": "a red fox trots through snow", "preset": "fast", "seed": 7,
              "width": 320, "height": 256, "video": str(clip), "control": "depth"}  # fmt: skip
    prepared = prepare.job(
        "style", params, input_dir=pins.input_dir(), job_id=f"moge-{uuid.uuid4().hex[:8]}"
    )
    prompt = models.resolve_variant(prepared.prompt, "full")
    classes = {n["class_type"] for n in prompt.values()}
    assert classes >= MOGE_CLASSES and "DepthAnythingV2Preprocessor" not in classes
    try:
        result = engine.run(prompt)
    finally:
        from media import unstage

        unstage(prepared.spec.files, pins.input_dir())
    try:
        used, got = prepared.spec.record(), streams(result["video"])
        assert used["depth_model"] == "moge"
        assert got["codec"] == "h264" and len(got["audio"]) == 1
        assert got["frames"] == used["frames"]
        assert got["size"] == (used["width"], used["height"])
        assert got["fps"] == pytest.approx(used["fps"])
        ran = set(engine.executed) | set(engine.cached)
        assert ran == set(prompt), f"never ran: {sorted(set(prompt) - ran)}"
    finally:
        for path in result["outputs"]:
            Path(path).unlink(missing_ok=True)
