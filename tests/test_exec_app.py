"""L-exec, end to end: `python app.py` on the real engine and the tiny weights, driven only through
its public API (gradio_client), as a script would. No double: every job runs its whole graph."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import history
import modes
from testkit.mediagen import make_mp4, make_png, make_wav

pytestmark = pytest.mark.comfy

SMALL = {"preset": "fast", "width": 320, "height": 256}
# What the video edits need besides their video (a short context: the tiny set's clips are 1 s).
EDIT_VALUES = {
    "extend": {"seconds": 0.5, "context_frames": 9},
    "retake": {"start": 0.25, "end": 0.5},
}
SPEECH_S = 2.875


@pytest.fixture(scope="module")
def client(real_app):
    from gradio_client import Client

    return Client(real_app.url, verbose=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("e2e-media")
    return {
        "image": make_png(d / "first.png", 320, 256, (200, 120, 40)),
        "first_image": make_png(d / "first.png", 320, 256, (200, 120, 40)),
        "last_image": make_png(d / "last.png", 320, 256, (30, 90, 200)),
        # Not a whole number of frames at 24 fps (69 frames): the video must cover all of it.
        "audio": make_wav(d / "voice.wav", seconds=SPEECH_S, kind="chirp"),
        "video": make_mp4(d / "clip.mp4", seconds=1.0, width=320, height=256, fps=24),
    }


def api_values(mode: str, media: dict, **values) -> dict:
    from gradio_client import handle_file

    fields = {f.name: f for f in modes.MODES[mode].fields}
    out = {"prompt": f"a {mode} test, waves on rocks at dusk", **SMALL, **EDIT_VALUES.get(mode, {})}
    out.update(values)
    if "frames" in fields and "video" not in fields:
        out.setdefault("frames", 9)
    for name, f in fields.items():
        if f.kind in modes.MEDIA_KINDS and f.required:
            out[name] = handle_file(str(media[name]))
    return out


def video_shape(path: str) -> tuple:
    import av

    with av.open(path) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        audio = len(container.streams.audio)
        return (video.codec_context.width, video.codec_context.height), frames, audio


def audio_seconds(path: str) -> float:
    """How long the mp4's sound really plays: its decoded samples, not the header's claim."""
    import av

    with av.open(path) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio=0))
        return samples / stream.rate


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_mode_generates_through_the_api(mode, client, media, real_app):
    video, used = client.predict(**api_values(mode, media), api_name=f"/{mode}")
    size, frames, audio = video_shape(video)
    expected = (used["width"], used["height"]), used["frames"]
    if "edit" in used:  # a video edit: the result is the source's size, its length its own
        result = used["edit"]["result"]
        expected = (result["width"], result["height"]), result["frames"]
        assert result["frames"] == used["edit"]["frames"] + used["edit"].get("new_frames", 0)
    assert (size, frames, audio) == (*expected, 1)
    job = history.open_store(real_app.data).get(used["job_id"])
    assert job.status == "done" and job.output.is_file()
    assert digest(str(job.output)) == digest(video)  # what History keeps is what was served
    if mode in ("a2v", "lipsync"):  # the user's sound, whole: 69 frames of it, so 73 made
        assert used["frames"] == 73 and used["frames"] / used["fps"] >= SPEECH_S
        assert audio_seconds(video) >= SPEECH_S - 0.01


def test_five_concurrent_api_jobs_are_all_recorded_with_distinct_outputs(client, media, real_app):
    submitted = [
        client.submit(**api_values("t2v", media, seed=100 + n), api_name="/t2v") for n in range(5)
    ]
    results = [job.result(timeout=600) for job in submitted]
    ids = [used["job_id"] for _, used in results]
    assert len(set(ids)) == 5
    assert [used["seed"] for _, used in results] == [100, 101, 102, 103, 104]
    store = history.open_store(real_app.data)
    records = [store.get(job_id) for job_id in ids]
    assert all(r is not None and r.status == "done" for r in records)
    assert len({digest(str(r.output)) for r in records}) == 5
    assert len({r.output for r in records}) == 5


def test_the_health_check_says_the_tiny_set_is_in_use(real_app):
    status, body = real_app.health()
    assert status == 200
    assert any("tiny random-weight" in w for w in body.get("warnings", [])), body


def test_the_model_family_is_chosen_per_job_through_the_api_and_recorded(client, media, real_app):
    store = history.open_store(real_app.data)
    for model in ("ltx-2.3", "ltx-2.5"):
        video, used = client.predict(**api_values("i2v", media, model=model), api_name="/i2v")
        assert used["model"] == model and video_shape(video)[2] == 1
        job = store.get(used["job_id"])
        assert (job.status, job.used["model"], job.params["model"]) == ("done", model, model)
    with pytest.raises(Exception, match=r"\[bad_input\].*model"):
        client.predict(**api_values("a2v", media, model="ltx-2.5"), api_name="/a2v")


def test_a_two_lora_job_through_the_api_is_recorded_and_a_misfit_is_refused_by_name(
    client, media, real_app
):
    loras = {"lora_1": "cinemagraph", "lora_1_strength": 0.7,
             "lora_2": "my-ltx-2.5-lora.safetensors", "lora_2_strength": -0.4}  # fmt: skip
    video, used = client.predict(**api_values("t2v", media, model="ltx-2.5", **loras),
                                 api_name="/t2v")  # fmt: skip
    assert video_shape(video)[1] == used["frames"]
    job = history.open_store(real_app.data).get(used["job_id"])
    assert job.status == "done" and {k: job.used[k] for k in loras} == loras
    assert {k: job.replay()[k] for k in loras} == loras  # what "use these settings" puts back
    with pytest.raises(Exception, match=r"\[bad_input\].*lora_2.*my-ltx-2.5-lora.safetensors "
                       r"does not fit LTX-2.3"):  # fmt: skip
        client.predict(**api_values("t2v", media, model="ltx-2.3", **loras), api_name="/t2v")


def test_automatic_length_through_the_api_records_the_length_chosen(client, media, real_app):
    values = api_values("t2v", media, frames=49, auto_length=True)
    video, used = client.predict(**values, api_name="/t2v")
    frames = video_shape(video)[1]
    assert used["frames"] == frames and used["longest_frames"] == 49 and frames < 49
    assert used["duration"] == round(frames / used["fps"], 3)
    assert any(note.startswith("LTX-2.5 chose") for note in used["notes"])
    job = history.open_store(real_app.data).get(used["job_id"])
    assert job.replay()["frames"] == 49  # reusing its settings keeps the cap the user set
    with pytest.raises(Exception, match=r"\[bad_input\].*auto_length"):
        client.predict(**{**values, "model": "ltx-2.3"}, api_name="/t2v")


def test_extend_again_grows_a_minute_long_clip_and_history_links_each_step(
    client, real_app, tmp_path_factory
):
    """A 58 s clip, extended by 1 s, then the result extended again by its History job id: 60 s,
    each step its own job, linked to the one it extends, its first part the clip it extends."""
    from gradio_client import handle_file

    import splice

    folder = tmp_path_factory.mktemp("long")
    source = make_mp4(folder / "long.mp4", seconds=58.0, width=320, height=256, fps=24)
    common = {"prompt": "the waves roll on", **SMALL, "seconds": 1.0, "context_frames": 9}
    first_video, first = client.predict(
        **common, video=handle_file(str(source)), api_name="/extend"
    )
    second_video, second = client.predict(
        **common, video=f"job:{first['job_id']}", api_name="/extend"
    )

    assert splice.probe(first_video).frames == 58 * 24 + 24
    got = splice.probe(second_video)
    assert got.frames == 58 * 24 + 48 and got.seconds == pytest.approx(60.0, abs=1 / 24)
    store = history.open_store(real_app.data)
    assert store.get(second["job_id"]).used["source_job"] == {"video": first["job_id"]}
    assert store.get(second["job_id"]).used["edit"]["frames"] == 58 * 24 + 24
    assert "source_job" not in store.get(first["job_id"]).used  # an upload, not a job
    # The second step starts as the first one's result (a re-encode apart), at the seam too. The
    # tiny model's frames are noise, the hardest picture for a codec: unlike frames differ by ~80.
    import numpy as np

    tail = slice(58 * 24, 58 * 24 + 24)
    made = np.stack(list(splice.frames(first_video)))[tail].astype(float)
    kept = np.stack(list(splice.frames(second_video)))[tail].astype(float)
    assert np.abs(made - kept).mean() < 8


def test_a_scripts_job_status_says_its_stage_percentage_and_time_left(client, media):
    """gradio_client's `job.status().progress_data` carries the line the page shows (Gradio
    lets an app set no `eta` of its own while a job runs: the time left is in the line)."""
    import concurrent.futures
    import re

    job = client.submit(**api_values("t2v", media, seed=4242), api_name="/t2v")
    lines: list[str] = []
    while not job.done():
        status = job.status()
        for unit in status.progress_data or []:
            if unit.desc and unit.desc not in lines:
                lines.append(unit.desc)
        concurrent.futures.wait([job.future], timeout=0.05)  # until done, or the next look
    job.result()
    timed = [s for s in lines if re.search(r"\d+% · (about \d+ (s|min)[^·]* left|almost done)", s)]
    assert timed, lines
    stages = {s.split(" · ")[0] for s in timed}
    assert stages & {"Loading the models", "Encoding the prompt", "Sampling pass 1", "Decoding"}
