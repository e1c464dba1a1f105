"""L1: the RunPod executor's check of the endpoint (runpod_check.py) against the stand-in hosted
endpoint (testkit.fake_runpod): before its first job it sends one small job (the app's
AIOPinReport) and judges its report; an endpoint at the app's pins runs every job after that one
check, and a mismatched one (another ComfyUI, a pack at another commit or missing, a missing node
class, the tiny seam the other way, a stock worker-comfyui image without the node) is refused in
one line naming what differs and what to change, before any job is sent. The real handler's check:
tests/test_runpod_real.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

import modes
import pins
import runpod_check
import runpod_endpoint
import runpod_settings
import worker_check
import workflow
from errors import AppError
from testkit import fake_runpod
from testkit.waiting import run_in_thread

MP4 = b"\x00\x00\x00\x18ftypmp42" + b"x" * 200
VIDEO = {"filename": "out.mp4", "type": "base64", "data": base64.b64encode(MP4).decode()}
OLD_CORE = next(sha for sha in pins.CORE_VERSIONS if sha != pins.CORE.sha)


@pytest.fixture
def fake():
    with fake_runpod.serve() as server:
        server.statuses = [{"status": "COMPLETED", "output": {"images": [VIDEO]}}]
        yield server


@pytest.fixture
def endpoint(fake, tmp_path, monkeypatch):
    monkeypatch.setenv(runpod_settings.SILENCE_ENV, "0")
    with fake_runpod.endpoint_on(fake, tmp_path, "key") as made:
        yield made


@pytest.fixture(scope="module")
def graph() -> dict:
    t2v = modes.MODES["t2v"]
    return workflow.load_template(t2v.workflows[t2v.field("model").default])


def job_runs(fake) -> list:
    return fake.requests("POST", f"/{fake_runpod.ENDPOINT}/run")


def check_runs(fake) -> list:
    return [a for a in fake.checks if a[1].endswith("/run")]


def test_an_endpoint_at_the_apps_pins_runs_every_job_after_one_check(fake, endpoint, graph):
    assert endpoint.status(wait_s=30)["runpod"]["check"] == "not yet"
    for n in range(3):
        assert Path(endpoint.run(graph, None, f"job-{n}", "t2v")["video"]).read_bytes() == MP4
    [(_, _, _, body)] = check_runs(fake)
    assert body == {"input": {"workflow": runpod_check.GRAPH}}
    assert len(job_runs(fake)) == 3
    status = endpoint.status(wait_s=30)
    assert status["ready"] and status["runpod"]["check"] == "passed"


def test_jobs_started_together_wait_for_the_one_check(fake, endpoint, graph):
    fake.check_statuses = [{"status": "IN_QUEUE"}, fake_runpod.check_answer(fake_runpod.report())]
    started = [run_in_thread(endpoint.run, graph, None, f"job-{n}", "t2v") for n in range(3)]
    videos = set()
    for thread, outcome in started:
        thread.join(60)
        assert not thread.is_alive() and "result" in outcome, outcome
        videos.add(outcome["result"]["video"])
    assert len(check_runs(fake)) == 1 and len(job_runs(fake)) == 3
    # The three came back under one name at once: each kept, under a name of its own.
    assert len(videos) == 3 and all(Path(v).read_bytes() == MP4 for v in videos)


def _without_pack(found: dict, pack: str) -> dict:
    modules = pins.class_modules()
    classes = [
        c for c in found["classes"] if (pins.pack_of(modules.get(c, "")) or pins.CORE).name != pack
    ]
    return {"pins": {k: v for k, v in found["pins"].items() if k != pack}, "classes": classes}


def _refusals():
    needs = worker_check.app_needs()
    found = fake_runpod.report()
    pack, sha = sorted(needs.packs.items())[0]
    dropped = sorted(needs.classes - {"AIOPinReport"})[0]
    return {
        "another ComfyUI": (
            {"comfyui_version": pins.CORE_VERSIONS[OLD_CORE],
             "pins": {**found["pins"], "ComfyUI": OLD_CORE}},
            [f"ComfyUI {pins.CORE_VERSIONS[OLD_CORE]} at commit {OLD_CORE[:10]}",
             f"pinned to {pins.CORE.sha[:10]}"],
        ),
        "a pack at another commit": (
            {"pins": {**found["pins"], pack: "0" * 40}},
            [f"runs {pack} at 0000000000; this app needs {sha[:10]}"],
        ),
        "a missing pack": (_without_pack(found, "comfyui_controlnet_aux"),
                           ["lacks node classes", "(comfyui_controlnet_aux)"]),
        "a missing node class": (
            {"classes": [c for c in found["classes"] if c != dropped]},
            [f"lacks node classes the workflows need: {dropped} ("],
        ),
        "the tiny seam the other way": (
            {"tiny_seam": not needs.tiny},
            ["tiny", "LTX_AIO_TINY_WEIGHTS"],
        ),
    }  # fmt: skip


REFUSALS = _refusals()


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_mismatched_endpoint_is_refused_saying_what_differs(fake, endpoint, graph, case):
    changes, said = REFUSALS[case]
    fake.check_statuses = [fake_runpod.check_answer(fake_runpod.report(**changes))]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-x", "t2v")
    err = info.value
    assert err.kind == "unavailable" and all(s in err.message for s in said), err.line()
    assert err.message.startswith(f"The RunPod endpoint {endpoint.name} ")
    if case != "the tiny seam the other way":
        assert "tools/runpod_image.py" in err.message
    assert "\n" not in err.line() and not job_runs(fake)
    status = endpoint.status(wait_s=30)
    assert not status["ready"] and err.message in status["problems"]
    assert status["runpod"]["check"] == "refused"


def test_a_stock_worker_comfyui_image_is_refused_as_such(fake, endpoint, graph):
    # ComfyUI's missing_node_type error, as worker-comfyui's handler words it.
    error = ("Node 'AIOPinReport' not found. The custom node may not be installed.. Raw response: "
             '{"error": {"type": "missing_node_type", "message": "Node \'AIOPinReport\' not '
             'found. The custom node may not be installed."}, "node_errors": {}}')  # fmt: skip
    fake.check_statuses = [{"status": "FAILED", "error": error}]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-y", "t2v")
    message = info.value.message
    assert "without this app's worker_nodes" in message and "stock worker-comfyui" in message
    assert "tools/runpod_image.py" in message and not job_runs(fake)


def test_an_answer_without_the_report_is_refused(fake, endpoint, graph):
    fake.check_statuses = [{"status": "COMPLETED", "output": {"images": [VIDEO]}}]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-z", "t2v")
    assert "without its report" in info.value.message and not job_runs(fake)


def test_a_refusal_is_checked_again_by_a_later_job(fake, endpoint, graph, monkeypatch):
    fake.check_statuses = [fake_runpod.check_answer(fake_runpod.report(classes=[]))]
    with pytest.raises(AppError):
        endpoint.run(graph, None, "job-1", "t2v")
    with pytest.raises(AppError):  # within REFUSED_S: refused from the kept verdict
        endpoint.run(graph, None, "job-2", "t2v")
    assert len(check_runs(fake)) == 1
    monkeypatch.setattr(runpod_endpoint, "REFUSED_S", 0.0)
    assert "checks the endpoint again" in " ".join(endpoint.status(wait_s=30)["warnings"])
    fake.check_statuses = [fake_runpod.check_answer(fake_runpod.report())]  # the image rebuilt
    assert endpoint.run(graph, None, "job-3", "t2v")["video"]
    assert len(check_runs(fake)) == 2 and len(job_runs(fake)) == 1


def test_a_check_that_fails_for_another_reason_fails_the_job_and_is_tried_again(
    fake, endpoint, graph
):
    fake.check_statuses = [{"status": "TIMED_OUT"}]
    with pytest.raises(AppError) as info:
        endpoint.run(graph, None, "job-1", "t2v")
    assert info.value.kind == "gpu_timeout"
    assert endpoint.status(wait_s=30)["runpod"]["check"] == "not yet"
    fake.check_statuses = [fake_runpod.check_answer(fake_runpod.report())]
    assert endpoint.run(graph, None, "job-2", "t2v")["video"]
    assert len(check_runs(fake)) == 2


def test_the_node_writes_the_file_the_check_reads():
    source = (pins.AIO_NODES / "__init__.py").read_text()
    assert f'REPORT_NAME = "{runpod_check.REPORT}"' in source
    assert f'node_id="{runpod_check.NODE}"' in source
    assert runpod_check.NODE in workflow.load_schemas()
