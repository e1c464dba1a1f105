"""L1: the RunPod executor and its client (runpod_client.py) against a stand-in hosted endpoint
(testkit.fake_runpod), for what the runpod SDK's local server cannot show: a job waiting in the
queue, cancel, /health, outputs as S3 URLs, FAILED answers with worker-comfyui's error and
details, a wrong key, the /run size limit, and an endpoint lost mid-job. The real handler's path
is tests/test_runpod_real.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import backend
import modes
import runpod_endpoint
import runpod_settings
import workflow
from errors import AppError
from testkit import fake_runpod
from testkit.waiting import run_in_thread, wait_for

KEY = "rp-secret-key-0123456789"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"x" * 200


@pytest.fixture
def fake():
    with fake_runpod.serve() as server:
        yield server


@pytest.fixture
def endpoint(fake, tmp_path, monkeypatch):
    monkeypatch.setenv(runpod_settings.SILENCE_ENV, "0")
    with fake_runpod.endpoint_on(fake, tmp_path, KEY) as made:
        yield made


@pytest.fixture(scope="module")
def graph() -> dict:
    t2v = modes.MODES["t2v"]
    return workflow.load_template(t2v.workflows[t2v.field("model").default])


def completed(**output) -> dict:
    return {"status": "COMPLETED", "output": output}


def b64_video(name: str = "ltx-aio_00001_.mp4") -> dict:
    return {"filename": name, "type": "base64", "data": base64.b64encode(MP4).decode()}


class Said(list):
    def __call__(self, fraction, desc):
        self.append(desc)


def test_a_job_waits_in_the_queue_saying_so_then_its_video_comes_back(fake, endpoint, graph):
    fake.statuses = [
        {"status": "IN_QUEUE"},
        {"status": "IN_QUEUE"},
        {"status": "IN_PROGRESS"},
        completed(images=[b64_video()]),
    ]
    said = Said()
    result = endpoint.run(graph, said, "job-a", "t2v")
    assert Path(result["video"]).read_bytes() == MP4
    assert result["worker"] == f"{fake.base}/{fake_runpod.ENDPOINT}"
    waiting = [d for d in said if d.startswith("Waiting for a GPU on RunPod endpoint")]
    assert waiting and "4 job(s) in its queue, 2 worker(s) running, 0 idle" in waiting[0]
    assert any(d.startswith("Running on RunPod endpoint") for d in said)
    [(_, _, headers, body)] = fake.requests("POST", f"/{fake_runpod.ENDPOINT}/run")
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body["input"]["workflow"] == graph and "images" not in body["input"]


def test_inputs_the_graph_names_are_sent_as_base64_images(fake, endpoint, graph, tmp_path):
    (tmp_path / "in" / "job-b_voice.wav").write_bytes(b"RIFF-wav")
    (tmp_path / "in" / "job-b_clip.mp4").write_bytes(MP4)
    prompt = {**graph, "900": {"class_type": "LoadAudio", "inputs": {"audio": "job-b_voice.wav"}},
              "901": {"class_type": "LoadVideo", "inputs": {"file": "job-b_clip.mp4"}}}  # fmt: skip
    fake.statuses = [completed(images=[b64_video()])]
    endpoint.run(prompt, None, "job-b", "a2v")
    [(_, _, _, body)] = fake.requests("POST", f"/{fake_runpod.ENDPOINT}/run")
    sent = {i["name"]: base64.b64decode(i["image"]) for i in body["input"]["images"]}
    assert sent == {"job-b_voice.wav": b"RIFF-wav", "job-b_clip.mp4": MP4}


def test_an_output_in_the_endpoints_bucket_is_downloaded_without_the_key(fake, endpoint, graph):
    fake.files["/bucket/job-1/video.mp4"] = MP4
    url = f"{fake.base}/bucket/job-1/video.mp4"
    fake.statuses = [completed(images=[{"filename": "video.mp4", "type": "s3_url", "data": url}])]
    result = endpoint.run(graph, None, "job-c", "t2v")
    assert Path(result["video"]).read_bytes() == MP4
    [(_, _, headers, _)] = fake.requests("GET", "/bucket/")
    assert "Authorization" not in headers


def test_cancel_reaches_the_endpoint_and_ends_the_job(fake, endpoint, graph):
    fake.statuses = [{"status": "IN_PROGRESS"}]
    thread, outcome = run_in_thread(endpoint.run, graph, None, "job-d", "t2v")
    wait_for(lambda: fake.polls > 0, "the job to be polled")
    endpoint.cancel("job-d")
    thread.join(30)
    assert outcome["error"].kind == "interrupted"
    wait_for(lambda: fake.requests("POST", f"/{fake_runpod.ENDPOINT}/cancel/job-1"), "a cancel")


def test_a_job_cancelled_before_it_starts_is_cancelled_when_it_does(fake, endpoint, graph):
    endpoint.cancel("job-e")
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-e", "t2v")
    assert info.value.kind == "interrupted"
    assert not fake.requests("GET", f"/{fake_runpod.ENDPOINT}/status/")


def test_status_shows_the_endpoints_health_numbers(fake, endpoint):
    status = endpoint.status(wait_s=30)
    assert status["ready"] and status["engine"] == "runpod" and status["workers"] == []
    assert status["runpod"]["health"]["jobs"]["inQueue"] == 4
    assert status["runpod"]["health"]["workers"] == {"idle": 0, "running": 2}
    assert KEY not in repr(status)


def test_an_endpoint_without_health_is_ready_with_a_warning(fake, endpoint):
    fake.health = None  # the SDK's local server
    status = endpoint.status(wait_s=30)
    assert status["ready"] and "answers no /health" in status["warnings"][0]


# worker-comfyui returns {"error": "Job processing failed", "details": [...]}; the runpod SDK hands
# RunPod the details as the job's output beside its error.
@pytest.mark.parametrize("where", ["details", "output"])
def test_a_node_error_comes_back_as_one_line_naming_the_node(fake, endpoint, graph, where):
    node_id = next(iter(graph))
    title = (graph[node_id].get("_meta") or {}).get("title") or graph[node_id]["class_type"]
    details = [f"Workflow execution error: Node Type: X, Node ID: {node_id}, Message: mat1 and "
               "mat2 shapes cannot be\nmultiplied (2x3 and 4x5)\n"]  # fmt: skip
    said = {"details": details} if where == "details" else {"output": {"details": details}}
    fake.statuses = [{"status": "FAILED", "error": "Job processing failed", **said}]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-f", "t2v")
    err = info.value
    assert err.kind == "node_failed" and err.where == title
    assert "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)" in err.message
    assert "\n" not in err.line()


def test_a_bare_failure_says_where_to_look(fake, endpoint, graph):
    fake.statuses = [{"status": "FAILED", "error": "Job processing failed"}]  # the local server
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-f2", "t2v")
    assert info.value.kind == "node_failed" and "Job processing failed" in info.value.message
    assert "endpoint's logs" in info.value.hint


def test_a_missing_model_is_said_as_the_other_executors_say_it(fake, endpoint, graph):
    node_id, node = next((k, v) for k, v in graph.items() if "unet_name" in v.get("inputs", {}))
    name = node["inputs"]["unet_name"]
    reasons = [{"type": "value_not_in_list", "message": "Value not in list",
                "details": f"unet_name: '{name}' not in []",
                "extra_info": {"input_name": "unet_name"}}]  # fmt: skip
    fake.statuses = [{
        "status": "FAILED",
        "error": f"Workflow validation failed:\n• Node {node_id} (errors): {reasons!r}\n"
                 f"• Node {node_id} (class_type): {node['class_type']}",
    }]  # fmt: skip
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-g", "t2v")
    assert info.value.kind == "missing_model" and name in info.value.message
    assert "endpoint's models" in info.value.hint and "\n" not in info.value.line()


def test_a_handler_that_raised_is_said_in_one_line(fake, endpoint, graph):
    fake.statuses = [
        {
            "status": "FAILED",
            "error": '{"error_type": "<class \'KeyError\'>", '
            '"error_message": "\'workflow\'", "error_traceback": "Traceback..."}',
        }
    ]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-h", "t2v")
    assert info.value.kind == "node_failed"
    assert "KeyError: 'workflow'" in info.value.message and "Traceback" not in info.value.message


def test_a_wrong_key_is_said_without_showing_it(fake, endpoint, graph):
    fake.code = 401
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-i", "t2v")
    assert info.value.kind == "unavailable" and "refused the API key" in info.value.message
    assert runpod_settings.KEY_ENV in info.value.hint and KEY not in info.value.line()
    assert KEY not in repr(endpoint.status(wait_s=30))


def test_a_job_over_the_run_limit_is_refused_before_sending(fake, endpoint, graph, tmp_path):
    big = tmp_path / "in" / "job-j_clip.mp4"
    big.write_bytes(b"\0" * (runpod_endpoint.RUN_LIMIT_BYTES * 3 // 4 + 1))  # base64: +1/3
    prompt = {**graph, "900": {"class_type": "LoadVideo", "inputs": {"file": big.name}}}
    with pytest.raises(AppError) as info:
        endpoint.run(prompt, None, "job-j", "extend")
    assert info.value.kind == "bad_input" and "at most 10 MB" in info.value.message
    assert not fake.asked


def test_the_local_servers_post_only_status_is_followed(fake, endpoint, graph):
    fake.status_methods = ("POST",)
    fake.statuses = [completed(images=[b64_video()])]
    result = endpoint.run(graph, None, "job-k", "t2v")
    assert Path(result["video"]).read_bytes() == MP4
    assert fake.requests("POST", f"/{fake_runpod.ENDPOINT}/status/job-1")


def test_an_endpoint_lost_mid_job_fails_the_job_saying_so(fake, endpoint, graph):
    fake.statuses = [{"status": "IN_PROGRESS"}]
    thread, outcome = run_in_thread(endpoint.run, graph, None, "job-l", "t2v")
    wait_for(lambda: fake.polls > 0, "the job to be polled")
    fake_runpod.stop(fake)
    thread.join(60)
    err = outcome["error"]
    assert err.kind == "unavailable" and "stopped answering mid-job" in err.message
    assert fake.base in err.message and "\n" not in err.line()


def test_a_job_given_up_on_an_unreachable_endpoint_is_cancelled_there(
    fake, endpoint, graph, monkeypatch
):
    """Its status unanswered past LTX_AIO_RUNPOD_SILENCE, the job fails here, and the endpoint is
    told to cancel it: it may still be running there (and billing), and under overflow the job
    runs again locally."""
    monkeypatch.setenv(runpod_settings.SILENCE_ENV, "0")
    fake.status_code = 503
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-s", "t2v")
    assert "stopped answering mid-job" in info.value.message
    wait_for(lambda: fake.requests("POST", f"/{fake_runpod.ENDPOINT}/cancel/job-1"), "a cancel")


def test_an_endpoint_that_is_not_there_says_so(endpoint, graph, fake):
    fake_runpod.stop(fake)
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-m", "t2v")
    assert info.value.kind == "unavailable" and "does not answer" in info.value.message
    status = endpoint.status(wait_s=30)
    assert not status["ready"] and "does not answer" in status["problems"][0]


def test_a_set_endpoint_runs_every_job(fake, graph, monkeypatch, tmp_path, outputs):
    monkeypatch.setenv(runpod_settings.ENDPOINT_ENV, fake_runpod.ENDPOINT)
    monkeypatch.setenv(runpod_settings.URL_ENV, fake.base)
    monkeypatch.setenv(runpod_settings.KEY_ENV, KEY)
    monkeypatch.setenv("LTX_AIO_WORKERS", "http://127.0.0.1:9")
    fake.statuses = [completed(images=[b64_video("placed.mp4")])]
    try:
        assert isinstance(backend.executor().remote, runpod_endpoint.Endpoint)
        assert backend.slots() == runpod_settings.SLOTS_DEFAULT and not backend.local_weights()
        result = backend.run(graph, None, "job-n", "t2v")
        outputs.append(result["video"])
        assert Path(result["video"]).read_bytes() == MP4
        status = backend.engine_status(wait_s=30)
        assert status["engine"] == "runpod"
        assert any("LTX_AIO_WORKERS is unused" in w for w in status["warnings"])
    finally:
        runpod_endpoint.shutdown()
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")  # never on ZeroGPU: its GPU runs the jobs
    assert runpod_endpoint.endpoint(lambda: tmp_path, lambda: tmp_path) is None
    assert "ignored on ZeroGPU" in runpod_settings.ignored()


def test_no_key_for_the_hosted_api_is_said_before_any_request(graph, tmp_path):
    made = runpod_endpoint.Endpoint(
        runpod_settings.DEFAULT_URL, "abc123", "", lambda: tmp_path, lambda: tmp_path
    )
    with pytest.raises(AppError) as info:
        made.run(graph, None, "job-o", "t2v")
    assert info.value.kind == "unavailable" and runpod_settings.KEY_ENV in info.value.hint


@pytest.mark.parametrize(
    ("state", "kind", "said"),
    [
        ("TIMED_OUT", "gpu_timeout", "execution timeout"),
        ("CANCELLED", "unavailable", "cancelled on the RunPod endpoint"),
    ],
)
def test_a_job_ended_by_the_endpoint_says_how(fake, endpoint, graph, state, kind, said):
    fake.statuses = [{"status": "IN_PROGRESS"}, {"status": state}]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-p", "t2v")
    assert info.value.kind == kind and said in info.value.message
