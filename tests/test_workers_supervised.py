"""L-comfy: `tools/start_workers.py --cpu 2` as an operator runs it, two real ComfyUI workers of
the pinned checkout over the tiny set on loopback, and `python app.py` on them. A worker killed
with kill -9 is started again on its port while the other keeps serving; the app's jobs outlive
a worker killed mid-job, one frozen mid-job and both killed at once; `/healthz` answers within a
second all along; SIGTERM stops both workers."""

from __future__ import annotations

import os
import signal
from contextlib import closing
from pathlib import Path

import pytest
from conftest import tiny_env

from testkit.real_workers import polled, supervise
from testkit.waiting import wait_for

pytestmark = pytest.mark.comfy

SMALL = {"prompt": "waves on rocks at dusk", "preset": "fast", "width": 320, "height": 256}
SMALL["frames"] = 9
# A job of seconds, not one: time for the test to act on it once it is seen running.
LONGER = {"preset": "balanced", "frames": 33}
HEALTHZ_BOUND_S = 1.0  # issue 26: /healthz answers from state, whatever the workers do
JOB_S = 600


@pytest.fixture(scope="module")
def supervised(tiny_models, tmp_path_factory):
    if not Path("/proc").is_dir():
        pytest.skip("finds the workers' processes in /proc (Linux)")
    with supervise(tmp_path_factory.mktemp("supervised"), tiny_env(tiny_models)) as group:
        yield group


def test_a_killed_worker_is_restarted_and_the_other_keeps_serving(supervised):
    port = supervised.port
    killed, other = supervised.pid(0), supervised.pid(1)
    assert killed and other
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: "restarting in" in supervised.said(), "the death noticed", 60)
    assert supervised.answers(1)  # the other goes on meanwhile
    wait_for(lambda: supervised.answers(0) and supervised.pid(0) not in (None, killed), "back", 600)
    assert supervised.pid(1) == other and supervised.answers(1)
    said = supervised.said()
    assert f"exited  http://127.0.0.1:{port} (-9): restarting in 1 s" in said
    assert f"restart http://127.0.0.1:{port}: started again" in said
    assert supervised.tool.poll() is None


def test_jobs_outlive_killed_and_frozen_workers_and_healthz_answers_at_once(
    supervised, tiny_models, tmp_path
):
    """Through the app, as a deployment on these workers: a worker killed mid-job (the job
    finishes on the other, the queued ones too, the killed one comes back), one frozen mid-job
    (its job re-runs on the other; resumed, it keeps no file of it), both killed at once (the
    jobs wait for one to come back and run). No job lost; /healthz within 1 s throughout."""
    from conftest import SESSION_COMFY
    from gradio_client import Client

    import history
    import worker_pool
    from testkit.real_app import serve

    env = {
        "LTX_AIO_WORKERS": ",".join(supervised.urls),
        "LTX_AIO_WORKER_TIMEOUT": "15",  # a frozen worker is given up on after 15 s
        "LTX_AIO_WORKER_GRACE": "600",  # longer than two ComfyUI restarts on this CPU
    }
    with (
        serve(tmp_path, tiny_models, SESSION_COMFY, **env) as app,
        # One client, made before /healthz is timed: a client's start reads the app's whole API
        # (a second of CPU here and in the app), which is no part of what is measured.
        closing(Client(app.url, verbose=False)) as client,
        polled(app.url) as health,
    ):
        store = history.open_store(app.data)

        def submit(seed: int, **values):
            return client.submit(**{**SMALL, "seed": seed, **values}, api_name="/t2v")

        def worker_running(seed: int, job) -> tuple[str, int]:
            """(job id, worker index) once the job with `seed` runs on a worker."""

            def where():
                assert not job.done(), "the job ended before the test could act on it"
                for record in store.jobs("t2v", "running"):
                    if record.params.get("seed") == seed:
                        prompt_id = worker_pool.prompt_id_for(record.id)
                        on = [i for i in range(2) if prompt_id in supervised.running(i)]
                        if on:
                            return record.id, on[0]
                return None

            return wait_for(where, f"job {seed} to run on a worker", JOB_S)

        def finished(job) -> dict:
            video, used = job.result(timeout=JOB_S)
            record = store.get(used["job_id"])
            assert record.status == "done" and Path(record.output).stat().st_size > 0
            return used

        def both_up():
            wait_for(lambda: health.states() == ["up", "up"], "both workers up", JOB_S)

        health.phase = "busy, one killed"
        first = submit(300, **LONGER)
        queued = [submit(301), submit(302)]
        _, killed = worker_running(300, first)
        os.kill(supervised.pid(killed), signal.SIGKILL)
        used = finished(first)
        assert used["worker"] == supervised.urls[1 - killed]
        assert any("stopped answering mid-job" in note for note in used["notes"])
        for job in queued:
            finished(job)
        both_up()  # restarted by the tool, checked again by the app
        assert f"restart {supervised.urls[killed]}: started again" in supervised.said()

        health.phase = "busy, one frozen"
        frozen_job = submit(310, **LONGER)
        job_id, frozen = worker_running(310, frozen_job)
        pid = supervised.pid(frozen)
        os.kill(pid, signal.SIGSTOP)
        try:
            used = finished(frozen_job)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert used["worker"] == supervised.urls[1 - frozen]
        assert any("stopped answering mid-job" in note for note in used["notes"])
        both_up()
        prompt_id = worker_pool.prompt_id_for(job_id)
        wait_for(  # it answers that it has no record of the job, and no file of it is left
            lambda: (
                supervised.knows(frozen, prompt_id) is False
                and not [p for p in supervised.outputs(frozen) if job_id in p.name]
            ),
            "the resumed worker to keep nothing of the moved job",
            JOB_S,
        )

        health.phase = "both killed"
        lost = submit(320, **LONGER)
        waiting = submit(321)
        worker_running(320, lost)
        for i in range(2):
            os.kill(supervised.pid(i), signal.SIGKILL)
        assert any("stopped answering mid-job" in note for note in finished(lost)["notes"])
        finished(waiting)
        both_up()

    assert not health.failures(), health.failures()[:3]  # every ask got a report
    phases = ("busy, one killed", "busy, one frozen", "both killed")
    assert all(health.count(phase) >= 10 for phase in phases), health.worst()
    worst = health.worst()
    assert max(worst.values()) < HEALTHZ_BOUND_S, (worst, health.slowest())
    codes = {(answer.phase, answer.code) for answer in health.answers}
    assert ("both killed", 503) in codes, codes  # said while no worker was up
    assert {("busy, one killed", 200), ("busy, one frozen", 200)} <= codes
    assert [j.status for j in store.jobs("t2v")] == ["done"] * 6


def test_sigterm_stops_every_worker(supervised):
    supervised.tool.send_signal(signal.SIGTERM)
    code = supervised.tool.wait(timeout=120)
    assert code == 0, supervised.said()
    assert supervised.pid(0) is None and supervised.pid(1) is None
