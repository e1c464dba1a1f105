"""L-exec: every mode's whole prepared graph, run by the app's own engine on the tiny weights.

The tiny random-weight set (tools/make_tiny_weights.py) has the real files' names, formats and
key layouts, so every loader, the text encoder, both sampling passes, the upscaler, the IC-LoRA,
the annotators and both decoders really run; what comes out is noise, so the checks are about the
file: its streams, size, frames and frame rate, and, where the user's sound is kept, that sound;
for keyframes, what the sampler is given of each one (a random model copies none of them).
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

import backend
import models
import modes
import pins
import prepare
import recipes
from errors import AppError
from testkit.app_helpers import PreviewsSeen
from testkit.mediagen import best_match, decode_audio, make_mp4, make_png, make_wav

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from bench_sampling import count_evaluations  # noqa: E402

pytestmark = pytest.mark.comfy

LOADERS = {
    "CheckpointLoaderSimple", "LTXVAudioVAELoader", "LTXAVTextEncoderLoader",
    "LoraLoaderModelOnly", "LatentUpscaleModelLoader", "GetICLoRAParameters",
    "UNETLoader", "VAELoader", "CLIPLoader", "ModelPatchLoader",
}  # fmt: skip
TEXT_ENCODERS = {"CLIPTextEncode"}
KEEPS_SOUND = {"a2v", "lipsync"}

# mode, preset, extra field values: every mode at both preset shapes (one pass; two passes with
# the x2 upscale) on each model family it has, and the style mode with each control and with
# its sound kept.
CASES = [
    (mode, preset, {"model": model}) for mode in ("t2v", "i2v", "a2v", "lipsync", "keyframe")
    for model in modes.MODES[mode].models for preset in ("fast", "balanced")
] + [
    # LTX-2.5's first+last frame reaches quality through the upscaler and a guided refine;
    # LTX-2.3's quality runs the cfg-pp samplers.
    ("keyframe", "quality", {"model": modes.LTX25}),
    ("t2v", "quality", {"model": modes.LTX23}),
    ("style", "fast", {"control": "pose"}),
    ("style", "fast", {"control": "depth"}),
    ("style", "fast", {"control": "canny"}),
    ("style", "balanced", {"control": "canny", "keep_audio": True}),
]  # fmt: skip
IDS = ["-".join([m, p, *map(str, e.values())]) for m, p, e in CASES]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("exec-media")
    return {
        "image": make_png(d / "first.png", 320, 256, (200, 120, 40)),
        "first_image": make_png(d / "first.png", 320, 256, (200, 120, 40)),
        "last_image": make_png(d / "last.png", 320, 256, (30, 90, 200)),
        "audio": make_wav(d / "voice.wav", seconds=1.0, kind="chirp"),
        "video": make_mp4(d / "clip.mp4", seconds=1.0, width=320, height=256, fps=24, kind="chirp"),
    }


def prepared_job(mode: str, preset: str, media: dict, **values) -> prepare.Prepared:
    """The app's own preparation, with the tiny set's small sizes: 320x256, 9 or 17 frames."""
    params = {"prompt": "a red fox trots through snow", "preset": preset, "seed": 7,
              "width": 320, "height": 256, **values}  # fmt: skip
    names = {f.name for f in modes.MODES[mode].fields}
    if "frames" in names and "video" not in names:
        params.setdefault("frames", 9)
    for f in modes.MODES[mode].fields:
        if f.kind in modes.MEDIA_KINDS and f.required:
            params[f.name] = str(media[f.name])
    job = f"exec-{uuid.uuid4().hex[:10]}"
    return prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)


def run(engine, prepared: prepare.Prepared, **kwargs) -> dict:
    try:
        return engine.run(models.resolve_variant(prepared.prompt, "full"), **kwargs)
    finally:
        from media import unstage

        unstage(prepared.spec.files, pins.input_dir())


def streams(path: str) -> dict:
    import av

    with av.open(path) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        return {
            "codec": video.codec_context.name,
            "frames": sum(1 for _ in container.decode(video=0)),
            "size": (video.codec_context.width, video.codec_context.height),
            "fps": float(video.average_rate),
            "audio": [a.codec_context.name for a in audio],
        }


def class_types(prompt: dict, node_ids) -> set[str]:
    return {prompt[n]["class_type"] for n in node_ids if n in prompt}


@pytest.mark.parametrize(("mode", "preset", "extra"), CASES, ids=IDS)
def test_whole_graph_runs_to_an_mp4_with_the_used_shape(
    mode, preset, extra, media, real_engine, outputs
):
    prepared = prepared_job(mode, preset, media, **extra)
    prompt = models.resolve_variant(prepared.prompt, "full")
    result = run(real_engine, prepared)
    outputs.extend(result["outputs"])
    used = prepared.spec.record()
    got = streams(result["video"])
    assert got["codec"] == "h264"
    assert got["frames"] == used["frames"]
    assert got["size"] == (used["width"], used["height"])
    assert got["fps"] == pytest.approx(used["fps"])
    assert len(got["audio"]) == 1
    ran = set(real_engine.executed) | set(real_engine.cached)
    assert ran == set(prompt), f"never ran: {sorted(set(prompt) - ran)}"


@pytest.mark.parametrize("mode", ["t2v", "i2v", "keyframe"])
def test_automatic_length_is_the_duration_heads_choice_within_the_cap(
    mode, media, real_engine, outputs
):
    """LTX-2.5's duration head picks the length: the video has the frames it chose (on 8k+1,
    from 1 s up to the cap), which are not the cap's."""
    prepared = prepared_job(mode, "fast", media, frames=49, fps=24, auto_length=True)
    prompt = models.resolve_variant(prepared.prompt, "full")
    assert "LTXVDurationPredictor" in class_types(prompt, prompt)
    result = run(real_engine, prepared)
    outputs.extend(result["outputs"])
    frames = streams(result["video"])["frames"]
    assert (frames - 1) % 8 == 0 and 24 <= frames <= 49, frames
    # The tiny head's output (about 1 s) is not the cap: the length really is its choice.
    assert frames != prepared.spec.frames


# Four keyframes of clearly different colours: at 0 s, 0.5 s, 0.9 s and the end of 33 frames at
# 24 fps, that is frames 0, 12, 22 and 32 (latent frames 0, 2, 3 and 4); the last at 0.6.
KEYFRAME_COLOURS = ((230, 30, 30), (30, 220, 40), (40, 60, 230), (240, 240, 240))
KEYFRAME_FRAMES = (0, 12, 22, 32)
KEYFRAME_STRENGTHS = (1.0, 1.0, 1.0, 0.6)


@contextlib.contextmanager
def watching_guides():
    """While open: each image a keyframe guide encodes (its mean colour and its latent, in the
    order the chain runs) and what each pass's sampling left (LTXVCropGuides' inputs: the
    conditioning, the latent with the guides still appended, its noise mask)."""
    import nodes  # ComfyUI's: the classes the engine really runs

    add, crop = (
        nodes.NODE_CLASS_MAPPINGS["LTXVAddGuide"],
        nodes.NODE_CLASS_MAPPINGS["LTXVCropGuides"],
    )
    encode, execute = add.__dict__["encode"], crop.__dict__["execute"]
    seen: dict[str, list] = {"encoded": [], "sampled": []}

    def encoding(cls, vae, *args, **kwargs):
        pixels, latent = encode.__func__(cls, vae, *args, **kwargs)
        seen["encoded"].append((pixels.mean(dim=(0, 1, 2)).tolist(), latent.clone()))
        return pixels, latent

    def cropping(cls, positive, negative, latent):
        sampled = (positive, latent["samples"].clone(), latent["noise_mask"].clone())
        seen["sampled"].append(sampled)
        return execute.__func__(cls, positive, negative, latent)

    add.encode, crop.execute = classmethod(encoding), classmethod(cropping)
    try:
        yield seen
    finally:
        add.encode, crop.execute = encode, execute


def test_each_keyframe_enters_the_model_at_its_frame_and_strength_one_keeps_it(
    media, real_engine, outputs, tmp_path
):
    """Four keyframes, LTX-2.3's one pass. The tiny set cannot show a keyframe in the video: its
    random VAE decodes every latent to about the same grey (four solid colours come back as
    0.51 +- 0.01 of full scale) and its random transformer copies nothing from the guides it
    attends to, so "the frame at each time looks most like its image" fails there for every
    graph, right or wrong. What a trained model copies is what this checks, as the sampler
    has it: each image encoded into its own guide, in slot order; each guide's tokens at its own
    frame (the conditioning's keyframe_idxs); and a strength 1.0 guide's latent out of the
    sampling exactly as it went in (noise mask 0), while the 0.6 one was denoised (mask 0.4)."""
    import torch

    images = {
        name: str(make_png(tmp_path / f"{name}.png", 320, 256, colour))
        for name, colour in zip(("first_image", "image_2", "image_3", "last_image"),
                                KEYFRAME_COLOURS, strict=True)
    }  # fmt: skip
    strengths = dict(zip(("first_strength", "strength_2", "strength_3", "last_strength"),
                         KEYFRAME_STRENGTHS, strict=True))  # fmt: skip
    given = {
        **media,
        "first_image": images.pop("first_image"),
        "last_image": images.pop("last_image"),
    }
    prepared = prepared_job("keyframe", "fast", given, model=modes.LTX23, frames=33, fps=24,
                            time_2=0.5, time_3=0.9, **images, **strengths)  # fmt: skip
    with watching_guides() as seen:
        result = run(real_engine, prepared)
    outputs.extend(result["outputs"])
    assert streams(result["video"])["frames"] == 33

    # Each guide encoded its own image: the colour it read is nearest to that keyframe's.
    assert len(seen["encoded"]) == 4
    for slot, (colour, _) in enumerate(seen["encoded"]):
        near = [
            sum((a - b / 255) ** 2 for a, b in zip(colour, c, strict=True))
            for c in KEYFRAME_COLOURS
        ]
        assert int(np.argmin(near)) == slot, (slot, colour)
    encoded = [latent[:, :, 0] for _, latent in seen["encoded"]]
    apart = min(
        (a - b).abs().mean().item() for i, a in enumerate(encoded) for b in encoded[i + 1 :]
    )
    assert apart > 0.05  # four different latents: "equal to its own" below means something

    [(positive, samples, mask)] = seen["sampled"]  # one pass
    assert samples.shape[2] == 5 + 4  # 33 frames are 5 latent frames; the 4 guides appended
    tokens = samples.shape[3] * samples.shape[4]
    starts = positive[0][1]["keyframe_idxs"][0, 0, :, 0]  # each guide token's first frame
    assert starts.shape[0] == 4 * tokens
    placed = [torch.unique(starts[i * tokens : (i + 1) * tokens]).tolist() for i in range(4)]
    assert placed == [[frame] for frame in KEYFRAME_FRAMES]
    guides = samples[:, :, -4:]
    assert mask[0, 0, :5].flatten().tolist() == [1.0] * 5
    for slot, strength in enumerate(KEYFRAME_STRENGTHS):
        assert mask[0, 0, 5 + slot].flatten().tolist() == [pytest.approx(1 - strength)]
        distance = [(guides[:, :, slot] - e).abs().mean().item() for e in encoded]
        assert int(np.argmin(distance)) == slot, (slot, distance)
        if strength == 1.0:  # kept, to float rounding (the latent's scaling in and out)
            assert distance[slot] < 1e-6, (slot, distance)
        else:  # sampled: the kept ones are kept by their strength, not by the graph
            assert distance[slot] > 1e-2, (slot, distance)


def _kept_sound_case(mode: str) -> dict:
    return {"control": "canny", "keep_audio": True} if mode == "style" else {}


@pytest.mark.parametrize("mode", ["a2v", "lipsync", "style"])
def test_the_users_own_sound_is_what_the_video_plays(mode, media, real_engine, outputs):
    prepared = prepared_job(mode, "fast", media, **_kept_sound_case(mode))
    result = run(real_engine, prepared)
    outputs.extend(result["outputs"])
    source = media["video" if mode == "style" else "audio"]
    heard, original = decode_audio(Path(result["video"])), decode_audio(source)
    clip = min(len(original), int(prepared.spec.frames / prepared.spec.fps * 16000))
    # AAC writes whole frames of 1024 samples, so the stream may run up to one frame longer.
    assert clip <= len(heard) <= max(clip, len(original)) + 1024 + 160
    correlation, _shift = best_match(original[:clip], heard[:clip])
    assert correlation > 0.95


@pytest.mark.parametrize("mode", ["a2v", "lipsync"])
def test_the_whole_sound_plays_when_it_ends_between_frames(
    mode, media, tmp_path, real_engine, outputs
):
    """0.73 s at 24 fps is 17.5 frames, just past 17 (8k+1): the video takes 25 frames, and the
    mp4 carries every sample of the sound, not the first 17 frames' worth."""
    speech = make_wav(tmp_path / "speech.wav", seconds=0.73, kind="chirp")
    prepared = prepared_job(mode, "fast", {**media, "audio": speech}, fps=24)
    assert prepared.spec.frames == 25
    result = run(real_engine, prepared)
    outputs.extend(result["outputs"])
    heard, original = decode_audio(Path(result["video"])), decode_audio(speech)
    assert len(heard) >= len(original) == 11680
    correlation, shift = best_match(original, heard)
    assert correlation > 0.95
    # Its last 20 ms too (where the first 17 frames would have cut it): AAC pads a cut stream to
    # a whole 1024-sample frame, so the length alone could pass.
    tail, start = original[-320:], len(original) - 320 - shift
    copy = heard[start : start + 320]
    assert len(copy) == 320
    assert float(np.dot(tail, copy)) / float(np.linalg.norm(tail) * np.linalg.norm(copy)) > 0.9


def test_generated_sound_is_not_a_copy_of_an_input(media, real_engine, outputs):
    """The check above can fail: a graph that makes its own sound does not match the input."""
    prepared = prepared_job("style", "fast", media, control="canny", keep_audio=False)
    result = run(real_engine, prepared)
    outputs.extend(result["outputs"])
    heard = decode_audio(Path(result["video"]))
    correlation, _ = best_match(decode_audio(media["video"])[: len(heard)], heard)
    assert correlation < 0.5


@pytest.mark.parametrize(
    ("mode", "model"), [("t2v", "ltx-2.5"), ("t2v", "ltx-2.3"), ("lipsync", "ltx-2.3"),
                        ("style", "ltx-2.3")],
)  # fmt: skip
def test_a_new_seed_loads_no_model_and_encodes_no_prompt_again(
    mode, model, media, real_engine, outputs
):
    extra = {"control": "canny", "model": model} if mode == "style" else {"model": model}
    first = prepared_job(mode, "balanced" if mode != "style" else "fast", media, **extra)
    outputs.extend(run(real_engine, first)["outputs"])
    second = prepared_job(mode, first.spec.preset, media, seed=first.spec.seed + 1, **extra)
    outputs.extend(run(real_engine, second)["outputs"])
    prompt = second.prompt
    assert not class_types(prompt, real_engine.executed) & (LOADERS | TEXT_ENCODERS)
    loader = "UNETLoader" if model == "ltx-2.5" else "CheckpointLoaderSimple"
    assert class_types(prompt, real_engine.cached) >= {loader, "CLIPTextEncode"}
    assert "SamplerCustomAdvanced" in class_types(prompt, real_engine.executed)


def test_cancel_during_sampling_leaves_no_output_and_the_next_job_runs(media, real_engine, outputs):
    prepared = prepared_job("t2v", "balanced", media, seed=11)
    job = prepared.spec.job_id
    stopped = threading.Event()

    def cancel_at_first_step(fraction, desc):
        if fraction is not None and "step" in desc and not stopped.is_set():
            stopped.set()
            backend.cancel(job)

    with pytest.raises(AppError) as info:
        run(real_engine, prepared, progress=cancel_at_first_step, job_id=job)
    assert info.value.kind == "interrupted" and stopped.is_set()
    assert not list(pins.output_dir().rglob(f"*{job}*"))
    assert "SaveVideo" not in class_types(prepared.prompt, real_engine.executed)
    after = prepared_job("t2v", "fast", media, seed=12)
    result = run(real_engine, after, job_id=after.spec.job_id)
    outputs.extend(result["outputs"])
    assert streams(result["video"])["frames"] == after.spec.frames


def test_sampling_hands_its_latent_previews_to_the_progress(media, real_engine, outputs):
    """Latent2RGB previews (no extra model) of the frames being sampled, as small JPEGs."""
    shows = PreviewsSeen()
    prepared = prepared_job("t2v", "fast", media, seed=21)
    result = run(real_engine, prepared, progress=shows, job_id=prepared.spec.job_id)
    outputs.extend(result["outputs"])
    assert shows.previews and all(p[:2] == b"\xff\xd8" for p in shows.previews)


@pytest.mark.parametrize(
    ("model", "preset", "setting", "per_step"),
    [
        (modes.LTX23, "fast", None, 1),
        (modes.LTX23, "balanced", None, 1),
        (modes.LTX23, "quality", None, 2),  # Lightricks' cfg-pp pair: the negative prompt too
        (modes.LTX23, "quality", "euler", 1),
        (modes.LTX25, "balanced", None, 1),
    ],
)
def test_each_step_evaluates_the_negative_prompt_only_where_the_recipe_pays_for_it(
    model, preset, setting, per_step, media, real_engine, outputs, monkeypatch
):
    """Counted where ComfyUI hands the transformer its conditionings (calc_cond_batch): at CFG 1
    the Euler samplers give it the positive prompt alone, the cfg-pp ones the negative too."""
    if setting:
        monkeypatch.setenv(recipes.LTX23_QUALITY.env, setting)
    else:
        monkeypatch.delenv(recipes.LTX23_QUALITY.env, raising=False)
    # A seed of its own: a pass ComfyUI's cache answered would count nothing.
    prepared = prepared_job("t2v", preset, media, model=model, seed=uuid.uuid4().int % 2**31)
    with count_evaluations() as tally:
        outputs.extend(run(real_engine, prepared)["outputs"])
    assert tally["passes"] == prepared.spec.stages
    steps = 8 + (3 if prepared.spec.stages == 2 else 0)  # the distilled schedules
    assert tally["evaluations"] == steps
    assert tally["conditionings"] == steps * per_step


# -- LoRAs: the tiny set holds, per family, one LoRA of "your own" in the LoRA folder and each
# known one where a Hub download is linked (tools/make_tiny_weights.py), at that family's widths:
# LTX-2.5's tiny transformer is wider than LTX-2.3's, so a LoRA made for one does not fit the
# other, as with the real models.

TWO = {
    modes.LTX23: ("cinemagraph", "my-ltx-2.3-lora.safetensors"),
    modes.LTX25: ("slow-motion", "my-ltx-2.5-lora.safetensors"),
}


@pytest.fixture
def on_tiny_set(tiny_models, real_engine, monkeypatch):
    """The app's own checks read the LoRA folder of the models folder the engine runs on."""
    monkeypatch.setenv("LTX_AIO_MODELS_DIR", str(tiny_models))
    return real_engine


def frames_digest(path: str) -> str:
    import av

    digest = hashlib.sha256()
    with av.open(path) as container:
        for frame in container.decode(video=0):
            digest.update(frame.to_ndarray(format="rgb24").tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("family", sorted(TWO))
def test_a_two_lora_job_runs_and_a_new_seed_loads_no_model_or_lora_again(
    family, media, on_tiny_set
):
    engine, (known, own) = on_tiny_set, TWO[family]
    values = {"model": family, "lora_1": known, "lora_1_strength": 0.8, "lora_2": own,
              "lora_2_strength": -0.5}  # fmt: skip
    first = prepared_job("t2v", "balanced", media, **values)
    result = run(engine, first)
    assert streams(result["video"])["frames"] == first.spec.frames == 9
    ran = class_types(first.prompt, engine.executed)
    assert {"LoraLoaderModelOnly", "SamplerCustomAdvanced"} <= ran
    names = {n["inputs"]["lora_name"] for n in first.prompt.values()
             if n["_meta"]["title"] in ("LoRA 1", "LoRA 2")}  # fmt: skip
    assert own in names and any(name.startswith("hf/Lightricks/") for name in names)

    second = prepared_job("t2v", "balanced", media, seed=first.spec.seed + 1, **values)
    run(engine, second)
    assert not class_types(second.prompt, engine.executed) & (LOADERS | TEXT_ENCODERS)
    assert "LoraLoaderModelOnly" in class_types(second.prompt, engine.cached)
    assert "SamplerCustomAdvanced" in class_types(second.prompt, engine.executed)

    # The LoRAs change what is made: the same seed without them makes other frames.
    plain = prepared_job("t2v", "balanced", media, seed=first.spec.seed, model=family)
    assert frames_digest(run(engine, plain)["video"]) != frames_digest(result["video"])


@pytest.mark.parametrize("family", sorted(TWO))
def test_a_lora_made_for_the_other_family_is_refused_with_its_name(family, media, on_tiny_set):
    other = next(f for f in TWO if f != family)
    engine, mismatched = on_tiny_set, TWO[other][1]
    before = list(engine.executed) + list(engine.cached)
    with pytest.raises(AppError) as info:
        prepared_job("t2v", "fast", media, model=family, lora_1=TWO[family][1], lora_3=mismatched)
    assert info.value.kind == "bad_input" and info.value.where == "lora_3"
    assert info.value.message.startswith(
        f"{mismatched} does not fit {modes.MODEL_TITLES[family]}: "
    )
    assert "other widths" in info.value.message
    assert list(engine.executed) + list(engine.cached) == before  # no engine work was asked
