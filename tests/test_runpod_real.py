"""L-exec on RunPod's own handler: jobs through `python app.py` with LTX_AIO_RUNPOD_ENDPOINT set, on
the real worker-comfyui handler (its pin) under the runpod SDK's local API server, in front of a
ComfyUI of the pinned checkout on the tiny set (testkit.real_runpod). A job of every mode (so every
input kind: none, images, audio, a video) comes back as a valid mp4 recorded in History; a failing
graph's message reaches the user as one line; the endpoint killed mid-job fails the job clearly.

What only the hosted API has (a queue, cancel, /health, S3 outputs): tests/test_runpod_endpoint.py.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest

import backend
import history
import media
import models
import modes
import pins
import prepare
import runpod_check
import runpod_endpoint
from errors import AppError
from testkit import real_runpod
from testkit.mediagen import make_mp4, make_png, make_wav
from testkit.waiting import run_in_thread, wait_for

pytestmark = [
    pytest.mark.comfy,
    pytest.mark.skipif(
        bool(real_runpod.problems()),
        reason="the real RunPod handler needs: " + "; ".join(real_runpod.problems())
        + " (pip install -r requirements-test.txt; the pin archive from ../shared/pins)",
    ),
]  # fmt: skip

DEADLINE_S = 600
SMALL = {"preset": "fast", "width": 320, "height": 256}
EDIT_VALUES = {
    "extend": {"seconds": 0.5, "context_frames": 9},
    "retake": {"start": 0.25, "end": 0.5},
}


@pytest.fixture(scope="module")
def endpoint(tiny_models, tmp_path_factory):
    from conftest import SESSION_COMFY

    with real_runpod.serve(tmp_path_factory.mktemp("runpod"), SESSION_COMFY, tiny_models) as ep:
        yield ep


@pytest.fixture(scope="module")
def app_on_runpod(endpoint, tiny_models, tmp_path_factory):
    from conftest import SESSION_COMFY

    from testkit.real_app import serve

    tmp = tmp_path_factory.mktemp("app-on-runpod")
    with serve(tmp, tiny_models, SESSION_COMFY, **endpoint.settings()) as app:
        yield app


@pytest.fixture(scope="module")
def client(app_on_runpod):
    from gradio_client import Client

    return Client(app_on_runpod.url, verbose=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("runpod-media")
    return {
        "image": make_png(d / "first.png", 320, 256, (200, 120, 40)),
        "audio": make_wav(d / "voice.wav", seconds=1.0, kind="chirp"),
        "video": make_mp4(d / "clip.mp4", seconds=1.0, width=320, height=256, fps=24),
    }


def api_values(mode: str, inputs: dict, **values) -> dict:
    from gradio_client import handle_file

    fields = {f.name: f for f in modes.MODES[mode].fields}
    out = {"prompt": f"a {mode} test, waves on rocks", "seed": 5, **SMALL}
    out.update(EDIT_VALUES.get(mode, {}))
    out.update(values)
    if "frames" in fields and "video" not in fields:
        out.setdefault("frames", 9)
    for name, f in fields.items():
        if f.kind in modes.MEDIA_KINDS and f.required:
            out[name] = handle_file(str(inputs[f.kind]))
    return out


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# Every mode, so every input kind: none (t2v), images (i2v, keyframe), audio (a2v), both
# (lipsync), a video (style, extend, retake).
@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_mode_runs_on_the_endpoint(mode, client, inputs, app_on_runpod, endpoint):
    video, used = client.predict(**api_values(mode, inputs), api_name=f"/{mode}")
    info = media.inspect_video(video)
    expected = (used["width"], used["height"]), used["frames"]
    if "edit" in used:  # a video edit: the result is the source's size, its length its own
        expected = (
            (used["edit"]["result"]["width"], used["edit"]["result"]["height"]),
            used["edit"]["result"]["frames"],
        )
    assert ((info.width, info.height), info.frames, info.has_audio) == (*expected, True)
    assert used["worker"] == endpoint.name
    job = history.open_store(app_on_runpod.data).get(used["job_id"])
    assert job.status == "done" and job.output.is_file()
    assert digest(job.output) == digest(video)
    assert job.used["worker"] == endpoint.name


def test_healthz_says_the_endpoint_runs_the_jobs(app_on_runpod, endpoint):
    status, body = app_on_runpod.health()
    assert status == 200 and body["engine"]["engine"] == "runpod"
    assert body["engine"]["runpod"]["endpoint"] == endpoint.name
    assert "local-test-key" not in str(body)


def test_the_check_passes_on_the_pinned_setup_at_the_cost_of_one_small_job(
    client, inputs, app_on_runpod, endpoint, tiny_models, monkeypatch
):
    """The app checks the endpoint once (its first job): one prompt of the one AIOPinReport
    node, whose only output is the report, and the report says the app's pins."""
    client.predict(**api_values("t2v", inputs, seed=21), api_name="/t2v")
    client.predict(**api_values("t2v", inputs, seed=22), api_name="/t2v")
    with urllib.request.urlopen(endpoint.comfy.url + "/history", timeout=30) as answer:
        history = json.loads(answer.read())
    checks = [h for h in history.values() if h["prompt"][2] == runpod_check.GRAPH]
    assert len(checks) == 1, f"{len(checks)} check prompts for this app's jobs"
    [outputs] = checks[0]["outputs"].values()
    assert outputs == {
        "images": [{"filename": runpod_check.REPORT, "subfolder": "", "type": "output"}]
    }
    view = f"{endpoint.comfy.url}/view?filename={runpod_check.REPORT}&type=output"
    with urllib.request.urlopen(view, timeout=30) as answer:
        found = json.loads(answer.read())
    assert found["pins"]["ComfyUI"] == pins.CORE.sha and found["tiny_seam"] is True
    on_the_endpoint(endpoint, tiny_models, monkeypatch)  # this process judges as the app does
    assert runpod_check.judge(found, endpoint.name) == ""
    status, body = app_on_runpod.health()
    assert body["engine"]["runpod"]["check"] == "passed" and body["engine"]["ready"]


def on_the_endpoint(endpoint, tiny_models, monkeypatch) -> None:
    """This process's engine boundary sending its jobs to the endpoint."""
    from conftest import tiny_env

    for name, value in {**tiny_env(tiny_models), **endpoint.settings()}.items():
        monkeypatch.setenv(name, value)


def test_an_image_without_the_apps_node_is_refused_as_a_stock_one(
    endpoint, tiny_models, monkeypatch
):
    """ComfyUI's refusal of a class it lacks, as the real handler words it: the check's node
    renamed to one no ComfyUI has stands for a stock worker-comfyui image."""
    on_the_endpoint(endpoint, tiny_models, monkeypatch)
    missing = "AIOPinReportNotInstalled"
    monkeypatch.setattr(runpod_check, "NODE", missing)
    monkeypatch.setattr(runpod_check, "GRAPH", {"1": {"class_type": missing, "inputs": {}}})
    prepared = prepare.job("t2v", {"prompt": "a fox", "seed": 2, **SMALL, "frames": 9},
                           input_dir=pins.input_dir(), job_id="runpod-stock")  # fmt: skip
    prompt = models.resolve_variant(prepared.prompt, "full")
    try:
        with pytest.raises(AppError) as info:
            backend.run(prompt, None, "runpod-stock", "t2v")
    finally:
        runpod_endpoint.shutdown()
    err = info.value
    assert err.kind == "unavailable" and "without this app's worker_nodes" in err.message
    assert "tools/runpod_image.py" in err.message and "\n" not in err.line()


def test_a_failing_graph_reaches_the_user_in_one_line(endpoint, tiny_models, monkeypatch):
    on_the_endpoint(endpoint, tiny_models, monkeypatch)
    params = {"prompt": "a fox", "seed": 3, **SMALL, "frames": 9}
    prepared = prepare.job("t2v", params, input_dir=pins.input_dir(), job_id="runpod-broken")
    prompt = models.resolve_variant(prepared.prompt, "full")
    loader = next(n for n in prompt.values() if "unet_name" in n["inputs"])
    loader["inputs"]["unet_name"] = "not-there.safetensors"
    try:
        with pytest.raises(AppError) as info:
            backend.run(prompt, None, "runpod-broken", "t2v")
    finally:
        runpod_endpoint.shutdown()
    err = info.value
    assert err.kind == "missing_model" and "not-there.safetensors" in err.message, err.line()
    assert err.where.startswith(loader["_meta"]["title"]) and "\n" not in err.line()


def test_a_node_failing_at_run_time_is_said_in_one_line(endpoint, tiny_models, monkeypatch):
    """An image that passes validation (the file is there) but cannot be decoded: LoadImage
    raises on the endpoint. The SDK's local server keeps only worker-comfyui's bare error (its
    details, which name the node, are dropped there; the hosted API's are read: see
    tests/test_runpod_endpoint.py)."""
    on_the_endpoint(endpoint, tiny_models, monkeypatch)
    image = make_png(pins.input_dir() / "runpod-source.png", 320, 256)
    params = {"prompt": "a fox", "seed": 4, **SMALL, "frames": 9, "image": str(image)}
    prepared = prepare.job("i2v", params, input_dir=pins.input_dir(), job_id="runpod-undecodable")
    image.unlink()
    prompt = models.resolve_variant(prepared.prompt, "full")
    for name in prepared.spec.files.values():
        (pins.input_dir() / name).write_bytes(b"not a png at all")
    try:
        with pytest.raises(AppError) as info:
            backend.run(prompt, None, "runpod-undecodable", "i2v")
    finally:
        media.unstage(prepared.spec.files, pins.input_dir())
        runpod_endpoint.shutdown()
    err = info.value
    assert err.kind == "node_failed" and "Job processing failed" in err.message, err.line()
    assert err.where == endpoint.name and "\n" not in err.line()


def test_a_cancel_ends_the_job_at_once_though_the_local_server_has_no_cancel(
    endpoint, tiny_models, monkeypatch
):
    on_the_endpoint(endpoint, tiny_models, monkeypatch)
    params = {"prompt": "a fox", "seed": 8, **SMALL, "frames": 33, "preset": "balanced"}
    prepared = prepare.job("t2v", params, input_dir=pins.input_dir(), job_id="runpod-cancel")
    prompt = models.resolve_variant(prepared.prompt, "full")
    try:
        thread, outcome = run_in_thread(backend.run, prompt, None, "runpod-cancel", "t2v")
        wait_for(endpoint.running, "the job to run on the endpoint", DEADLINE_S, every=0.1)
        backend.cancel("runpod-cancel")
        thread.join(30)
        assert not thread.is_alive() and outcome["error"].kind == "interrupted", outcome
    finally:
        runpod_endpoint.shutdown()
        # ComfyUI behind the local server runs the prompt out: nothing told it to stop.
        wait_for(lambda: not endpoint.running(), "ComfyUI to finish the prompt", DEADLINE_S)


def test_the_endpoint_killed_mid_job_fails_the_job_clearly(client, inputs, app_on_runpod, endpoint):
    store = history.open_store(app_on_runpod.data)
    values = api_values("t2v", inputs, seed=77, preset="balanced", frames=33)
    job = client.submit(**values, api_name="/t2v")

    def running():
        if job.done():
            raise AssertionError("the job ended before the endpoint could be killed")
        found = [j for j in store.jobs("t2v", "running") if j.params.get("seed") == 77]
        return found[0] if found and endpoint.running() else None

    record = wait_for(running, "the job to run on the endpoint", DEADLINE_S, every=0.2)
    endpoint.kill()
    try:
        with pytest.raises(Exception) as info:
            job.result(timeout=DEADLINE_S)
        assert "stopped answering mid-job" in str(info.value)
        ended = wait_for(
            lambda: (j := store.get(record.id)).status != "running" and j, "the record", 60
        )
        assert ended.status == "failed" and ended.output is None
        assert ended.error_kind == "unavailable"
        assert endpoint.name in ended.error_message and "\n" not in ended.error_message
    finally:
        wait_for(lambda: not endpoint.running(), "ComfyUI to finish the orphaned prompt", 600)
        endpoint.revive()
