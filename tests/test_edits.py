"""The video edits' plans and refusals (edits.py), and the cuts and joins they rely on (splice.py),
on small clips made here: no engine."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import edits
import prepare
import splice
from errors import AppError
from job_spec import Spec
from testkit.mediagen import make_mp4, rotated_mp4

FPS = 24


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("edits")
    out = {
        "two": make_mp4(d / "two.mp4", seconds=2.0, width=96, height=64, fps=FPS, kind="chirp"),
        "other": make_mp4(
            d / "other.mp4", seconds=2.0, width=128, height=96, fps=FPS, kind="noise"
        ),  # fmt: skip
        "silent": make_mp4(
            d / "silent.mp4", seconds=1.0, width=96, height=64, fps=FPS, audio=False
        ),  # fmt: skip
    }
    out["portrait"] = rotated_mp4(out["two"], d / "portrait.mp4", 90)  # stored 96x64
    return out


def clip(frames: int, audio: bool = True) -> splice.Clip:
    return splice.Clip(320, 256, Fraction(FPS), frames, audio)


def refusal_of(call) -> AppError:
    with pytest.raises(AppError) as caught:
        call()
    assert "\n" not in caught.value.message  # one line
    return caught.value


def refusal(call) -> AppError:
    err = refusal_of(call)
    assert err.kind == "bad_input"
    return err


# -- plans


def test_extend_plans_its_context_and_the_frames_it_adds():
    frames, plan = edits.EXTEND.plan(
        {"seconds": 4.0, "context_frames": 25, "keep_sound": True}, clip(240), 241, FPS, []
    )
    assert plan == {"frames": 240, "fps": 24.0, "context": 25, "new_frames": 96,
                    "window_start": 215, "window_frames": 25,
                    "result": {"frames": 336, "width": 320, "height": 256,
                               "seconds": 14.0}}  # fmt: skip
    assert frames == 25 + 96 and (frames - 1) % 8 == 0


def test_extend_rounds_the_new_part_up_to_whole_latent_frames_and_keeps_the_count_asked():
    frames, plan = edits.EXTEND.plan(
        {"seconds": 0.5, "context_frames": 9, "keep_sound": True}, clip(48), 121, FPS, []
    )
    assert plan["new_frames"] == 12 and frames == 9 + 16


def test_extend_of_a_clip_shorter_than_its_context_continues_all_of_it():
    notes = []
    _, plan = edits.EXTEND.plan(
        {"seconds": 1.0, "context_frames": 25, "keep_sound": True}, clip(20), 121, FPS, notes
    )
    assert plan["context"] == 17 and plan["window_start"] == 3
    assert "last 17" in notes[0]


def test_extend_past_the_presets_frames_names_seconds_with_what_fits():
    err = refusal(lambda: edits.EXTEND.plan(
        {"seconds": 5.0, "context_frames": 25, "keep_sound": True}, clip(240), 121, FPS, []
    ))  # fmt: skip
    assert err.where == "seconds" and "121" in err.message
    assert "at most 4.00 s" in err.hint


def test_extend_that_continues_the_sound_of_a_silent_video_names_the_video():
    err = refusal(lambda: edits.EXTEND.plan(
        {"seconds": 1.0, "context_frames": 25, "keep_sound": True}, clip(48, False), 121, FPS, []
    ))  # fmt: skip
    assert err.where == "video" and "no sound" in err.message
    frames, _ = edits.EXTEND.plan(
        {"seconds": 1.0, "context_frames": 25, "keep_sound": False}, clip(48, False), 121, FPS, []
    )
    assert frames == 49


def test_retake_plans_a_window_around_its_range():
    frames, plan = edits.RETAKE.plan({"start": 4.0, "end": 5.0}, clip(240), 241, FPS, [])
    assert (plan["start_frame"], plan["end_frame"]) == (96, 120)
    assert plan["window_start"] <= 96 - 16 and plan["window_start"] + frames >= 120 + 16
    assert frames == plan["window_frames"] and (frames - 1) % 8 == 0


def test_an_edits_result_is_its_source_and_what_it_adds_as_its_done_line_says():
    from banners_ui import success_banner
    from testkit.history_helpers import ran

    _, grown = edits.EXTEND.plan(
        {"seconds": 1.0, "context_frames": 25, "keep_sound": True}, clip(48), 121, FPS, []
    )
    assert edits.EXTEND.result_frames(grown) == 48 + 24
    _, kept = edits.RETAKE.plan({"start": 0.5, "end": 1.0}, clip(48), 121, FPS, [])
    assert edits.RETAKE.result_frames(kept) == 48
    spec = ran(mode="extend", frames=49, edit=grown, seconds=1.5)
    said = success_banner(spec)
    assert "the result lasts 3.00 s (72 frames at 24 fps); this run made 768x512, 49 frames" in said
    assert "the result lasts" not in success_banner(ran(mode="t2v", seconds=1.5))


def test_retake_at_the_clips_ends_keeps_its_window_inside_the_clip():
    for start, end in ((0.0, 0.5), (9.5, 10.0)):
        frames, plan = edits.RETAKE.plan({"start": start, "end": end}, clip(240), 241, FPS, [])
        assert 0 <= plan["window_start"] <= plan["start_frame"]
        assert plan["end_frame"] <= plan["window_start"] + frames <= 240


@pytest.mark.parametrize(
    ("start", "end", "field", "said"),
    [
        (10.5, 11.0, "start", "lasts 10.00 s"),
        (3.0, 3.0, "end", "must be after Start"),
        (3.0, 2.0, "end", "must be after Start"),
        (3.0, 10.5, "end", "lasts 10.00 s"),
        (0.0, 9.0, "end", "remakes at most"),
    ],
)
def test_retake_ranges_outside_the_clip_or_too_long_name_the_field(start, end, field, said):
    err = refusal(lambda: edits.RETAKE.plan({"start": start, "end": end}, clip(240), 121, FPS, []))
    assert err.where == field and said in err.message


def test_a_retake_that_covers_nearly_the_whole_clip_says_so():
    err = refusal(lambda: edits.RETAKE.plan({"start": 0.1, "end": 1.0}, clip(24), 241, FPS, []))
    assert err.where == "end" and "nearly the whole" in err.message


def test_a_source_over_ten_minutes_is_refused_before_it_is_decoded(clips):
    err = refusal(lambda: edits.RETAKE.probe(clips["two"], 601.0))
    assert err.where == "video" and "600 s" in err.message
    assert edits.EXTEND.probe(clips["two"], 2.0).frames == 48


def test_the_checks_refuse_before_anything_is_staged(clips, tmp_path):
    inbox = tmp_path / "input"
    err = refusal(lambda: prepare.job(
        "retake", {"prompt": "x", "video": str(clips["two"]), "start": 1.0, "end": 5.0},
        input_dir=inbox, job_id="j1",
    ))  # fmt: skip
    assert err.where == "end"
    assert not inbox.exists() or not any(inbox.iterdir())


def test_a_prepared_edit_stages_only_its_window_and_records_its_plan(clips, tmp_path):
    prepared = prepare.job(
        "extend", {"prompt": "x", "video": str(clips["two"]), "seconds": 1.0, "context_frames": 9},
        input_dir=tmp_path, job_id="j2",
    )  # fmt: skip
    staged = tmp_path / prepared.spec.files["video"]
    assert splice.probe(staged).frames == 9
    assert prepared.spec.record()["edit"]["window_start"] == 48 - 9
    assert prepared.spec.frames == 9 + 24


# -- cuts and joins


def test_cut_is_the_frames_and_sound_asked(clips, tmp_path):
    out = splice.cut(clips["two"], tmp_path / "cut.mp4", start=30, count=9)
    assert splice.probe(out).frames == 9
    source = np.stack(list(splice.frames(clips["two"], 30, 9))).astype(float)
    got = np.stack(list(splice.frames(out))).astype(float)
    assert np.abs(source - got).mean() < 4
    assert splice.sound(out).shape[1] / splice.RATE == pytest.approx(9 / FPS, abs=0.03)


def test_cut_of_a_silent_clip_has_silence(clips, tmp_path):
    out = splice.cut(clips["silent"], tmp_path / "cut.mp4", start=0, count=9)
    assert splice.probe(out).has_audio and np.abs(splice.sound(out)).max() < 1e-3


def test_join_plays_the_source_then_the_new_frames_scaled_to_its_size(clips, tmp_path):
    out = splice.join(clips["two"], clips["other"], tmp_path / "j.mp4", context=9, new_frames=20)
    got = splice.probe(out)
    assert (got.frames, got.width, got.height) == (48 + 20, 96, 64)
    frames = np.stack(list(splice.frames(out))).astype(float)
    source = np.stack(list(splice.frames(clips["two"]))).astype(float)
    other = np.stack(list(splice.frames(clips["other"], 9, 20, (96, 64)))).astype(float)
    assert np.abs(frames[:48] - source).mean() < 4
    assert np.abs(frames[48:] - other).mean() < 4
    assert splice.sound(out).shape[1] / splice.RATE == pytest.approx(68 / FPS, abs=0.03)


def test_splice_replaces_the_range_and_keeps_the_rest(clips, tmp_path):
    out = splice.splice(
        clips["two"], clips["other"], tmp_path / "s.mp4", window_start=4, start=12, end=30
    )
    frames = np.stack(list(splice.frames(out))).astype(float)
    source = np.stack(list(splice.frames(clips["two"]))).astype(float)
    other = np.stack(list(splice.frames(clips["other"], 8, 18, (96, 64)))).astype(float)
    diffs = np.abs(frames - source).mean(axis=(1, 2, 3))
    assert diffs[:12].max() < 4 and diffs[30:].max() < 4
    assert np.abs(frames[12:30] - other).mean() < 4
    mine, theirs = splice.sound(out), splice.sound(clips["two"], 2.0)
    a, b = round(12 / FPS * splice.RATE), round(30 / FPS * splice.RATE)
    assert np.abs(mine[:, : a - 2400] - theirs[:, : a - 2400]).mean() < 0.02
    n = min(mine.shape[1], theirs.shape[1])
    assert np.abs(mine[:, b + 2400 : n] - theirs[:, b + 2400 : n]).mean() < 0.02
    assert np.abs(mine[:, a + 2400 : b - 2400] - theirs[:, a + 2400 : b - 2400]).mean() > 0.05


def test_join_refuses_a_made_clip_shorter_than_its_plan(clips, tmp_path):
    with pytest.raises(ValueError):
        splice.join(clips["two"], clips["silent"], tmp_path / "j.mp4", context=9, new_frames=40)


def test_the_sound_crosses_the_seam_without_a_click(clips, tmp_path):
    """A sine joined to noise: around the seam no step between samples is larger than the
    loudest the two signals make on their own."""
    out = splice.join(clips["two"], clips["other"], tmp_path / "j.mp4", context=9, new_frames=24)
    samples = splice.sound(out)[0]
    seam = round(48 / FPS * splice.RATE)
    steps = np.abs(np.diff(samples))
    around = steps[seam - 4800 : seam + 4800]
    away = np.r_[steps[seam - 24000 : seam - 4800], steps[seam + 4800 : seam + 24000]]
    assert around.max() <= away.max() * 1.05


def test_a_context_off_the_8k_plus_1_grid_is_snapped_down_to_it():
    notes = []
    frames, plan = edits.EXTEND.plan(
        {"seconds": 1.0, "context_frames": 20, "keep_sound": True}, clip(240), 241, FPS, notes
    )
    assert plan["context"] == 17 and (frames - 1) % 8 == 0 and "17 frames" in notes[0]


def test_a_made_clip_that_does_not_fit_its_plan_fails_clearly_and_is_removed(clips, tmp_path):
    made = tmp_path / "made.mp4"
    made.write_bytes(clips["silent"].read_bytes())  # 24 frames, fewer than the plan's 9 + 40
    spec = Spec(mode="extend", job_id="j", preset="fast", seed=1, width=96, height=64,
                frames=49, fps=FPS, stages=1,
                edit={"context": 9, "new_frames": 40})  # fmt: skip
    err = refusal_of(lambda: edits.EXTEND.finish(spec, clips["two"], made))
    assert err.kind == "node_failed" and "could not be put into the video" in err.message
    assert not made.exists()


# -- a phone's portrait clip: stored sideways, shown upright by its display matrix


def test_a_portrait_clip_is_read_upright_as_the_engine_reads_it(clips):
    import media
    import videofile

    clip = splice.probe(clips["portrait"])
    assert (clip.width, clip.height, clip.frames) == (64, 96, 48)
    info = media.inspect_video(clips["portrait"])
    assert (info.width, info.height) == (64, 96)
    stored = np.stack(list(splice.frames(clips["two"])))
    shown = np.stack(list(splice.frames(clips["portrait"])))
    assert shown.shape == (48, 96, 64, 3)
    assert np.array_equal(shown, np.rot90(stored, -1, axes=(1, 2)))  # a quarter turn clockwise
    assert videofile.first_frame(clips["portrait"]).size == (64, 96)
    assert videofile.last_frame(clips["portrait"]).size == (64, 96)
    scaled = next(splice.frames(clips["portrait"], size=(32, 48)))
    assert scaled.shape == (48, 32, 3)


def test_an_edit_of_a_portrait_clip_stays_portrait(clips, tmp_path):
    window = splice.cut(clips["portrait"], tmp_path / "cut.mp4", start=30, count=9)
    assert (splice.probe(window).width, splice.probe(window).height) == (64, 96)
    out = splice.join(clips["portrait"], clips["other"], tmp_path / "j.mp4", context=9,
                      new_frames=20)  # fmt: skip
    got = splice.probe(out)
    assert (got.frames, got.width, got.height) == (68, 64, 96)
    frames = np.stack(list(splice.frames(out))).astype(float)
    source = np.stack(list(splice.frames(clips["portrait"]))).astype(float)
    assert np.abs(frames[:48] - source).mean() < 4


COMFY_FRAMES = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from comfy_api.latest._input_impl.video_types import VideoFromFile
images = VideoFromFile(sys.argv[2]).get_components().images
np.save(sys.argv[3], (images.numpy() * 255).round().astype("uint8"))
"""


@pytest.mark.comfy
@pytest.mark.parametrize("degrees", [90, 270])
def test_a_portrait_clips_frames_are_the_ones_comfyuis_loader_gives(degrees, clips, tmp_path):
    """L-comfy: the pinned ComfyUI's own video loader (in a process of its own), on the same
    file, turns its frames the same way the app's reader does."""
    import subprocess
    import sys

    from conftest import SESSION_COMFY, real_engine_problems

    if problems := real_engine_problems():
        pytest.skip(f"needs the pinned ComfyUI checkout (`python bootstrap.py`): {problems[0]}")
    source = rotated_mp4(clips["two"], tmp_path / f"turned{degrees}.mp4", degrees)
    got = tmp_path / "comfy.npy"
    run = [sys.executable, "-c", COMFY_FRAMES, str(SESSION_COMFY), str(source), str(got)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = np.load(got).astype(float)
    ours = np.stack(list(splice.frames(source))).astype(float)
    assert theirs.shape == ours.shape == (48, 96, 64, 3)
    # the same frames, up to the colour conversion (ComfyUI converts to float RGB)
    assert np.abs(theirs - ours).mean() < 1.5 and np.abs(theirs - ours).max() <= 8
