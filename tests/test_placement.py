"""L1: where a job runs with a RunPod endpoint set (placement.py): the endpoint for every job
(`always`), or only for those the local side has no slot for (`overflow`); cancel reaching the side
a job runs on, a job the endpoint loses run again locally under overflow, the endpoint's state in
/healthz and on the page, and the GPU seconds shown before a job goes to the endpoint. The local
side is a stand-in executor; the endpoint the stand-in hosted one (testkit.fake_runpod).
"""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path

import pytest

import backend
import banners_ui
import endpoint_cap
import health
import jobs
import modes
import placement
import runpod_endpoint
import runpod_settings
import workflow
from errors import AppError
from testkit import fake_runpod, mediagen
from testkit.app_helpers import use_fake_engine
from testkit.waiting import run_in_thread, wait_for

KEY = "rp-secret-key-0123456789"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"x" * 200
DONE = {
    "status": "COMPLETED",
    "output": {"images": [{"filename": "rp.mp4", "type": "base64",
                           "data": base64.b64encode(MP4).decode()}]},
}  # fmt: skip


class Local:
    """The local side: one slot; a job named in `hold` runs until cancelled."""

    local_weights = True

    def __init__(self, tmp_path: Path, hold=()) -> None:
        self.tmp_path, self.hold = tmp_path, set(hold)
        self.started: dict[str, threading.Event] = {}
        self.cancels: list[str] = []
        self._stop: dict[str, threading.Event] = {}

    def began(self, job_id: str) -> threading.Event:
        return self.started.setdefault(job_id, threading.Event())

    def run(self, prompt, progress, job_id, mode):
        self.began(job_id).set()
        if job_id in self.cancels:  # cancelled before it started
            raise AppError("interrupted", "Generation was cancelled.")
        if job_id in self.hold:
            self._stop.setdefault(job_id, threading.Event()).wait(60)
            raise AppError("interrupted", "Generation was cancelled.")
        video = self.tmp_path / f"{job_id}.mp4"
        video.write_bytes(MP4)
        return {"video": str(video), "outputs": [str(video)], "seconds": 0.1}

    def cancel(self, job_id):
        self.cancels.append(job_id)
        for held in [job_id] if job_id else list(self._stop):
            self._stop.setdefault(held, threading.Event()).set()

    def status(self, wait_s):
        return {"ready": True, "problems": [], "warnings": [], "engine": "started", "workers": []}

    def slots(self):
        return 1


class Said(list):
    def __call__(self, fraction, desc):
        self.append(desc)


@pytest.fixture
def fake():
    with fake_runpod.serve() as server:
        yield server


@pytest.fixture
def remote(fake, tmp_path, monkeypatch):
    monkeypatch.setenv(runpod_settings.SILENCE_ENV, "0")
    with fake_runpod.endpoint_on(fake, tmp_path, KEY) as made:
        yield made


@pytest.fixture(scope="module")
def graph() -> dict:
    t2v = modes.MODES["t2v"]
    return workflow.load_template(t2v.workflows[t2v.field("model").default])


def busy_local(local: Local, placed: placement.Placement, graph: dict, job_id: str = "job-a"):
    thread, outcome = run_in_thread(placed.run, graph, None, job_id, "t2v")
    assert local.began(job_id).wait(30), "the first job to start locally"
    return thread, outcome


def test_overflow_runs_the_first_job_locally_and_the_second_on_the_endpoint(
    fake, remote, graph, tmp_path
):
    local = Local(tmp_path, hold={"job-a"})
    placed = placement.Placement(local, remote, placement.OVERFLOW)
    assert placed.slots() == 1 + runpod_settings.SLOTS_DEFAULT and placed.local_weights
    first, outcome = busy_local(local, placed, graph)
    assert placed.where("job-a") == "local"
    fake.statuses = [DONE]
    result = placed.run(graph, None, "job-b", "t2v")
    assert result["worker"] == remote.name and Path(result["video"]).read_bytes() == MP4
    assert "job-b" not in local.started and fake.requests("POST", f"/{fake_runpod.ENDPOINT}/run")
    placed.cancel("job-a")
    first.join(30)
    assert outcome["error"].kind == "interrupted" and local.cancels == ["job-a"]
    assert not fake.requests("POST", f"/{fake_runpod.ENDPOINT}/cancel")
    # The local slot is free again: the next job runs there.
    assert placed.run(graph, None, "job-c", "t2v").get("worker") is None


def test_always_sends_every_job_to_the_endpoint(fake, remote, graph, tmp_path):
    local = Local(tmp_path)
    placed = placement.Placement(local, remote, placement.ALWAYS)
    assert placed.slots() == runpod_settings.SLOTS_DEFAULT and not placed.local_weights
    fake.statuses = [DONE]
    assert placed.run(graph, None, "job-d", "t2v")["worker"] == remote.name
    assert not local.started


def test_a_job_the_endpoint_loses_runs_locally_under_overflow(fake, remote, graph, tmp_path):
    local = Local(tmp_path, hold={"job-a"})
    placed = placement.Placement(local, remote, placement.OVERFLOW)
    first, _ = busy_local(local, placed, graph)
    fake.statuses = [{"status": "IN_PROGRESS"}, {"status": "FAILED", "error": "Job ID not found"}]
    said = Said()
    placed.expect("job-e", 120)
    result = placed.run(graph, said, "job-e", "t2v")
    assert said[0] == placement.cost_line(remote.name, 120)
    assert local.began("job-e").is_set() and result.get("worker") is None  # History: here
    assert "endpoint_s" not in result  # nothing counted against a visitor's endpoint cap
    assert "no longer knows the job" in result["notes"][0]
    assert "ran on this server's side instead" in result["notes"][0]
    assert "The RunPod endpoint lost the job: running it here instead" in said
    placed.cancel("job-a")
    first.join(30)


def test_a_job_the_endpoint_loses_fails_clearly_under_always(fake, remote, graph, tmp_path):
    local = Local(tmp_path)
    placed = placement.Placement(local, remote, placement.ALWAYS)
    fake.statuses = [{"status": "FAILED", "error": "Job ID not found"}]
    with pytest.raises(AppError) as info:
        placed.run(graph, None, "job-f", "t2v")
    assert info.value.kind == "unavailable" and "no longer knows the job" in info.value.message
    assert not local.started


def test_cancel_reaches_the_side_each_job_runs_on(fake, remote, graph, tmp_path):
    local = Local(tmp_path, hold={"job-a"})
    placed = placement.Placement(local, remote, placement.OVERFLOW)
    first, local_outcome = busy_local(local, placed, graph)
    fake.statuses = [{"status": "IN_PROGRESS"}]
    second, remote_outcome = run_in_thread(placed.run, graph, None, "job-g", "t2v")
    wait_for(lambda: fake.polls > 0, "the endpoint's job to be polled")
    placed.cancel("job-g")
    second.join(30)
    assert remote_outcome["error"].kind == "interrupted" and local.cancels == []
    wait_for(lambda: fake.requests("POST", f"/{fake_runpod.ENDPOINT}/cancel/job-1"), "a cancel")
    placed.cancel("")  # every job, wherever it runs
    first.join(30)
    assert local_outcome["error"].kind == "interrupted" and local.cancels == [""]
    placed.cancel("job-h")  # not placed yet: both sides stop it when it starts there
    assert local.cancels == ["", "job-h"]
    with pytest.raises(AppError) as info:
        placed.run(graph, None, "job-h", "t2v")
    assert info.value.kind == "interrupted"


def test_the_gpu_seconds_are_shown_before_a_job_goes_to_the_endpoint(
    fake, graph, monkeypatch, outputs
):
    monkeypatch.setenv(runpod_settings.ENDPOINT_ENV, fake_runpod.ENDPOINT)
    monkeypatch.setenv(runpod_settings.URL_ENV, fake.base)
    monkeypatch.setenv(runpod_settings.KEY_ENV, KEY)
    fake.statuses = [DONE]
    said = Said()
    expected = backend.estimate_duration("t2v", "fast", graph, 9)
    try:
        result = backend.unpack(backend.generate("t2v", "fast", graph, 9, 1.0, said, "job-i"))
        outputs.append(result["video"])
    finally:
        runpod_endpoint.shutdown()
    line = placement.cost_line(f"{fake.base}/{fake_runpod.ENDPOINT}", expected)
    assert said[0] == line and f"about {expected} GPU-seconds" in line  # before it is sent
    assert all(d.endswith(f" · about {expected} GPU-seconds") for d in said[1:]) and said[1:]
    name = f"{fake.base}/{fake_runpod.ENDPOINT}"
    assert result["notes"][-1] == f"The RunPod endpoint {name} ran it: {expected:g} GPU-seconds."


def test_overflow_is_one_executor_and_healthz_and_the_page_show_the_endpoint(fake, monkeypatch):
    monkeypatch.setenv(runpod_settings.ENDPOINT_ENV, fake_runpod.ENDPOINT)
    monkeypatch.setenv(runpod_settings.URL_ENV, fake.base)
    monkeypatch.setenv(runpod_settings.KEY_ENV, KEY)
    monkeypatch.setenv(runpod_settings.PLACEMENT_ENV, "overflow")
    try:
        placed = backend.executor()
        assert isinstance(placed, placement.Placement) and placed.overflow
        assert placed is backend.executor()  # it keeps where its jobs run
        assert backend.slots() == 1 + runpod_settings.SLOTS_DEFAULT and backend.local_weights()
        wait_for(lambda: placed.remote.status(wait_s=30)["ready"], "the endpoint's /health")
        engine = backend.engine_status(wait_s=30)
        assert engine["placement"] == "overflow"
        assert not any("is unused" in w for w in engine["warnings"])
        _, body = health.health_report(engine=engine, boot={}, nodes={}, models={}, device={},
                                       disk={}, weights=None)  # fmt: skip
        assert body["engine"]["runpod"]["endpoint"] == f"{fake.base}/{fake_runpod.ENDPOINT}"
        assert body["engine"]["runpod"]["health"]["workers"] == {"idle": 0, "running": 2}
        assert body["engine"]["runpod"]["health"]["jobs"]["inQueue"] == 4
        assert KEY not in repr(body)
        page = banners_ui.workers_html([], body["engine"]["runpod"])
        assert "RunPod endpoint" in page and fake_runpod.ENDPOINT in page
        assert 'data-label="Queued">4<' in page and 'data-label="Running">2<' in page
    finally:
        runpod_endpoint.shutdown()
    monkeypatch.setenv(runpod_settings.PLACEMENT_ENV, "sometimes")
    assert (
        runpod_settings.placement() == "always" and "sometimes" in runpod_settings.bad_placement()
    )


def test_no_endpoint_shows_nothing_of_one():
    assert banners_ui.workers_html([], None) == ""


REAL_GENERATE = backend.generate


@pytest.fixture
def paid(fake, tmp_path, monkeypatch):
    """jobs.run against the stand-in endpoint: the app's flow and GPU function as they are, the
    engine check and the device probes stood in for (testkit.app_helpers)."""
    gen = use_fake_engine(tmp_path, monkeypatch)
    next(gen)
    monkeypatch.setattr(backend, "generate", REAL_GENERATE)
    monkeypatch.setenv(runpod_settings.ENDPOINT_ENV, fake_runpod.ENDPOINT)
    monkeypatch.setenv(runpod_settings.URL_ENV, fake.base)
    monkeypatch.setenv(runpod_settings.KEY_ENV, KEY)
    video = mediagen.make_mp4(tmp_path / "real.mp4", seconds=0.5, width=64, height=64, fps=8)
    real = base64.b64encode(video.read_bytes()).decode()
    done = {"status": "COMPLETED", "output": {"images": [{"filename": "rp.mp4", "data": real}]}}
    fake.statuses = [done]
    fake.done = done
    try:
        yield fake
    finally:
        runpod_endpoint.shutdown()
        next(gen, None)


def test_the_visitor_cap_refuses_the_job_that_would_pass_it_on_a_shared_deployment(
    paid, monkeypatch
):
    monkeypatch.setenv("LTX_AIO_SHARED", "1")
    params = {"prompt": "a cat", "preset": "fast", "seed": 7}
    first = jobs.run("t2v", params)
    used = jobs.open_history().get(first.job_id).used
    estimate = used["endpoint_s"]
    assert estimate > 0 and used["visitor"] == "local" and first.spec.worker
    monkeypatch.setenv(runpod_settings.VISITOR_S_ENV, str(estimate * 1.5))
    with pytest.raises(AppError) as info:
        jobs.run("t2v", params)
    line = info.value.line()
    assert f"{estimate * 1.5:g} GPU-seconds a visitor may spend there per day" in line
    assert "frees up at" in line and "\n" not in line
    assert len(paid.requests("POST", f"/{fake_runpod.ENDPOINT}/run")) == 1  # refused unsent
    monkeypatch.setenv("LTX_AIO_SHARED", "0")  # a single-user install: no cap
    assert jobs.run("t2v", params).spec.worker == first.spec.worker


def test_the_endpoints_execution_time_is_what_history_counts(paid, monkeypatch):
    monkeypatch.setenv("LTX_AIO_SHARED", "1")
    paid.statuses = [{**paid.done, "executionTime": 4250}]
    done = jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 7})
    assert jobs.open_history().get(done.job_id).used["endpoint_s"] == 4.25
    monkeypatch.setenv(runpod_settings.VISITOR_S_ENV, "4")  # less than any estimate
    with pytest.raises(AppError) as info:
        jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 8})
    assert "Pick the fast preset or fewer frames" in info.value.line()


def test_a_job_that_ran_locally_spends_nothing_on_the_endpoint(tmp_path, monkeypatch):
    gen = use_fake_engine(tmp_path, monkeypatch)
    next(gen)
    try:
        monkeypatch.setenv("LTX_AIO_SHARED", "1")
        done = jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 7})
        used = jobs.open_history().get(done.job_id).used
        assert "endpoint_s" not in used and "visitor" not in used
        assert endpoint_cap.spent(jobs.open_history(), "local", time.time()) == []
    finally:
        next(gen, None)


@pytest.mark.parametrize(("here_gb", "planned"), [(8.0, 8.0), (500.0, None)])
def test_overflow_plans_the_decode_for_the_smaller_of_here_and_the_endpoint(
    monkeypatch, here_gb, planned
):
    monkeypatch.setenv(runpod_settings.ENDPOINT_ENV, fake_runpod.ENDPOINT)
    monkeypatch.setenv(runpod_settings.PLACEMENT_ENV, "overflow")
    monkeypatch.delenv(backend.MEMORY_ENV, raising=False)
    monkeypatch.delenv("LTX_AIO_WORKERS", raising=False)
    monkeypatch.setattr(backend, "_device_memory_gb", lambda: (here_gb, "CUDA: test"))
    memory = backend.decode_memory(None)
    assert memory["memory_gb"] == (planned or backend.decode_plan.DEFAULT_MEMORY_GB)
    assert "RunPod endpoint" in memory["source"]
