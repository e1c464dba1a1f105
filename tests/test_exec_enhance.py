"""L-exec: the prompt enhancer (enhance.py) run whole by the app's engine on the tiny weights.

On random weights the rewrite is noise, so the checks are about the plumbing: ComfyUI's
TextGenerateLTX2Prompt really generates on each family's text encoder (with the mode's image
where it has one), the rewrite is what the generation graph's text encoder is given, the text
encoder the enhancer loaded is the one generation uses, and a seed-only rerun runs neither the
enhancer nor any loader or text encode again.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pytest
from conftest import tiny_env

import enhance
import models
import modes
import pins
import prepare
import workflow
from testkit.mediagen import make_png

pytestmark = pytest.mark.comfy

LOADERS = {"CheckpointLoaderSimple", "LTXVAudioVAELoader", "LTXAVTextEncoderLoader",
           "LoraLoaderModelOnly", "LatentUpscaleModelLoader", "UNETLoader", "VAELoader",
           "CLIPLoader", "ModelPatchLoader"}  # fmt: skip
CASES = [(mode, model) for mode in ("t2v", "i2v") for model in modes.MODES[mode].models]


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return make_png(tmp_path_factory.mktemp("enhance") / "first.png", 320, 256, (200, 120, 40))


@pytest.fixture(autouse=True)
def on_the_tiny_set(tiny_models, monkeypatch):
    """The app's settings while each test runs (the enhancer finds its files, and the tiny set's
    token cap, in the models folder they name), as the app has them."""
    for name, value in tiny_env(tiny_models).items():
        monkeypatch.setenv(name, value)


@contextlib.contextmanager
def encoded_texts():
    """While open: every text the generation graph's CLIPTextEncode nodes encode."""
    import nodes  # ComfyUI's: the class the engine really runs

    cls = nodes.NODE_CLASS_MAPPINGS["CLIPTextEncode"]
    encode = cls.encode
    seen: list[str] = []

    def watching(self, clip, text):
        seen.append(text)
        return encode(self, clip, text)

    cls.encode = watching
    try:
        yield seen
    finally:
        cls.encode = encode


def job(mode: str, model: str, image: Path, **values) -> prepare.Prepared:
    params = {"prompt": "a red fox trots through snow", "preset": "fast", "seed": 7,
              "width": 320, "height": 256, "frames": 9, "model": model,
              "enhance_prompt": True, **values}  # fmt: skip
    if mode == "i2v":
        params["image"] = str(image)
    return prepare.job(
        mode, params, input_dir=pins.input_dir(), job_id=f"enh-{uuid.uuid4().hex[:8]}"
    )


def run_enhanced(engine, prepared: prepare.Prepared, outputs: list) -> tuple[dict, bool, dict]:
    """The job's part as jobs.py runs it: enhanced, its graph filled again, generated."""
    try:
        cached = enhance.apply(prepared.spec)
        enhancer = (list(engine.executed), list(engine.cached))
        prompt = modes.MODES[prepared.spec.mode].parameterize(prepared.spec)
        result = engine.run(models.resolve_variant(prompt, "full"))
        outputs.extend(result["outputs"])
        return prompt, cached, {"enhancer": enhancer}
    finally:
        from media import unstage

        unstage(prepared.spec.files, pins.input_dir())


@pytest.mark.parametrize(("mode", "model"), CASES, ids=[f"{m}-{f}" for m, f in CASES])
def test_the_rewrite_reaches_the_text_encoder_and_a_new_seed_runs_nothing_again(
    mode, model, image, real_engine, outputs
):
    enhance.CACHE.clear()
    first = job(mode, model, image)
    with encoded_texts() as seen:
        prompt, cached, said = run_enhanced(real_engine, first, outputs)
    rewrite = first.spec.inputs["enhanced_prompt"]
    assert not cached and rewrite.strip() and rewrite != first.spec.inputs["prompt"]
    ran, _ = said["enhancer"]
    # The enhancer really generated, and read the image where the mode has one.
    assert node_id(model, "Enhance prompt") in ran
    assert (node_id(model, "Load image") in ran) == (mode == "i2v")
    suffix = first.spec.inputs.get("prompt_suffix") or ""
    assert f"{rewrite} {suffix}".strip() in seen  # the rewrite is what the model is given
    # The text encoder the enhancer loaded is the one generation used: served from the cache.
    encoder = "CLIPLoader" if model == modes.LTX25 else "LTXAVTextEncoderLoader"
    assert encoder in {prompt[n]["class_type"] for n in real_engine.cached if n in prompt}

    second = job(mode, model, image, seed=8)
    with encoded_texts() as seen_again:
        prompt, cached, _ = run_enhanced(real_engine, second, outputs)
    assert cached and second.spec.inputs["enhanced_prompt"] == rewrite
    executed = {prompt[n]["class_type"] for n in real_engine.executed if n in prompt}
    assert not executed & (LOADERS | {"CLIPTextEncode", "TextGenerateLTX2Prompt"}), executed
    assert not seen_again
    assert "SamplerCustomAdvanced" in executed


def node_id(model: str, title: str) -> str:
    """The id of the enhancer graph's node `title` (the graph keeps its template's ids)."""
    return workflow.find_node(enhance.graph(model, "x", "x.png"), title)[0]
