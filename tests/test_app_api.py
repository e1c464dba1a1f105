"""L3: the named endpoints through gradio_client, against the real app on 127.0.0.1.

Only the GPU task, the weight download and the engine check are doubles (see app_helpers).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import av
import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file

import jobs
import modes
from errors import AppError
from job_spec import SOURCE
from testkit import mediagen
from testkit.app_helpers import media_inputs, required_values, running_app

ENDPOINTS = {f"/{name}" for name in modes.MODES} | {"/enhance"}  # enhance_ui.py
PROMPT = "a lighthouse on a cliff at dusk, waves crashing, gulls calling"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as running:
        yield running


@pytest.fixture(scope="module")
def client(served):
    return Client(served.url, verbose=False)


@pytest.fixture(autouse=True)
def fresh_engine(served):
    served.engine.reset()
    yield


def call(client: Client, mode: str, **kwargs):
    return client.predict(**kwargs, api_name=f"/{mode}")


def good_kwargs(mode: str, folder: Path) -> dict:
    kwargs = {name: handle_file(str(path)) for name, path in media_inputs(mode, folder).items()}
    kwargs.update(prompt=PROMPT, preset="fast", **required_values(mode))
    return kwargs


def refusal(client: Client, mode: str, **kwargs) -> str:
    with pytest.raises(Exception) as caught:
        call(client, mode, **kwargs)
    return str(caught.value)


# -- the API surface ---------------------------------------------------------------------------


def test_view_api_lists_exactly_the_mode_endpoints(client):
    info = client.view_api(print_info=False, return_format="dict")
    assert set(info["named_endpoints"]) == ENDPOINTS
    assert info["unnamed_endpoints"] == {}


def endpoint_info(client, mode: str) -> dict:
    return client.view_api(print_info=False, return_format="dict")["named_endpoints"][f"/{mode}"]


PYTHON_TYPES = {"text": "str", "int": "int", "float": "float", "bool": "bool"}


def python_type(f: modes.Field) -> str:
    if f.kind in modes.MEDIA_KINDS:
        return "filepath"
    if f.kind == "choice":
        return "Literal[" + ", ".join(f"'{c}'" for c in f.choices) + "]"
    return PYTHON_TYPES[f.kind]


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_view_api_parameters_are_the_mode_fields_by_keyword(client, mode):
    endpoint = endpoint_info(client, mode)
    params = {p["parameter_name"]: p for p in endpoint["parameters"]}
    assert set(params) == {f.name for f in modes.MODES[mode].fields}
    assert [r["label"] for r in endpoint["returns"]] == ["Result", "Parameters used"]


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_view_api_types_and_required_flags_are_the_fields(client, mode):
    params = {p["parameter_name"]: p for p in endpoint_info(client, mode)["parameters"]}
    for f in modes.MODES[mode].fields:
        p = params[f.name]
        assert p["python_type"]["type"] == python_type(f), f.name
        assert p["parameter_has_default"] is not f.required, f.name
        if not f.required:
            assert p["parameter_default"] == f.default, f.name


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_view_api_descriptions_name_range_default_and_help(client, mode):
    params = {p["parameter_name"]: p for p in endpoint_info(client, mode)["parameters"]}
    for f in modes.MODES[mode].fields:
        said = params[f.name]["python_type"]["description"]
        assert f.help in said, f.name
        if f.range_text():
            assert f.range_text().removeprefix("one of ") in said, f.name
        assert ("Required." if f.required else "Default: ") in said, f.name
        if f.kind in modes.MEDIA_KINDS:
            assert "FileData" not in said and "handle_file" in said, f.name
            assert any(word in said for word in ("PNG", "WAV", "MP4")), f.name


def test_a_required_parameter_left_out_is_refused_by_the_client(client):
    with pytest.raises(TypeError, match="prompt"):
        call(client, "t2v", preset="fast")


def test_optional_sizes_left_empty_come_from_the_aspect(client):
    _, used = call(client, "t2v", prompt=PROMPT, preset="fast", aspect="9:16")
    assert used["height"] > used["width"] and used["duration"] > 0


def test_an_optional_number_given_as_a_number_is_used(client):
    _, used = call(client, "t2v", prompt=PROMPT, preset="fast", width=512, height=512)
    assert (used["width"], used["height"]) == (512, 512)


# -- every mode end to end ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_endpoint_returns_playable_video_and_used_parameters(client, served, tmp_path, mode):
    before = len(served.engine.calls)
    video, used = call(client, mode, **good_kwargs(mode, tmp_path))

    assert len(served.engine.calls) == before + 1
    sent = served.engine.calls[-1]
    with av.open(video) as container:
        assert container.streams.video and container.streams.audio
    assert used["mode"] == mode
    assert used["preset"] == "fast" == sent["preset"]
    assert used["frames"] == sent["frames"]
    assert (used["frames"] - 1) % 8 == 0
    assert 0 <= used["seed"] <= modes.SEED_MAX
    assert used["width"] > 0 and used["height"] > 0
    assert Path(video).name == f"{mode}_{used['job_id']}.mp4"  # History's copy, named for the job
    assert not Path(sent["video"]).exists()  # ComfyUI's output folder keeps nothing


def test_progress_from_the_backend_reaches_the_client(client, served):
    served.engine.step_delay = 0.3
    job = client.submit(prompt=PROMPT, preset="fast", api_name="/t2v")
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while not job.done() and time.monotonic() < deadline:
        for unit in job.status().progress_data or []:
            seen.add(unit.desc or "")
        time.sleep(0.05)
    video, _ = job.result(timeout=30)
    assert Path(video).is_file()
    assert any(desc.startswith("Sampling stage 1, step") for desc in seen), seen
    assert "Checking model files" in seen or "model files ready (test double)" in seen, seen


def test_seed_and_snapped_frames_are_reported_as_used(client, served, tmp_path):
    _, used = call(client, "t2v", prompt=PROMPT, preset="fast", seed=1234, frames=100)
    assert used["seed"] == 1234
    assert used["frames"] == served.engine.calls[-1]["frames"] == 97
    assert any("8k+1" in note for note in used["notes"])


def test_each_job_writes_its_own_output_file(client, served):
    first, _ = call(client, "t2v", prompt=PROMPT, preset="fast")
    second, _ = call(client, "t2v", prompt=PROMPT, preset="fast")
    written = [Path(c["video"]) for c in served.engine.calls[-2:]]
    assert written[0] != written[1]
    assert all(
        path.resolve().is_relative_to((served.comfy / "output").resolve()) for path in written
    )
    assert Path(first).name != Path(second).name
    kept = [job.output for job in served.store().jobs(limit=2)]
    assert len(set(kept)) == 2 and all(path.is_file() for path in kept)


def test_uploads_are_staged_under_unique_sanitized_names(client, served, tmp_path):
    odd = mediagen.make_png(tmp_path / "my photo (1) ;rm -rf.png", 96, 64)
    names = []
    for _ in range(2):
        _, used = call(client, "i2v", image=handle_file(str(odd)), prompt=PROMPT, preset="fast")
        names.append(used["files"]["image"])
    assert names[0] != names[1]
    staged = [Path(c["prompt"][n]["inputs"]["image"]) for c in served.engine.calls[-2:]
              for n in c["prompt"] if c["prompt"][n]["class_type"] == "LoadImage"]  # fmt: skip
    assert [p.name for p in staged] == names
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", name), name
        # Staged for the run only: History keeps the job's own copy.
        assert not (served.comfy / "input" / name).exists()


# -- bad inputs: a clear message, no GPU time, and the app keeps serving -----------------------


def _text_as_image(tmp_path):
    return "i2v", {
        "image": handle_file(str(mediagen.make_text(tmp_path / "notes.png"))),
        "prompt": PROMPT,
    }


def _silent_audio(tmp_path):
    return "a2v", {
        "audio": handle_file(str(mediagen.make_wav(tmp_path / "empty.wav", seconds=0))),
        "prompt": PROMPT,
    }


def _too_many_frames(tmp_path):
    return "t2v", {"prompt": PROMPT, "frames": 10_000}


def _empty_prompt(tmp_path):
    return "t2v", {"prompt": ""}


BAD = {
    "text file as image": (_text_as_image, "image", "not a readable image"),
    "0-second audio": (_silent_audio, "audio", "0.00 s"),
    "10000 frames": (_too_many_frames, "frames", modes.MODES["t2v"].field("frames").range_text()),
    "empty prompt": (_empty_prompt, "prompt", "Prompt"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_clearly_before_gpu_time(client, served, tmp_path, case):
    make, field_name, detail = BAD[case]
    mode, kwargs = make(tmp_path)
    before = (len(served.engine.calls), served.engine.ensured)

    message = refusal(client, mode, **kwargs)

    assert "[bad_input]" in message
    assert field_name in message and detail in message
    assert "Traceback" not in message
    assert (len(served.engine.calls), served.engine.ensured) == before
    video, _ = call(client, "t2v", prompt=PROMPT, preset="fast")
    assert Path(video).is_file()


def _raw_call(url: str, mode: str, **given) -> str:
    """A request as a hand-written HTTP client sends it, without gradio_client's uploads."""
    info = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    params = info["named_endpoints"][f"/{mode}"]["parameters"]
    data = [given.get(p["parameter_name"], p.get("parameter_default")) for p in params]
    posted = httpx.post(f"{url}gradio_api/call/{mode}", json={"data": data}, timeout=30)
    if posted.status_code != 200:  # refused before it was queued
        return f"event: error\n{posted.json()['detail']}"
    event = posted.json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{mode}/{event}", timeout=60).text


@pytest.mark.parametrize("given", [{"path": "/etc/hostname"}, "/etc/hostname"], ids=["dict", "str"])
@pytest.mark.parametrize("mode", ["i2v", "a2v", "style"])
def test_a_server_path_given_as_media_is_refused_and_never_copied(served, mode, given):
    field_name = next(f.name for f in modes.MODES[mode].fields if f.kind in modes.MEDIA_KINDS)
    before = {job.id for job in served.store().jobs(limit=-1)}

    answer = _raw_call(served.url, mode, **{field_name: given, "prompt": PROMPT})

    assert "event: error" in answer
    # Refused by the app itself, or by Gradio's data model at the door: the same one line.
    assert "[bad_input]" in answer and "not uploaded to this server" in answer
    assert f"{field_name}:" in answer and "handle_file" in answer
    # The submission is recorded (every one is), refused, and keeps nothing it was given.
    new = [job for job in served.store().jobs(limit=-1) if job.id not in before]
    assert [(j.status, j.error_kind, j.params, j.inputs) for j in new] == [
        ("failed", "bad_input", {}, {})
    ]
    assert not any(
        p.name == "hostname" or p.read_bytes() == Path("/etc/hostname").read_bytes()
        for p in (served.data / "jobs").rglob("*")
        if p.is_file() and p.stat().st_size < 4096
    )


def test_oversized_upload_is_refused_before_any_job(tmp_path):
    big = mediagen.make_png(tmp_path / "big.png", 96, 64)
    with open(big, "ab") as fh:
        fh.write(b"\0" * 300_000)
    with running_app(tmp_path / "small", max_file_size=100_000) as running:
        response = httpx.post(
            f"{running.url}gradio_api/upload", files={"files": ("big.png", big.read_bytes())}
        )
        assert response.status_code == 413
        assert "size" in response.text.lower()
        with pytest.raises(ValueError, match="maximum file size"):
            call(
                Client(running.url, verbose=False),
                "i2v",
                image=handle_file(str(big)),
                prompt=PROMPT,
            )
        assert running.engine.calls == [] and running.engine.ensured == 0


# -- failures of the run itself -----------------------------------------------------------------


def test_gpu_task_aborted_is_retried_once_with_doubled_budget(client, served):
    served.engine.fail_with.append(gr.Error("GPU task aborted"))
    before = len(served.engine.calls)
    video, used = call(client, "t2v", prompt=PROMPT, preset="fast")
    multipliers = [c["duration_multiplier"] for c in served.engine.calls[before:]]
    assert multipliers == [1.0, jobs.RETRY_MULTIPLIER]
    assert jobs.RETRY_NOTE in used["notes"]
    assert Path(video).is_file()


def test_gpu_task_aborted_twice_is_reported_as_timeout(client, served):
    served.engine.fail_with.extend([gr.Error("GPU task aborted"), gr.Error("GPU task aborted")])
    before = len(served.engine.calls)
    message = refusal(client, "t2v", prompt=PROMPT, preset="balanced")
    assert len(served.engine.calls) == before + 2
    assert "[gpu_timeout]" in message and "fast preset" in message
    assert "Traceback" not in message


def test_out_of_memory_suggests_the_fast_preset(client, served):
    served.engine.fail_with.append(AppError("oom", "CUDA out of memory while sampling"))
    message = refusal(client, "t2v", prompt=PROMPT, preset="quality")
    assert "[oom]" in message and "fast preset" in message


def test_unexpected_exception_becomes_a_message_without_traceback(client, served):
    served.engine.fail_with.append(RuntimeError("secret internal detail"))
    message = refusal(client, "t2v", prompt=PROMPT)
    assert "[node_failed]" in message
    assert "secret internal detail" not in message and "Traceback" not in message


def test_missing_models_say_how_to_download(client, served):
    served.engine.ensure_error = AppError(
        "missing_model", "2 model file(s) are not on disk and downloads are off"
    )
    before = len(served.engine.calls)
    message = refusal(client, "t2v", prompt=PROMPT)
    assert "[missing_model]" in message and "Download" in message
    assert len(served.engine.calls) == before


def test_engine_not_ready_refuses_with_the_reason(client, served):
    served.engine.ready = False
    served.engine.problems = ["ComfyUI is not installed at comfyui/. Run `python bootstrap.py`."]
    message = refusal(client, "t2v", prompt=PROMPT)
    assert "[unavailable]" in message and "python bootstrap.py" in message
    assert "banner" not in message.lower()


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_named_even_when_generation_is_unavailable(client, served, tmp_path, case):
    served.engine.ready = False
    make, field_name, detail = BAD[case]
    mode, kwargs = make(tmp_path)
    message = refusal(client, mode, **kwargs)
    assert "[bad_input]" in message and field_name in message and detail in message


def test_video_outside_the_output_folder_is_refused(client, served, tmp_path):
    stray = mediagen.make_mp4(tmp_path / "stray.mp4", seconds=0.5)
    served.engine.video_path = str(stray)
    message = refusal(client, "t2v", prompt=PROMPT)
    assert "[node_failed]" in message and "output folder" in message


def test_a_submission_too_big_to_be_one_is_refused_as_it_arrives(served, monkeypatch):
    import api_refusals

    monkeypatch.setattr(api_refusals, "MAX_BODY_BYTES", 4096)
    data = ["x" * 8192]  # a data URL's worth of text, past the (lowered) limit
    answer = httpx.post(f"{served.url}gradio_api/call/t2v", json={"data": data}, timeout=30)
    assert answer.status_code == 413
    said = answer.json()["detail"]
    assert "larger than" in said and "/gradio_api/upload" in said
    # Under the limit, the body reaches Gradio (which judges the rest on its own).
    small = httpx.post(f"{served.url}gradio_api/call/t2v", json={"data": [PROMPT]}, timeout=30)
    assert small.status_code != 413 and "larger than" not in small.text


# -- a History job as a media value (next_steps: `job:<id>`) -------------------------------------


def test_a_history_job_id_as_a_video_value_restyles_that_jobs_video(client, served):
    served.engine.seconds = 1.5  # 12 frames: enough to restyle
    _, first = call(client, "t2v", prompt=PROMPT, preset="fast")
    source = served.store().get(first["job_id"])

    video, used = call(
        client, "style", video=f"job:{first['job_id']}", prompt=PROMPT, preset="fast"
    )

    assert Path(video).is_file() and used[SOURCE] == {"video": source.id}
    job = served.store().get(used["job_id"])
    assert job.status == "done" and job.params[SOURCE] == {"video": source.id}
    assert job.used[SOURCE] == {"video": source.id}  # the chain links up in History
    assert job.inputs["video"].read_bytes() == source.output.read_bytes()


def test_a_history_job_id_gives_an_image_its_last_frame_and_audio_its_sound(client, served):
    _, first = call(client, "t2v", prompt=PROMPT, preset="fast")
    ref = f"job:{first['job_id']}"
    _, from_frame = call(client, "i2v", image=ref, prompt=PROMPT, preset="fast")
    _, from_sound = call(client, "a2v", audio=ref, prompt=PROMPT, preset="fast")
    i2v, a2v = (served.store().get(u["job_id"]) for u in (from_frame, from_sound))
    assert i2v.inputs["image"].suffix == ".png" and a2v.inputs["audio"].suffix == ".wav"
    assert from_frame[SOURCE] == {"image": first["job_id"]}
    assert from_sound[SOURCE] == {"audio": first["job_id"]}


def test_a_job_id_that_is_no_finished_job_is_refused_in_one_line_naming_the_field(served):
    failed = served.store().create_job("t2v", {"prompt": PROMPT})
    served.store().mark_failed(failed, "oom", "out of memory")
    before = len(served.engine.calls)
    for job_id in ("20990101-000000-deadbeef", failed):
        answer = _raw_call(served.url, "style", video=f"job:{job_id}", prompt=PROMPT)
        assert "event: error" in answer
        said = f"[bad_input] Check your input: video: no finished job {job_id} of yours."
        assert said in answer and "Traceback" not in answer
    assert len(served.engine.calls) == before
