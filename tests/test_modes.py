"""L1: mode fields, normalisation of every parameter (hostile values included) and the patches."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest

import models
import modes
import patches
import prepare
import workflow
from errors import AppError
from testkit.mediagen import make_mp4, make_png, make_text, make_wav

SCHEMAS = workflow.load_schemas()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    return {
        "landscape": make_png(root / "land.png", 640, 360),
        "portrait": make_png(root / "port.png", 360, 640),
        "end": make_png(root / "end.png", 640, 360, color=(0, 0, 255)),
        "speech": make_wav(root / "speech.wav", seconds=1.5),
        "long": make_wav(root / "long.wav", seconds=14.0),
        "clip": make_mp4(root / "clip.mp4", seconds=1.5, width=160, height=96, fps=24),
        "silent": make_mp4(
            root / "silent.mp4", seconds=1.0, width=96, height=96, fps=24, audio=False
        ),
        "text": make_text(root / "notes.txt"),
    }


def base_params(mode, media):
    return {
        "t2v": {"prompt": "a lighthouse"},
        "i2v": {"prompt": "a dog", "image": str(media["landscape"])},
        "a2v": {"prompt": "waves", "audio": str(media["speech"])},
        "lipsync": {"prompt": "she talks", "image": str(media["portrait"]),
                    "audio": str(media["speech"])},
        "keyframe": {"prompt": "dusk", "first_image": str(media["landscape"]),
                     "last_image": str(media["end"])},
        "style": {"prompt": "clay", "video": str(media["clip"])},
        "extend": {"prompt": "it goes on", "video": str(media["clip"]), "seconds": 1.0,
                   "context_frames": 9},
        "retake": {"prompt": "a flash", "video": str(media["clip"]), "start": 0.3, "end": 0.8},
    }[mode]  # fmt: skip


def prep(mode, media, tmp_path, **extra):
    params = {**base_params(mode, media), **extra}
    return prepare.job(mode, params, input_dir=tmp_path / "input", job_id="job42")


def node_input(prompt, title, name):
    return workflow.find_node(prompt, title)[1]["inputs"][name]


# ----------------------------------------------------------------------------- declarations


def test_modes_are_the_eight_in_order():
    assert list(modes.MODES) == [
        "t2v",
        "i2v",
        "a2v",
        "lipsync",
        "keyframe",
        "style",
        "extend",
        "retake",
    ]
    assert modes.PRESETS == ("fast", "balanced", "quality")


@pytest.mark.parametrize("mode", modes.MODES.values(), ids=lambda m: m.name)
def test_mode_declares_presets_and_well_formed_fields(mode):
    assert set(mode.presets) == set(modes.PRESETS)
    names = [f.name for f in mode.fields]
    assert len(names) == len(set(names)) and "prompt" in names and "seed" in names
    for f in mode.fields:
        assert f.kind in modes.KINDS
        if f.kind in ("int", "float"):
            assert f.min is not None and f.max is not None and f.min < f.max
            assert f.default is None or f.min <= f.default <= f.max
        if f.kind == "choice":
            assert f.default in f.choices


def test_each_field_kind_is_declared_once_and_a_field_of_another_kind_is_refused_at_definition():
    import panels_ui
    from fields import KIND

    assert set(KIND) == set(modes.KINDS) == set(panels_ui.COMPONENTS)  # checks, docs, component
    assert modes.MEDIA_KINDS == ("image", "audio", "video")
    with pytest.raises(ValueError, match="unknown kind 'colour'"):
        modes.Field("tint", "colour")
    f = modes.Field("image", "image")
    assert (f.title, f.is_media) == ("image", True)
    assert modes.Field("seed", "int", label="Seed").title == "Seed"


def test_a_mode_checks_its_own_declaration_where_it_is_made():
    t2v = modes.MODES["t2v"]
    seed = t2v.field("seed")
    with pytest.raises(ValueError, match=r"declares \['seed'\] more than once"):
        dataclasses.replace(t2v, fields=(*t2v.fields, seed))
    with pytest.raises(ValueError, match="patches 'No such node', a node none of its graphs has"):
        dataclasses.replace(t2v, fields=(modes.Field("x", "int", patch=(("No such node", "x"),)),))
    with pytest.raises(ValueError, match="size_from='seed' is not one of its media"):
        dataclasses.replace(t2v, size_from="seed")
    style = modes.MODES["style"]
    assert (style.fps_from, style.one_pass_multiple, style.refine is not None) == (
        "video",
        64,
        True,
    )


# ------------------------------------------------------------------- hostile values, per field

NUMERIC = [
    (m.name, f) for m in modes.MODES.values() for f in m.fields if f.kind in ("int", "float")
]
HOSTILE = [-(10**12), 10**12, float("nan"), float("inf"), "abc", True, [1], {"a": 1}]


@pytest.mark.parametrize(("mode", "field"), NUMERIC, ids=lambda x: getattr(x, "name", x))
@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_numeric_field_rejects_hostile_value_naming_field_and_range(
    mode, field, value, media, tmp_path
):
    with pytest.raises(AppError) as err:
        prep(mode, media, tmp_path, **{field.name: value})
    assert err.value.kind == "bad_input" and err.value.where == field.name
    assert isinstance(value, (list, dict)) or field.range_text() in str(err.value)


@pytest.mark.parametrize(("mode", "field"), NUMERIC, ids=lambda x: getattr(x, "name", x))
def test_numeric_field_rejects_just_outside_its_range(mode, field, media, tmp_path):
    for value in (field.min - 1, field.max + 1):
        with pytest.raises(AppError, match=re.escape(field.range_text())) as err:
            prep(mode, media, tmp_path, **{field.name: value})
        # The range is quoted once, and the message ends with what to do.
        assert str(err.value).count(field.range_text()) == 1
        assert err.value.hint == "Set a value in that range and generate again."


@pytest.mark.parametrize("name", ["width", "height", "frames", "fps"])
def test_zero_and_negative_sizes_are_refused(name, media, tmp_path):
    for value in (0, -8):
        with pytest.raises(AppError) as err:
            prep("t2v", media, tmp_path, **{name: value})
        assert err.value.where == name


def test_fractional_int_is_refused(media, tmp_path):
    with pytest.raises(AppError, match="whole number"):
        prep("t2v", media, tmp_path, frames=96.5)


def test_numeric_strings_are_accepted(media, tmp_path):
    assert prep("t2v", media, tmp_path, frames="97", seed="7").spec.frames == 97


@pytest.mark.parametrize("prompt", ["", "   ", None])
def test_empty_prompt_is_refused(prompt, media, tmp_path):
    with pytest.raises(AppError) as err:
        prep("t2v", media, tmp_path, prompt=prompt)
    assert err.value.where == "prompt"


@pytest.mark.parametrize("prompt", [42, ["a"], {"t": 1}])
def test_non_text_prompt_is_refused(prompt, media, tmp_path):
    with pytest.raises(AppError, match="must be text"):
        prep("t2v", media, tmp_path, prompt=prompt)


def test_overlong_prompt_is_refused_with_limit(media, tmp_path):
    with pytest.raises(AppError, match="5000"):
        prep("t2v", media, tmp_path, prompt="x" * 5001)


def test_unknown_preset_lists_choices(media, tmp_path):
    with pytest.raises(AppError, match="fast, balanced, quality"):
        prep("t2v", media, tmp_path, preset="ultra")


def test_bad_bool_is_refused(media, tmp_path):
    with pytest.raises(AppError) as err:
        prep("style", media, tmp_path, keep_audio="maybe")
    assert err.value.where == "keep_audio"


def test_unknown_field_and_mode_are_refused(media, tmp_path):
    with pytest.raises(AppError, match="no field 'colour'"):
        prep("t2v", media, tmp_path, colour="red")
    with pytest.raises(AppError, match="unknown mode"):
        prepare.job("t2x", {}, input_dir=tmp_path, job_id="j")
    with pytest.raises(AppError, match="mapping"):
        prepare.job("t2v", ["prompt"], input_dir=tmp_path, job_id="j")


@pytest.mark.parametrize(
    ("mode", "field", "source"),
    [("i2v", "image", "text"), ("i2v", "image", "speech"), ("a2v", "audio", "text"),
     ("a2v", "audio", "landscape"), ("style", "video", "speech"),
     ("keyframe", "last_image", "clip")],
)  # fmt: skip
def test_wrong_media_file_is_refused_naming_field(mode, field, source, media, tmp_path):
    with pytest.raises(AppError) as err:
        prep(mode, media, tmp_path, **{field: str(media[source])})
    assert err.value.kind == "bad_input" and err.value.where == field


def test_missing_media_is_required(media, tmp_path):
    with pytest.raises(AppError, match="required"):
        prep("i2v", media, tmp_path, image=None)
    with pytest.raises(AppError, match="does not exist"):
        prep("i2v", media, tmp_path, image=str(tmp_path / "gone.png"))


# --------------------------------------------------------------------------- normalisation


def test_seed_is_random_unless_given_and_reaches_both_noises(media, tmp_path):
    first = prep("t2v", media, tmp_path, seed=-1).spec.seed
    seeds = {first} | {prep("t2v", media, tmp_path).spec.seed for _ in range(4)}
    assert len(seeds) > 1 and all(0 <= s <= modes.SEED_MAX for s in seeds)
    p = prep("t2v", media, tmp_path, seed=1234)
    assert p.spec.seed == 1234
    assert node_input(p.prompt, "Noise 1", "noise_seed") == 1234
    assert node_input(p.prompt, "Noise 2", "noise_seed") == 1235


@pytest.mark.parametrize(("asked", "got"), [(9, 9), (10, 9), (100, 97), (121, 121), (126, 129)])
def test_frames_snap_to_8k_plus_1(asked, got, media, tmp_path):
    p = prep("t2v", media, tmp_path, frames=asked)
    assert p.spec.frames == got and (got - 1) % 8 == 0
    assert node_input(p.prompt, "Video latent", "length") == got
    assert node_input(p.prompt, "Audio latent", "frames_number") == got
    assert (asked == got) == (not p.notes)


def test_frames_are_capped_by_preset_with_note(media, tmp_path):
    most = modes.MODES["t2v"].field("frames").max
    p = prep("t2v", media, tmp_path, frames=most, preset="fast")
    assert p.spec.frames == 121 and any("capped" in n for n in p.notes)


@pytest.mark.parametrize(
    "mode", [m for m, spec in modes.MODES.items() if any(f.name == "frames" for f in spec.fields)]
)
def test_frames_range_ends_at_the_largest_preset_cap(mode):
    m = modes.MODES[mode]
    assert m.field("frames").max == max(p.max_frames for p in m.presets.values())


def test_duration_sets_frames_and_is_returned(media, tmp_path):
    p = prep("t2v", media, tmp_path, duration=4.0, fps=25)
    assert p.spec.frames == 97 and math.isclose(p.spec.duration, 97 / 25, abs_tol=1e-3)
    assert node_input(p.prompt, "Conditioning", "frame_rate") == 25.0
    assert node_input(p.prompt, "Audio latent", "frame_rate") == 25
    assert node_input(p.prompt, "Create video", "fps") == 25.0


@pytest.mark.parametrize(
    ("preset", "size", "latent"),
    [("fast", (768, 448), (768, 448)), ("balanced", (1280, 704), (640, 352)),
     ("quality", (1920, 1088), (960, 544))],
)  # fmt: skip
def test_t2v_preset_sizes_and_stage_one_latent(preset, size, latent, media, tmp_path):
    p = prep("t2v", media, tmp_path, preset=preset)
    assert (p.spec.width, p.spec.height) == size
    assert (node_input(p.prompt, "Video latent", "width"),
            node_input(p.prompt, "Video latent", "height")) == latent  # fmt: skip


def test_given_size_snaps_to_multiple_with_note(media, tmp_path):
    p = prep("t2v", media, tmp_path, width=1000, height=333, preset="fast")
    assert (p.spec.width, p.spec.height) == (992, 320) and p.notes
    p = prep("t2v", media, tmp_path, width=1000, height=560, preset="balanced")
    assert p.spec.width % 64 == 0 and p.spec.height % 64 == 0


def test_oversize_is_scaled_to_preset_budget(media, tmp_path):
    p = prep("t2v", media, tmp_path, width=2048, height=2048, preset="fast")
    assert p.spec.width * p.spec.height <= 768 * 448 * 1.1
    assert any("capped" in n for n in p.notes)


@pytest.mark.parametrize("aspect", modes.ASPECTS)
@pytest.mark.parametrize("mode", ["t2v", "a2v"])
def test_aspect_choice_sets_the_shape_at_the_presets_pixel_count(media, tmp_path, mode, aspect):
    p = prep(mode, media, tmp_path, aspect=aspect, preset="balanced")
    w, h = prepare.aspect_of(aspect)
    assert p.spec.width / p.spec.height == pytest.approx(w / h, rel=0.08)
    budget = modes.STANDARD_PRESETS["balanced"].pixels
    assert p.spec.width * p.spec.height == pytest.approx(budget, rel=0.1)


def test_a_phone_photo_stored_sideways_makes_a_portrait_video(media, tmp_path):
    from PIL import Image

    photo, exif = tmp_path / "phone.jpg", Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: shown a quarter turn clockwise
    Image.new("RGB", (640, 360), "white").save(photo, exif=exif)
    p = prep("i2v", media, tmp_path, image=str(photo), preset="balanced")
    assert p.spec.height > p.spec.width
    assert p.spec.width / p.spec.height == pytest.approx(360 / 640, rel=0.08)


def test_width_and_height_win_over_the_aspect_choice(media, tmp_path):
    p = prep("t2v", media, tmp_path, aspect="9:16", width=768, height=448, preset="fast")
    assert (p.spec.width, p.spec.height) == (768, 448)


def test_only_modes_without_an_input_picture_offer_an_aspect():
    offered = {name for name, m in modes.MODES.items() if any(f.name == "aspect" for f in m.fields)}
    assert offered == {name for name, m in modes.MODES.items() if m.size_from is None}


def test_check_writes_nothing(media, tmp_path):
    checked = prepare.check("i2v", base_params("i2v", media), job_id="job42")
    assert checked.spec.width > 0 and checked.spec.files is None
    assert not (tmp_path / "input").exists()


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_mode_offers_example_prompts_and_a_placeholder(mode):
    m = modes.MODES[mode]
    assert len(m.examples) >= 3
    assert m.field("prompt").placeholder == m.examples[0]
    assert all(len(text) <= m.field("prompt").max_len for text in m.examples)


def test_image_aspect_sets_portrait_size(media, tmp_path):
    p = prep("i2v", media, tmp_path, image=str(media["portrait"]))
    assert p.spec.height > p.spec.width


def test_motion_suffix_is_visible_removable_and_appended(media, tmp_path):
    suffix = modes.MODES["i2v"].field("prompt_suffix").default
    assert suffix
    p = prep("i2v", media, tmp_path)
    assert node_input(p.prompt, "Positive prompt", "text") == f"a dog {suffix}"
    p = prep("i2v", media, tmp_path, prompt_suffix="")
    assert node_input(p.prompt, "Positive prompt", "text") == "a dog"


def test_i2v_keeps_official_preprocess_and_strengths(media, tmp_path):
    p = prep("i2v", media, tmp_path)
    assert node_input(p.prompt, "Preprocess image", "img_compression") == 18
    assert node_input(p.prompt, "Image guide 1", "strength") == 0.7
    assert node_input(p.prompt, "Image guide 2", "strength") == 1.0


# seconds of audio at 24 fps -> the fewest 8k+1 frames that last as long: 2.875 s is 69 frames
# (not 8k+1), 2.71 s is just past 65 frames (2.708 s), 65 / 24 s is exactly 65 frames.
@pytest.mark.parametrize(
    ("seconds", "frames"), [(1.5, 41), (2.875, 73), (2.71, 73), (65 / 24, 65), (2.0, 49)]
)
@pytest.mark.parametrize("mode", ["a2v", "lipsync"])
def test_the_frames_cover_the_whole_audio(mode, seconds, frames, media, tmp_path):
    audio = make_wav(tmp_path / "speech.wav", seconds=seconds)
    p = prep(mode, media, tmp_path, audio=str(audio), fps=24)
    assert p.spec.frames == frames
    assert frames / 24 >= round(seconds, 3) and (frames - 8) / 24 < seconds


@pytest.mark.parametrize("mode", ["a2v", "lipsync"])
def test_the_trims_keep_as_much_audio_as_the_frames_last(mode, media, tmp_path):
    audio = make_wav(tmp_path / "speech.wav", seconds=2.875)
    p = prep(mode, media, tmp_path, audio=str(audio), fps=24)
    for title in ("Trim audio", "Trim output audio"):
        assert node_input(p.prompt, title, "duration") == pytest.approx(73 / 24, abs=1e-9)
        assert node_input(p.prompt, title, "duration") >= 2.875


def test_a_silent_tail_past_the_audio_is_said(media, tmp_path):
    audio = make_wav(tmp_path / "speech.wav", seconds=2.875)
    p = prep("a2v", media, tmp_path, audio=str(audio), fps=24)
    [note] = p.notes
    assert "2.88 s and plays whole" in note and "3.04 s" in note and "cut" not in note


def test_audio_that_ends_with_a_frame_says_nothing(media, tmp_path):
    audio = make_wav(tmp_path / "speech.wav", seconds=65 / 24)
    assert prep("a2v", media, tmp_path, audio=str(audio), fps=24).notes == []


def test_long_audio_is_capped_by_preset_with_note_of_what_is_cut(media, tmp_path):
    p = prep("a2v", media, tmp_path, audio=str(media["long"]), preset="fast")
    assert p.spec.frames == 121
    [note] = p.notes
    assert "lasts 14.00 s" in note and "first 5.04 s are used" in note
    assert "last 8.96 s are cut" in note and "balanced preset makes up to 241 frames" in note


def test_audio_just_past_the_cap_is_cut_and_said(media, tmp_path):
    audio = make_wav(tmp_path / "speech.wav", seconds=5.05)
    p = prep("lipsync", media, tmp_path, audio=str(audio), preset="fast", fps=24)
    assert p.spec.frames == 121 and any("last 0.01 s are cut" in n for n in p.notes)
    p = prep("lipsync", media, tmp_path, audio=str(audio), preset="balanced", fps=24)
    assert p.spec.frames == 129 and not any("cut" in n for n in p.notes)


def test_a2v_output_keeps_given_audio_and_freezes_model_audio(media, tmp_path):
    p = prep("a2v", media, tmp_path)
    create = workflow.find_node(p.prompt, "Create video")[1]["inputs"]
    assert create["audio"] == workflow.link(p.prompt, "Trim output audio")
    for stage in (1, 2):
        av = workflow.find_node(p.prompt, f"AV latent {stage}")[1]["inputs"]
        assert av["audio_latent"] == workflow.link(p.prompt, "Freeze audio")
    assert not workflow.has_node(p.prompt, "Decode audio")


def test_lipsync_model_hears_noised_copy_output_keeps_original(media, tmp_path):
    p = prep("lipsync", media, tmp_path)
    model_file = node_input(p.prompt, "Load audio", "audio")
    out_file = node_input(p.prompt, "Load output audio", "audio")
    assert model_file != out_file and (tmp_path / "input" / model_file).is_file()
    p = prep("lipsync", media, tmp_path, audio_noise=0)
    assert node_input(p.prompt, "Load audio", "audio") == node_input(
        p.prompt, "Load output audio", "audio"
    )


@pytest.mark.parametrize(("model", "stages"), [("ltx-2.3", (1, 2)), ("ltx-2.5", (1,))])
def test_keyframe_guides_first_and_last_frame_in_each_pass(model, stages, media, tmp_path):
    p = prep("keyframe", media, tmp_path, last_strength=0.8, model=model)
    assert not workflow.has_node(p.prompt, f"First frame guide {len(stages) + 1}")
    for stage in stages:
        assert node_input(p.prompt, f"First frame guide {stage}", "frame_idx") == 0
        assert node_input(p.prompt, f"Last frame guide {stage}", "frame_idx") == -1
        assert node_input(p.prompt, f"Last frame guide {stage}", "strength") == 0.8


def guide_chain(prompt: dict, stage: int) -> list[str]:
    """The keyframe guides of pass `stage`, followed from the sampler back to the first."""
    chain, title = [], f"Last frame guide {stage}"
    while True:
        chain.append(title)
        source = node_input(prompt, title, "latent")[0]
        node = prompt[source]
        if node["class_type"] != "LTXVAddGuide":
            return chain[::-1]
        title = node["_meta"]["title"]


def keyframe_params(media, **times):
    """Middle keyframes `time_<k>=seconds`, each with an image and a strength of its own."""
    out = {}
    for name, seconds in times.items():
        k = int(name.removeprefix("time_"))
        out |= {f"image_{k}": str(media["landscape"]), name: seconds, f"strength_{k}": k / 10}
    return out


KEYFRAME_GRAPHS = [("ltx-2.3", "fast"), ("ltx-2.3", "balanced"), ("ltx-2.5", "balanced"),
                   ("ltx-2.5", "quality")]  # fmt: skip


@pytest.mark.parametrize(("model", "preset"), KEYFRAME_GRAPHS)
def test_keyframe_chains_the_given_keyframes_each_at_its_frame(model, preset, media, tmp_path):
    """Slots 2 and 5 given: each pass's chain is first, 2, 5, last (3, 4, 6, 7 drop out with
    their images), at round(time x fps), the last at the end, each at its strength."""
    p = prep("keyframe", media, tmp_path, model=model, preset=preset, fps=24, frames=121,
             **keyframe_params(media, time_2=1.0, time_5=3.02))  # fmt: skip
    stages = (1, 2) if p.spec.stages == 2 else (1,)
    for stage in stages:
        assert guide_chain(p.prompt, stage) == [
            f"First frame guide {stage}", f"Keyframe 2 guide {stage}",
            f"Keyframe 5 guide {stage}", f"Last frame guide {stage}",
        ]  # fmt: skip
        frames = [node_input(p.prompt, t, "frame_idx") for t in guide_chain(p.prompt, stage)]
        assert frames == [0, 24, 72, -1]
        assert node_input(p.prompt, f"Keyframe 5 guide {stage}", "strength") == 0.5
        image = node_input(p.prompt, f"Keyframe 2 guide {stage}", "image")
        step = "Preprocess" if stage == 1 else "Resize"
        assert image == workflow.link(p.prompt, f"{step} keyframe 2 image")
    assert node_input(p.prompt, "Load keyframe 5 image", "image") == p.spec.files["image_5"]
    for k in (3, 4, 6, 7):
        assert not workflow.has_node(p.prompt, f"Keyframe {k} guide 1")
        assert not workflow.has_node(p.prompt, f"Load keyframe {k} image")
    assert not workflow.has_node(p.prompt, f"Last frame guide {len(stages) + 1}")
    assert workflow.validate(p.prompt, SCHEMAS) == []


def test_keyframe_first_and_last_may_have_times_of_their_own(media, tmp_path):
    p = prep("keyframe", media, tmp_path, fps=24, frames=121, first_time=0.5, last_time=4)
    assert [node_input(p.prompt, t, "frame_idx") for t in guide_chain(p.prompt, 1)] == [12, 96]
    # The clip's very end is its last frame (120 of 121), not one past it.
    p = prep("keyframe", media, tmp_path, fps=24, frames=121, last_time=121 / 24)
    assert node_input(p.prompt, "Last frame guide 1", "frame_idx") == 120


def test_a_keyframe_job_without_new_fields_runs_the_two_frame_graph(media, tmp_path):
    """An API caller or a History record of before: first and last only, as ever."""
    p = prep("keyframe", media, tmp_path, model="ltx-2.3", first_strength=0.9, last_strength=0.6)
    for stage in (1, 2):
        assert guide_chain(p.prompt, stage) == [f"First frame guide {stage}",
                                                f"Last frame guide {stage}"]  # fmt: skip
        assert node_input(p.prompt, f"First frame guide {stage}", "strength") == 0.9
    assert sorted(p.spec.files) == ["first_image", "last_image"]
    assert not any(path.name.startswith("job42_image_") for path in (tmp_path / "input").iterdir())


def test_a_keyframe_record_keeps_each_keyframes_time_strength_and_file(media, tmp_path):
    p = prep("keyframe", media, tmp_path, **keyframe_params(media, time_3=1.5, time_7=2.5))
    used = json.loads(json.dumps(p.spec.record()))
    assert (used["time_3"], used["strength_3"], used["time_7"], used["strength_7"]) == (
        1.5, 0.3, 2.5, 0.7,
    )  # fmt: skip
    assert used["time_2"] is None and used["strength_2"] == 0.7
    assert sorted(used["files"]) == ["first_image", "image_3", "image_7", "last_image"]
    assert (tmp_path / "input" / used["files"]["image_3"]).is_file()


KEYFRAME_REFUSALS = [
    # extra fields, the field named, what the one line says
    ({"image_3": "landscape"}, "time_3", "Keyframe 3 has an image but no time"),
    ({"time_3": 1.0}, "time_3", "Keyframe 3 has a time (1 s) but no image"),
    ({"image_2": "landscape", "time_2": 6.0}, "time_2", "past the clip's end (5.04 s"),
    ({"last_time": 5.5}, "last_time", "the last frame is at 5.5 s, past the clip's end"),
    ({"first_time": 5.1}, "first_time", "the first frame is at 5.1 s, past the clip's end"),
    # frames 24 and 22 share latent frame 3 (frames 17..24)
    ({"image_2": "landscape", "time_2": 1.0, "image_3": "end", "time_3": 0.9}, "time_3",
     "overlapping keyframes: Keyframe 2 (frame 24) and Keyframe 3 (frame 22)"),
    # frame 0 is the first's; frame 118 shares latent 15 with the last (120)
    ({"image_4": "landscape", "time_4": 0.0}, "time_4",
     "overlapping keyframes: the first frame (frame 0) and Keyframe 4 (frame 0)"),
    ({"image_6": "landscape", "time_6": 4.9}, "time_6",
     "overlapping keyframes: Keyframe 6 (frame 118) and the last frame (frame 120)"),
    ({"first_time": 1.0, "last_time": 1.0}, "last_time",
     "overlapping keyframes: the first frame (frame 24) and the last frame (frame 24)"),
    # the first frame comes first and the last last; the middle ones in any order
    ({"first_time": 2.0, "last_time": 1.0}, "last_time",
     "the last frame is at 1 s, before the first frame (2 s)"),
    ({"first_time": 2.0, "image_5": "landscape", "time_5": 1.0}, "time_5",
     "Keyframe 5 is at 1 s, before the first frame (2 s)"),
    ({"last_time": 3.0, "image_2": "landscape", "time_2": 4.0}, "time_2",
     "Keyframe 2 is at 4 s, after the last frame (3 s)"),
    ({"image_2": "landscape", "time_2": 1.0, "auto_length": True, "model": "ltx-2.5"}, "time_2",
     "automatic length cannot place Keyframe 2 at a time"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "where", "said"), KEYFRAME_REFUSALS,
                         ids=[f"{r[1]}-{i}" for i, r in enumerate(KEYFRAME_REFUSALS)])  # fmt: skip
def test_bad_keyframes_are_refused_in_one_line_naming_the_field(
    extra, where, said, media, tmp_path
):
    extra = {k: str(media[v]) if k.startswith("image_") else v for k, v in extra.items()}
    with pytest.raises(AppError) as err:
        prep("keyframe", media, tmp_path, fps=24, frames=121, **extra)
    assert (err.value.kind, err.value.where) == ("bad_input", where)
    assert said in err.value.message and "\n" not in err.value.message, err.value.message
    assert err.value.hint
    assert not (tmp_path / "input").exists() or not list((tmp_path / "input").iterdir())


def test_keyframes_far_enough_apart_are_not_overlapping(media, tmp_path):
    """Frames 16 and 17 are one apart but in latent frames 2 and 3: both are placed."""
    p = prep("keyframe", media, tmp_path, fps=24, frames=121,
             **keyframe_params(media, time_2=16 / 24, time_3=17 / 24))  # fmt: skip
    assert [node_input(p.prompt, t, "frame_idx") for t in guide_chain(p.prompt, 1)] == [
        0, 16, 17, -1,
    ]  # fmt: skip


def test_middle_keyframes_may_come_in_any_order_between_first_and_last(media, tmp_path):
    p = prep("keyframe", media, tmp_path, fps=24, frames=121,
             first_time=0.5, **keyframe_params(media, time_2=3.0, time_3=1.0))  # fmt: skip
    assert [node_input(p.prompt, t, "frame_idx") for t in guide_chain(p.prompt, 1)] == [
        12, 72, 24, -1,
    ]  # fmt: skip


@pytest.mark.parametrize("control", ["pose", "depth", "canny"])
def test_style_control_choice_rewires_guide_and_prunes_others(control, media, tmp_path):
    p = prep("style", media, tmp_path, control=control)
    chosen = modes.CONTROL_NODES[control]
    assert node_input(p.prompt, "Control guide", "image") == workflow.link(p.prompt, chosen)
    others = set(modes.CONTROL_NODES.values()) - {chosen}
    assert not any(workflow.has_node(p.prompt, t) for t in others)


def test_style_follows_video_fps_and_length(media, tmp_path):
    p = prep("style", media, tmp_path)
    assert p.spec.fps == 24.0 and p.spec.frames == 33  # 36 source frames -> 33
    assert node_input(p.prompt, "Select frames", "length") == 33


def test_style_keep_audio_uses_source_track_unless_silent(media, tmp_path):
    p = prep("style", media, tmp_path, keep_audio=True)
    create = workflow.find_node(p.prompt, "Create video")[1]["inputs"]
    assert create["audio"] == workflow.link(p.prompt, "Trim source audio")
    # The model hears the kept sound, frozen (as a2v does), not a track it then throws away.
    av_in = workflow.find_node(p.prompt, "AV latent 1")[1]["inputs"]["audio_latent"]
    assert av_in == workflow.link(p.prompt, "Freeze source audio")
    new = prep("style", media, tmp_path, keep_audio=False).prompt
    assert not workflow.has_node(new, "Freeze source audio")
    assert workflow.has_node(new, "Audio latent")
    p = prep("style", media, tmp_path, video=str(media["silent"]), keep_audio=True)
    assert p.spec.inputs["keep_audio"] is False and any("no sound" in n for n in p.notes)


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_fast_preset_drops_stage_two_and_upscaler(mode, media, tmp_path):
    p = prep(mode, media, tmp_path, preset="fast")
    files = {r.filename for r in workflow.model_files(p.prompt)}
    assert "ltx-2.3-spatial-upscaler-x2-1.1.safetensors" not in files
    assert not workflow.has_node(p.prompt, "Sample 2")
    assert workflow.validate(p.prompt, SCHEMAS) == []


def test_required_models_follow_preset_model_and_control():
    fast = {r.filename for r in modes.required_models("t2v", "fast", model="ltx-2.3")}
    quality = {r.filename for r in modes.required_models("t2v", "quality", model="ltx-2.3")}
    assert quality - fast == {"ltx-2.3-spatial-upscaler-x2-1.1.safetensors"}
    fast = {r.filename for r in modes.required_models("t2v", "fast")}  # the default: LTX-2.5
    quality = {r.filename for r in modes.required_models("t2v", "quality")}
    assert quality - fast == {"ltx-2.5-latent-spatial-upscaler-x2-bf16-1.0.safetensors"}
    canny = {r.folder for r in modes.required_models("style", "balanced", "canny")}
    pose = {r.filename for r in modes.required_models("style", "balanced", "pose")}
    assert "controlnet_aux" not in canny
    assert any(f.endswith("yolox_l.onnx") for f in pose)


def test_save_prefix_is_unique_per_job_and_sanitized(media, tmp_path):
    p = prepare.job("t2v", {"prompt": "x"}, input_dir=tmp_path, job_id="../../evil job")
    prefix = node_input(p.prompt, "Save video", "filename_prefix")
    assert "evil_job" in prefix and ".." not in prefix


def test_media_is_staged_under_safe_unique_names(media, tmp_path):
    weird = make_png(tmp_path / "my photo (1);rm -rf.png", 200, 200)
    p = prep("i2v", media, tmp_path, image=str(weird))
    name = node_input(p.prompt, "Load image", "image")
    assert name.startswith("job42_image_") and name.endswith(".png") and " " not in name
    assert (tmp_path / "input" / name).read_bytes() == weird.read_bytes()
    again = prep("i2v", media, tmp_path, image=str(weird))
    assert node_input(again.prompt, "Load image", "image") != name


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_used_is_json_and_names_everything_applied(mode, media, tmp_path):
    p = prep(mode, media, tmp_path, seed=5)
    used = json.loads(json.dumps(p.spec.record()))
    for key in ("seed", "preset", "width", "height", "frames", "fps", "duration"):
        assert key in used
    assert used["seed"] == 5 and used["preset"] == "balanced"


def test_fractional_fps_is_rounded_with_note(media, tmp_path):
    p = prep("t2v", media, tmp_path, fps=23.976)
    assert p.spec.fps == 24 and any("rounded to 24" in n for n in p.notes)
    assert node_input(p.prompt, "Audio latent", "frame_rate") == 24


def test_duration_note_says_seconds_and_frames(media, tmp_path):
    p = prep("t2v", media, tmp_path, duration=3.3)
    assert p.spec.frames == 81 and any("3.3 s at 24 fps makes 81 frames" in n for n in p.notes)


def test_a_given_duration_wins_over_the_frames_field(media, tmp_path):
    # The page and the API always send frames (121 by default): a duration is a deliberate ask.
    p = prep("t2v", media, tmp_path, frames=121, duration=2, fps=24)
    assert p.spec.frames == 49 and any("2 s at 24 fps makes 49 frames" in n for n in p.notes)


def test_style_says_when_only_the_start_of_a_long_video_is_used(media, tmp_path):
    p = prep("style", media, tmp_path, frames=17)
    assert p.spec.frames == 17 and any("first 0.71 s" in n for n in p.notes)


JUNK = [None, "", "   ", 0, -1, 1e308, -1e308, "💥" * 3, [], {}, b"bytes", object(), float("nan")]


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_no_value_in_any_field_crashes_prepare(mode, media, tmp_path):
    """Every junk value either works or gives a bad_input naming the field; nothing else."""
    for f in modes.MODES[mode].fields:
        for value in JUNK:
            try:
                prep(mode, media, tmp_path, **{f.name: value})
            except AppError as err:
                assert err.kind == "bad_input" and err.where == f.name, (f.name, value, err)


@pytest.mark.parametrize("preset", modes.PRESETS)
def test_decode_video_gets_the_plan_for_the_memory_it_may_use(preset, media, tmp_path):
    import decode_plan

    p = prep("t2v", media, tmp_path, preset=preset)  # no figure given: the default memory
    u = p.spec
    plan = decode_plan.plan(
        decode_plan.LTX25, u.width, u.height, u.frames, decode_plan.DEFAULT_MEMORY_GB * 1e9
    )
    decode = workflow.find_node(p.prompt, "Decode video")[1]["inputs"]
    assert {name: decode[name] for name in plan.inputs} == plan.inputs
    assert u.decode == plan.describe() and plan.fits and u.decode_note is None
    assert u.record()["decode"] == plan.describe()  # History keeps it


def test_less_memory_cuts_the_decode_finer_and_too_little_is_said(media, tmp_path):
    import decode_plan

    def tiles(memory_gb):
        checked = prepare.check(
            "t2v", {**base_params("t2v", media), "preset": "quality"}, job_id="j"
        )
        checked.spec.memory_gb = memory_gb
        p = prepare.stage(checked, input_dir=tmp_path / "input")
        size = node_input(p.prompt, "Decode video", "tile_size")
        return size, p.spec

    roomy, tight, hopeless = tiles(80), tiles(24), tiles(0.6)
    assert tight[0] < roomy[0] and tight[1].decode_note is None
    assert hopeless[0] == decode_plan.MIN_TILE_PX
    assert "0.3 GB it may use" in hopeless[1].decode_note


def test_negative_prompt_and_control_strength_reach_their_nodes(media, tmp_path):
    p = prep("style", media, tmp_path, negative_prompt="blurry", control_strength=0.6)
    assert node_input(p.prompt, "Negative prompt", "text") == "blurry"
    assert node_input(p.prompt, "Control guide", "strength") == 0.6
    assert p.spec.inputs["negative_prompt"] == "blurry"


@pytest.mark.parametrize("mode", modes.MODES.values(), ids=lambda m: m.name)
def test_every_declared_patch_target_exists_in_the_template(mode):
    schemas = workflow.load_schemas()
    for template in map(workflow.load_template, mode.workflows.values()):
        for f in mode.fields:
            for title, name in f.patch:
                if not workflow.has_node(template, title):
                    continue  # that family's graph has no such pass (see the test above)
                _, node = workflow.find_node(template, title)
                assert name in node["inputs"]
                assert name in str(schemas[node["class_type"]]["input"])


def test_huge_integer_is_refused_naming_field_and_range(media, tmp_path):
    with pytest.raises(AppError) as info:
        prep("t2v", media, tmp_path, seed=10**400)
    assert info.value.where == "seed" and "allowed range" in info.value.message


@pytest.mark.parametrize("preset", modes.PRESETS)
def test_extreme_aspect_keeps_sides_in_range_and_says_it_crops(preset, tmp_path, media):
    sliver = make_png(tmp_path / "sliver.png", 64, 1000)
    p = prep("i2v", media, tmp_path, image=str(sliver), preset=preset)
    w, h = p.spec.width, p.spec.height
    assert modes.MIN_SIDE <= w <= modes.MAX_SIDE and modes.MIN_SIDE <= h <= modes.MAX_SIDE
    assert h / w <= modes.MAX_ASPECT + 0.3
    assert any("cropped to fit" in n for n in p.notes)


def test_one_given_side_never_derives_the_other_below_the_minimum(media, tmp_path):
    wide = make_png(tmp_path / "wide.png", 1000, 64)
    p = prep("i2v", media, tmp_path, image=str(wide), width=256, preset="fast")
    assert p.spec.height >= modes.MIN_SIDE
    assert node_input(p.prompt, "Video latent", "height") >= 64


def test_audio_with_many_channels_is_staged_as_stereo_with_note(media, tmp_path):
    import wave

    surround = make_wav(tmp_path / "surround.wav", seconds=1.5, channels=6)
    p = prep("lipsync", media, tmp_path, audio=str(surround))
    for key in ("audio", "audio_model"):
        with wave.open(str(tmp_path / "input" / p.spec.files[key])) as w:
            assert w.getnchannels() == 2
    assert any("6 channels were mixed down to stereo" in n for n in p.notes)


def test_short_audio_says_the_end_of_the_video_is_silent(media, tmp_path):
    short = make_wav(tmp_path / "short.wav", seconds=0.6)
    p = prep("a2v", media, tmp_path, audio=str(short), fps=8)
    assert p.spec.frames == 9
    assert any("plays whole" in n and "that end is silent" in n for n in p.notes)


def test_style_duration_sets_the_restyled_length(media, tmp_path):
    p = prep("style", media, tmp_path, duration=1.0)
    assert p.spec.frames == 17  # 24 frames of a 36-frame clip -> 8k+1 below
    assert node_input(p.prompt, "Select frames", "length") == 17


def test_style_decodes_only_the_restyled_span_of_the_source(media, tmp_path):
    p = prep("style", media, tmp_path, frames=17)
    assert (
        node_input(p.prompt, "Video components", "video")[0]
        == workflow.find_node(p.prompt, "Slice video")[0]
    )
    assert node_input(p.prompt, "Slice video", "start_time") == 0.0
    assert node_input(p.prompt, "Slice video", "duration") == pytest.approx(18 / 24, abs=1e-3)


def test_style_canny_uses_the_official_edge_preprocessor(media, tmp_path):
    p = prep("style", media, tmp_path, control="canny")
    node = workflow.find_node(p.prompt, "Canny control")[1]
    assert node["class_type"] == "CannyEdgePreprocessor"
    assert (node["inputs"]["low_threshold"], node["inputs"]["high_threshold"]) == (92, 200)


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_field_target_is_a_node_of_one_of_the_modes_graphs(mode):
    m = modes.MODES[mode]
    titles = {
        n["_meta"]["title"]
        for template in m.workflows.values()
        for n in workflow.load_template(template).values()
    }
    targets = {title for f in m.fields for title, _ in f.patch}
    assert targets <= titles, targets - titles


def test_ltx25_is_the_default_where_it_has_a_graph_and_the_others_say_why_not():
    for name, m in modes.MODES.items():
        field = m.field("model")
        if name in ("t2v", "i2v", "keyframe", "extend", "retake"):
            assert field.default == modes.LTX25 and field.choices == (modes.LTX25, modes.LTX23)
        else:
            assert field.choices == (modes.LTX23,) and "LTX-2.5" in field.help


@pytest.mark.parametrize("mode", ["t2v", "i2v", "keyframe"])
def test_the_model_choice_picks_its_familys_graph_and_files(mode, media, tmp_path):
    files = {}
    for model in (modes.LTX25, modes.LTX23):
        p = prep(mode, media, tmp_path, model=model)
        assert p.spec.inputs["model"] == model
        assert workflow.validate(p.prompt, SCHEMAS) == []
        files[model] = {r.filename for r in workflow.model_files(p.prompt)}
    assert all("ltx-2.5" in name for name in files[modes.LTX25])
    assert not any("ltx-2.5" in name for name in files[modes.LTX23])


AUTO_MODES = [n for n, m in modes.MODES.items() if any(f.name == "auto_length" for f in m.fields)]


def test_automatic_length_is_offered_where_ltx25_makes_the_length():
    assert AUTO_MODES == ["t2v", "i2v", "keyframe"]
    assert all(modes.LTX25 in modes.MODES[m].models for m in AUTO_MODES)


@pytest.mark.parametrize("mode", AUTO_MODES)
def test_automatic_length_links_both_latents_to_the_duration_head(mode, media, tmp_path):
    p = prep(mode, media, tmp_path, auto_length=True, frames=49, fps=24)
    duration_id, duration = workflow.find_node(p.prompt, "Duration")
    assert node_input(p.prompt, "Video latent", "length") == [duration_id, 0]
    assert node_input(p.prompt, "Audio latent", "frames_number") == [duration_id, 0]
    assert duration["inputs"]["max_seconds"] == pytest.approx(49 / 24, abs=1e-3)
    assert duration["inputs"]["min_seconds"] == patches.AUTO_MIN_S
    assert "ltx-2.5-duration-head-bf16.safetensors" in {
        r.filename for r in workflow.model_files(p.prompt)
    }
    assert workflow.validate(p.prompt, SCHEMAS) == []
    plain = prep(mode, media, tmp_path, frames=49)  # off: no head, nothing to download for it
    assert not workflow.has_node(plain.prompt, "Duration")
    assert node_input(plain.prompt, "Video latent", "length") == 49


def test_a_cap_shorter_than_the_shortest_choice_still_gives_the_head_a_valid_range(media, tmp_path):
    p = prep("t2v", media, tmp_path, auto_length=True, frames=9, fps=24)
    inputs = workflow.find_node(p.prompt, "Duration")[1]["inputs"]
    assert inputs["min_seconds"] <= inputs["max_seconds"] == patches.DURATION_MIN_S


def test_automatic_length_on_ltx23_is_refused_naming_the_field(media, tmp_path):
    with pytest.raises(AppError) as err:
        prep("t2v", media, tmp_path, auto_length=True, model=modes.LTX23)
    assert err.value.kind == "bad_input" and err.value.where == "auto_length"
    assert "LTX-2.5" in err.value.hint


def test_the_duration_head_is_downloaded_with_its_modes_models():
    names = {n.file.name for n in models.needs_for_mode("t2v", None, "full")}
    assert "ltx-2.5-duration-head-bf16.safetensors" in names
    assert "ltx-2.5-duration-head-bf16.safetensors" not in {
        n.file.name for n in models.needs_for_mode("a2v", None, "full")
    }
