"""L2: every mode x preset x representative input yields a valid graph.

First against the committed node-schema snapshot (runs everywhere), then, where the pinned
ComfyUI checkout and torch exist, through ComfyUI's own validate_prompt with empty placeholder
model files and real small media staged into its input dir.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest

import backend
import comfy_engine
import enhance
import media as media_module
import modes
import pins
import prepare
import workflow
from testkit.modes_helpers import cases, graph_spec, make_media

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = workflow.load_schemas()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(tmp_path_factory.mktemp("l2-media"))


_MEDIA_KEYS = ("image_portrait", "image_landscape", "image_square", "image_end", "audio_short",
               "audio_long", "video", "video_silent")  # fmt: skip


def _case_keys():
    """(mode, case, preset) ids, known before any media is made (for parametrize)."""
    fake = {name: Path(name) for name in _MEDIA_KEYS}
    return [(mode, case, preset) for mode, case, _ in cases(fake) for preset in modes.PRESETS]


CASE_KEYS = _case_keys()
CASE_IDS = ["-".join(key) for key in CASE_KEYS]


def _params(media, mode, case):
    for m, c, params in cases(media):
        if (m, c) == (mode, case):
            return params
    raise KeyError((mode, case))


def test_cases_cover_every_mode_and_image_and_audio_shape():
    keys = {(m, c) for m, c, _ in CASE_KEYS}
    assert {m for m, _ in keys} == set(modes.MODES)
    assert {"portrait", "landscape", "square"} <= {c for m, c in keys if m == "i2v"}
    assert {"short", "long"} <= {c for m, c in keys if m == "a2v"}


@pytest.mark.parametrize(("mode", "case", "preset"), CASE_KEYS, ids=CASE_IDS)
def test_prepared_graph_passes_snapshot_validator(mode, case, preset, media, tmp_path):
    params = {**_params(media, mode, case), "preset": preset}
    prepared = prepare.job(mode, params, input_dir=tmp_path, job_id="l2")
    assert workflow.validate(prepared.prompt, SCHEMAS) == []
    used = prepared.spec.record()
    assert (used["frames"] - 1) % 8 == 0 and used["width"] % 32 == 0 and used["height"] % 32 == 0
    assert used["frames"] <= modes.MODES[mode].presets[preset].max_frames


# ------------------------------------------------------------- ComfyUI's own validate_prompt


def _load_tool():
    spec = importlib.util.spec_from_file_location(
        "validate_workflows_tool", ROOT / "tools" / "validate_workflows.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def comfy(tmp_path_factory, real_engine):
    import folder_paths

    root = tmp_path_factory.mktemp("placeholder-models")
    refs = _load_tool().register_placeholder_models(root)
    yield pins.input_dir()
    for folder in {r.folder for r in refs}:  # leave ComfyUI's folder list as we found it
        paths = folder_paths.folder_names_and_paths.get(folder, ([], set()))[0]
        if str(root / folder) in paths:
            paths.remove(str(root / folder))


@pytest.mark.comfy
@pytest.mark.parametrize(("mode", "case", "preset"), CASE_KEYS, ids=CASE_IDS)
def test_prepared_graph_passes_comfyui_validate_prompt(mode, case, preset, media, comfy):
    job = f"l2real-{uuid.uuid4().hex[:8]}"
    params = {**_params(media, mode, case), "preset": preset}
    try:
        prepared = prepare.job(mode, params, input_dir=comfy, job_id=job)
        assert comfy_engine.validate(prepared.prompt) == []
    finally:
        for path in comfy.glob(f"{job}_*"):
            path.unlink()


@pytest.mark.comfy
def test_comfyui_validate_prompt_names_title_of_a_bad_input(comfy):
    prompt = modes.MODES["t2v"].parameterize(
        graph_spec("t2v", "balanced", None, (1024, 576, 121), job_id="bad")
    )
    workflow.set_input(prompt, "Decode video", "overlap", 5000)
    problems = comfy_engine.validate(prompt)
    assert any("'Decode video'" in p and "'overlap'" in p for p in problems), problems


@pytest.mark.comfy
@pytest.mark.parametrize("with_image", [False, True], ids=["text", "image"])
@pytest.mark.parametrize("family", enhance.families())
def test_the_prompt_enhancer_passes_comfyui_validate_prompt(family, with_image, media, comfy):
    staged = (
        media_module.stage(media["image_portrait"], comfy, "l2enh", "image") if with_image else None
    )
    try:
        assert comfy_engine.validate(enhance.graph(family, "a red fox", staged)) == []
    finally:
        if staged:
            (comfy / staged).unlink()


# ------------------------------------------- L-comfy: the weight-free part of each graph runs


def _probe(prompt: dict, images: str, audio: str | None, repeat: int = 1) -> dict:
    """The prepared graph cut down to its media chain: `images` (repeated `repeat` times, so a
    still lasts as long as the video) and `audio` go straight into Create video; everything that
    needs weights is pruned away."""
    probe = json.loads(json.dumps(prompt))
    probe["probe-repeat"] = {
        "class_type": "RepeatImageBatch",
        "inputs": {"image": workflow.link(probe, images), "amount": repeat},
        "_meta": {"title": "Probe repeat"},
    }
    create = workflow.find_node(probe, "Create video")[1]["inputs"]
    create["images"] = workflow.link(probe, "Probe repeat")
    if audio:
        create["audio"] = workflow.link(probe, audio)
    else:
        create.pop("audio", None)
    workflow.prune(probe)
    assert not workflow.model_files(probe)
    return probe


def _streams(path: str) -> dict:
    import av

    with av.open(path) as container:
        out = {}
        for stream in container.streams:
            seconds = float(stream.duration * stream.time_base) if stream.duration else 0.0
            out[stream.type] = {"seconds": seconds, "frames": stream.frames,
                                "size": (stream.codec_context.width, stream.codec_context.height)
                                if stream.type == "video" else None}  # fmt: skip
        return out


PROBES = [
    # mode, case, images title, audio title, expect the full frame count in the output
    ("i2v", "portrait", "Preprocess image", None, False),
    ("keyframe", "square", "Preprocess last image", None, False),
    ("lipsync", "landscape-short", "Preprocess image", "Trim output audio", False),
    ("lipsync", "portrait-long", "Resize image", "Trim audio", False),
    ("style", "canny", "Canny control", "Trim source audio", True),
]


@pytest.mark.comfy
@pytest.mark.parametrize(("mode", "case", "images", "audio", "all_frames"), PROBES,
                         ids=[f"{p[0]}-{p[1]}" for p in PROBES])  # fmt: skip
def test_media_chain_of_prepared_graph_executes(
    mode, case, images, audio, all_frames, media, comfy
):
    job = f"l2run-{uuid.uuid4().hex[:8]}"
    params = {**_params(media, mode, case), "preset": "fast"}
    try:
        prepared = prepare.job(mode, params, input_dir=comfy, job_id=job)
        # A still is repeated only where the audio length is checked (the muxer cuts the
        # audio at the video's end); encoding a long high-res still video is slow on CPU.
        repeat = prepared.spec.frames if audio and not all_frames else 1
        result = backend.run(_probe(prepared.prompt, images, audio, repeat))
        streams = _streams(result["video"])
        for path in result["outputs"]:
            Path(path).unlink(missing_ok=True)
    finally:
        for path in comfy.glob(f"{job}_*"):
            path.unlink()
    used = prepared.spec.record()
    assert streams["video"]["frames"] == (used["frames"] if audio or all_frames else 1)
    if all_frames:  # the control image keeps the video's aspect; the guide node scales it
        width, height = streams["video"]["size"]
        assert width / height == pytest.approx(used["width"] / used["height"], rel=0.02)
    if audio:  # the source's whole sound, up to the video's end (the muxer cuts it there)
        field = modes.MODES[mode].field("video" if mode == "style" else "audio")
        source_s = prepare.inspect_media(field, params[field.name]).seconds
        heard = min(used["duration"], source_s)
        assert streams["audio"]["seconds"] == pytest.approx(heard, abs=0.1)
