"""L1: the next-step actions (next_steps.py): which are offered, the files each derives from a
finished video, and the API's `job:<id>` naming one of the caller's jobs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import media
import modes
import next_steps
import prepare
from errors import AppError
from fields import Field
from job_spec import SOURCE
from testkit.history_helpers import failed_job, finished_job, store_in_data_dir
from testkit.mediagen import make_mp4, make_png

store = pytest.fixture(store_in_data_dir, name="store")
FPS, SECONDS, SIDE = 8, 1.0, 64


@pytest.fixture
def video(tmp_path):
    return make_mp4(tmp_path / "ComfyUI_00001_.mp4", seconds=SECONDS, width=SIDE, height=SIDE)


@pytest.fixture
def silent(tmp_path):
    return make_mp4(tmp_path / "ComfyUI_00002_.mp4", seconds=SECONDS, audio=False)


def generated(i: int, frames: int) -> np.ndarray:
    """Frame `i` as testkit.mediagen.make_mp4 drew it (before the codec)."""
    img = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
    img[..., 0] = (np.arange(SIDE) * 255 // (SIDE - 1)).astype(np.uint8)
    img[..., 1] = (i * 255 // frames) % 256
    return img


# -- the table ---------------------------------------------------------------------------------


def test_the_table_names_each_next_step_once_with_its_mode_field_and_file():
    assert [a.key for a in next_steps.ACTIONS] == ["extend", "retake", "i2v", "style", "a2v"]
    table = {a.key: (a.mode, a.field, a.derive) for a in next_steps.ACTIONS}
    assert table["extend"] == ("extend", "video", next_steps.WHOLE)
    assert table["retake"] == ("retake", "video", next_steps.WHOLE)
    assert table["i2v"] == ("i2v", "image", next_steps.LAST_FRAME)
    assert table["style"] == ("style", "video", next_steps.WHOLE)
    assert table["a2v"] == ("a2v", "audio", next_steps.SOUND)


def test_only_actions_whose_mode_exists_with_that_field_are_offered(monkeypatch):
    have = [a.key for a in next_steps.actions()]
    assert {"i2v", "style", "a2v"} <= set(have)
    assert all(a.mode in modes.MODES for a in next_steps.actions())
    assert {"extend", "retake"} <= set(have)  # the edits, with their required `video`
    # A mode without the field an action fills is not offered it.
    monkeypatch.setitem(modes.MODES, "extend", SimpleNamespace(fields=()))
    assert "extend" not in [a.key for a in next_steps.actions()]
    # A field of another kind than the file the action gives is not one it fills.
    monkeypatch.setitem(modes.MODES, "extend", SimpleNamespace(fields=(Field("video", "image"),)))
    assert "extend" not in [a.key for a in next_steps.actions()]


def test_a_done_job_offers_every_action_and_others_offer_none(store, video, tmp_path):
    done = store.get(finished_job(store, video, tmp_path))
    offers = next_steps.offers(done)
    assert [o.action.key for o in offers] == [a.key for a in next_steps.actions()]
    assert all(o.ok for o in offers)
    assert next_steps.offers(store.get(failed_job(store))) == []
    assert next_steps.offers(None) == []


def test_a_video_without_sound_says_why_it_cannot_start_audio_to_video(store, silent, tmp_path):
    job = store.get(finished_job(store, silent, tmp_path))
    said = {o.action.key: o.why for o in next_steps.offers(job)}
    assert said["a2v"] == next_steps.NO_SOUND and "no sound" in said["a2v"]
    assert said["style"] == said["i2v"] == ""
    with pytest.raises(AppError) as caught:
        next_steps.derive(store, job, next_steps.SOUND, "audio")
    assert caught.value.where == "audio" and "has no sound" in caught.value.message


# -- the files ---------------------------------------------------------------------------------


def test_the_whole_video_is_the_jobs_own_output(store, video, tmp_path):
    job = store.get(finished_job(store, video, tmp_path))
    assert next_steps.derive(store, job, next_steps.WHOLE) == job.output


def test_the_last_frame_png_is_the_videos_last_frame(store, video, tmp_path):
    import av
    from PIL import Image

    job = store.get(finished_job(store, video, tmp_path))
    png = next_steps.derive(store, job, next_steps.LAST_FRAME, "image")
    assert png.parent == store.jobs_dir / job.id and png.suffix == ".png"
    with av.open(str(job.output)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    frames = len(decoded)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (SIDE, SIDE)
        got = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(got - decoded[-1]).max() <= 2  # the decoded last frame, as decoded
    drawn = np.abs(got - generated(frames - 1, frames)).mean()
    first = np.abs(got - generated(0, frames)).mean()
    assert drawn < 6 < first, (drawn, first)  # within the codec's tolerance; not the first
    media.inspect_image(png, "image")  # a file i2v takes
    # Made once and kept: asking again gives the same file.
    made = png.stat().st_mtime_ns
    assert next_steps.derive(store, job, next_steps.LAST_FRAME).stat().st_mtime_ns == made


def test_the_sound_is_a_wav_as_long_as_the_videos_sound(store, video, tmp_path):
    job = store.get(finished_job(store, video, tmp_path))
    wav = next_steps.derive(store, job, next_steps.SOUND, "audio")
    assert wav.suffix == ".wav" and wav.parent == store.jobs_dir / job.id
    took = media.inspect_audio(wav, "audio")
    assert took.container == "wav"
    assert abs(took.seconds - media.inspect_audio(job.output).seconds) < 0.03
    assert abs(took.seconds - SECONDS) < 0.1


def test_a_derived_file_counts_toward_its_jobs_size(store, video, tmp_path):
    job = store.get(finished_job(store, video, tmp_path))
    before = store.get(job.id).bytes
    wav = next_steps.derive(store, job, next_steps.SOUND, "audio")
    assert store.get(job.id).bytes >= before + wav.stat().st_size  # (its record grows a little)


def test_a_retake_opens_with_its_end_at_the_videos_length_never_past_it(tmp_path):
    retake = next_steps.BY_KEY["retake"]
    assert retake.sets == ("end",) and modes.MODES["retake"].field("end").required
    assert all(a.sets == () for a in next_steps.ACTIONS if a.key != "retake")
    at_24 = make_mp4(tmp_path / "a.mp4", seconds=1.25, fps=24)  # 30 frames: 1.25 s
    at_6 = make_mp4(tmp_path / "b.mp4", seconds=7 / 6, fps=6)  # 7 frames: 1.1666... s
    assert next_steps.prefilled(retake, at_24) == {"end": 1.25}
    assert next_steps.prefilled(retake, at_6) == {"end": 1.16}  # below, not rounded up
    assert next_steps.prefilled(next_steps.BY_KEY["extend"], at_24) == {}
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert next_steps.prefilled(retake, broken) == {}  # the field keeps what it had


def test_a_job_deleted_takes_its_derived_files_with_it(store, video, tmp_path):
    job = store.get(finished_job(store, video, tmp_path))
    png = next_steps.derive(store, job, next_steps.LAST_FRAME)
    assert store.delete(job.id)
    assert not png.exists()


# -- the API's job:<id> --------------------------------------------------------------------------


def test_a_job_ref_is_read_from_its_prefix_only():
    assert next_steps.job_ref("job:20260101-abc") == "20260101-abc"
    assert next_steps.job_ref("JOB: x ") == "x"
    assert next_steps.job_ref("uploads/job:x") is None
    assert next_steps.job_ref({"path": "job:x"}) is None


def test_a_job_ref_resolves_to_the_owners_done_job_by_the_fields_kind(store, video, tmp_path):
    mine = finished_job(store, video, tmp_path)
    store._db.execute("UPDATE jobs SET owner = 'key:a' WHERE id = ?", (mine,))
    path, source = next_steps.resolve(mine, "video", "video", "key:a")
    assert (path, source) == (store.get(mine).output, mine)
    assert next_steps.resolve(mine, "image", "image", "key:a")[0].suffix == ".png"
    assert next_steps.resolve(mine, "audio", "audio", None)[0].suffix == ".wav"  # local: any


@pytest.mark.parametrize("case", ["someone else's", "unknown", "failed", "odd id"])
def test_a_job_ref_that_is_not_a_finished_job_of_yours_is_refused_naming_the_field(
    store, video, tmp_path, case
):
    mine = finished_job(store, video, tmp_path)
    store._db.execute("UPDATE jobs SET owner = 'key:a' WHERE id = ?", (mine,))
    job_id = {
        "someone else's": mine,
        "unknown": "20990101-000000-deadbeef",
        "failed": failed_job(store),
        "odd id": "x\ny" * 40,
    }[case]
    owner = "key:b" if case == "someone else's" else None
    with pytest.raises(AppError) as caught:
        next_steps.resolve(job_id, "video", "video", owner)
    err = caught.value
    assert err.kind == "bad_input" and err.where == "video"
    shown = "(that id)" if case == "odd id" else job_id
    assert err.line().startswith(f"[bad_input] Check your input: video: no finished job {shown}")
    assert "\n" not in err.line()


# -- the new job records where its input came from ---------------------------------------------


def test_a_checked_job_records_which_job_its_media_came_from(tmp_path):
    image = make_png(tmp_path / "last.png", 96, 64)
    params = {"image": str(image), "prompt": "on", SOURCE: {"image": "J1", "prompt": "J2"}}
    spec = prepare.check("i2v", params, job_id="J3").spec
    assert spec.source_job == {"image": "J1"}  # media fields only
    assert spec.record()[SOURCE] == {"image": "J1"}
    plain = prepare.check("i2v", {"image": str(image), "prompt": "on"}, job_id="J4").spec
    assert SOURCE not in plain.record()
