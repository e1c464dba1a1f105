"""L3: History and /healthz through the real app (gradio_client, HTTP); the GPU boundary doubled.

Each test serves the app with its own data dir (app_helpers.running_app); "a restart" is the app
closed, History's open stores dropped, and the app served again on the same data dir.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

import app  # noqa: F401  (imported at collection time: see CONTRACTS, ComfyUI's own `app`)
import backend
import history
import history_db
import history_listing
import jobs
import models
import pins
from errors import AppError
from testkit import mediagen
from testkit.app_helpers import running_app, save_prefix
from testkit.history_helpers import history_view

PROMPT = "a lighthouse on a cliff at dusk, waves crashing, gulls calling"


def t2v(client: Client, **kwargs):
    return client.predict(prompt=PROMPT, preset="fast", **kwargs, api_name="/t2v")


def restarted(data: Path) -> history.Store:
    """The records as a new process reads them from disk."""
    history.close_all()
    return history.open_store(data)


def wait_until(check, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def job_files(store: history.Store, job: history.Job) -> list[str]:
    return sorted(p.name for p in (store.jobs_dir / job.id).iterdir())


# -- persistence ---------------------------------------------------------------------------------


def test_app_job_record_survives_a_restart(tmp_path):
    data = tmp_path / "data"
    with running_app(tmp_path / "first", data=data) as served:
        video, used = t2v(Client(served.url, verbose=False), seed=7)

    with running_app(tmp_path / "second", data=data):
        items, ids, total = history_listing.listing(None, None)
        job = history.open_store().get(ids[0])
    assert total == 1 and ids == [used["job_id"]]
    assert (job.status, job.mode, job.seed, job.used["frames"]) == (
        "done",
        "t2v",
        7,
        used["frames"],
    )
    assert job.output.read_bytes() == Path(video).read_bytes()
    thumb, caption = items[0]
    assert Path(thumb).parent == job.output.parent and "done" in caption


def test_app_twenty_concurrent_submissions_make_twenty_records(tmp_path):
    with running_app(tmp_path) as served:
        client = Client(served.url, verbose=False)
        submitted = [
            client.submit(prompt=f"{PROMPT} #{i}", preset="fast", seed=i, api_name="/t2v")
            for i in range(20)
        ]
        results = [job.result(timeout=120) for job in submitted]
        done = served.store().jobs(status="done", limit=-1)
        total = served.store().count()
    assert total == 20 and len(done) == 20
    assert sorted(j.seed for j in done) == list(range(20))
    assert len({j.output for j in done}) == 20 and all(j.output.is_file() for j in done)
    assert len({Path(video).name for video, _ in results}) == 20
    assert {used["job_id"] for _, used in results} == {j.id for j in done}


def test_app_records_parameters_as_used_inputs_and_timings(tmp_path):
    image = mediagen.make_png(tmp_path / "first frame.png", 96, 64)
    with running_app(tmp_path) as served:
        _, used = Client(served.url, verbose=False).predict(
            image=handle_file(str(image)), prompt=PROMPT, preset="fast", frames=100, api_name="/i2v"
        )
        job = served.store().get(used["job_id"])
    assert job.params["frames"] == 100 and job.used["frames"] == 97 == used["frames"]
    assert job.params["image"] == "first frame.png"
    assert job.inputs["image"].read_bytes() == image.read_bytes()
    assert job.timings["total_s"] >= job.timings["generate_s"] >= 0
    assert job.started_at <= job.finished_at


# -- failures and cancels -------------------------------------------------------------------------


def test_app_failed_job_is_recorded_failed_without_output(tmp_path):
    with running_app(tmp_path) as served:
        served.engine.fail_with = [AppError("oom", "The device ran out of memory.")]
        with pytest.raises(Exception, match=r"\[oom\]"):
            t2v(Client(served.url, verbose=False), seed=5)
        store = served.store()
        (job,) = store.jobs()
        files = job_files(store, job)
    assert (job.status, job.error_kind, job.output, job.seed) == ("failed", "oom", None, 5)
    assert not any(name.endswith(".mp4") for name in files)


def test_app_partial_output_is_recorded_failed_and_never_returned(tmp_path):
    with running_app(tmp_path) as served:
        whole = mediagen.make_mp4(tmp_path / "whole.mp4", seconds=1.0)
        cut = pins.output_dir() / "ltx-aio" / "cut_00001_.mp4"
        cut.parent.mkdir(parents=True, exist_ok=True)
        cut.write_bytes(whole.read_bytes()[:300])
        served.engine.video_path = str(cut)
        with pytest.raises(Exception, match=r"\[node_failed\]") as caught:
            t2v(Client(served.url, verbose=False))
        store = served.store()
        (job,) = store.jobs()
        files = job_files(store, job)
    assert "unusable" in str(caught.value)
    assert (job.status, job.output) == ("failed", None) and not any(
        name.endswith(".mp4") for name in files
    )


def test_app_job_cancelled_mid_run_is_recorded_cancelled(tmp_path):
    started = threading.Event()

    with running_app(tmp_path) as served:
        engine = served.engine

        def slow_generate(
            mode, preset, prompt, frames, duration_multiplier=1.0, progress=None, job_id=""
        ):
            # A partial file on disk, as a real run leaves when it is stopped mid-way.
            partial = pins.output_dir() / f"{save_prefix(prompt)}_00001_.mp4"
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(b"\x00\x00\x00\x18ftypmp42")
            started.set()
            if engine.cancelled.wait(60):
                raise AppError("interrupted", "Generation was cancelled.")
            return {"video": str(partial), "outputs": [str(partial)], "seconds": 1.0}

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(backend, "generate", slow_generate)
            client = Client(served.url, verbose=False)
            job = client.submit(prompt=PROMPT, preset="fast", api_name="/t2v")
            assert started.wait(60)
            job.cancel()
            store = served.store()
            assert wait_until(lambda: store.jobs()[0].status != "running")
            (record,) = store.jobs()
            files = job_files(store, record)
    assert engine.cancels == 1
    assert (record.status, record.error_kind, record.output) == ("cancelled", "interrupted", None)
    assert not any(name.endswith(".mp4") for name in files)


def running_prompt(store: history.Store) -> str | None:
    running = [j for j in store.pending() if j.status == "running"]
    return running[0].params["prompt"] if running else None


def test_app_cancelling_a_queued_submission_leaves_the_running_one_and_the_rest(tmp_path):
    with running_app(tmp_path) as served:
        served.engine.step_delay = 0.3
        client = Client(served.url, verbose=False)
        store = served.store()
        first = client.submit(prompt="first", preset="fast", api_name="/t2v")
        assert wait_until(lambda: running_prompt(store) == "first")
        second = client.submit(prompt="second", preset="fast", api_name="/t2v")
        third = client.submit(prompt="third", preset="fast", api_name="/t2v")
        # Both wait their turn for the GPU (jobs.TURNS), recorded as queued.
        assert wait_until(lambda: jobs.TURNS.waiting() == 2)
        third.cancel()
        results = [first.result(timeout=60), second.result(timeout=60)]
        time.sleep(0.5)  # room for a wrongly started third job to show up
        recorded = [(j.id, j.params["prompt"], j.status) for j in store.jobs()][::-1]
    # Every submission is recorded when it joins the queue (two joining at once may be recorded
    # in either order): the cancelled one says so.
    by_prompt = {prompt: (job_id, status) for job_id, prompt, status in recorded}
    assert {p: status for p, (_, status) in by_prompt.items()} == {
        "first": "done",
        "second": "done",
        "third": "cancelled",
    }
    assert [used["job_id"] for _, used in results] == [by_prompt[p][0] for p in ("first", "second")]
    assert served.engine.cancels == 0


def test_app_cancelling_the_running_submission_leaves_the_queued_ones(tmp_path):
    with running_app(tmp_path) as served:
        served.engine.step_delay = 0.5
        client = Client(served.url, verbose=False)
        store = served.store()
        first = client.submit(prompt="first", preset="fast", api_name="/t2v")
        second = client.submit(prompt="second", preset="fast", api_name="/t2v")
        assert wait_until(lambda: running_prompt(store) is not None)
        running, waiting = (first, second) if running_prompt(store) == "first" else (second, first)
        running.cancel()
        _, used = waiting.result(timeout=60)
        statuses = {j.id: j.status for j in store.jobs()}
    assert sorted(statuses.values()) == ["cancelled", "done"] and statuses[used["job_id"]] == "done"
    assert served.engine.cancels == 1


# -- a damaged data dir ----------------------------------------------------------------------------


def test_app_corrupt_database_is_kept_aside_and_a_fresh_one_works(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / history_db.DB_NAME).write_bytes(b"this is not a database" * 100)
    with running_app(tmp_path, data=data) as served, weights_present_patch():
        code, body = healthz(served.url)
        _, used = t2v(Client(served.url, verbose=False))
        notice = app.on_load()["value"]
        jobs = served.store().jobs()
    aside = list(data.glob(f"{history_db.DB_NAME}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert "kept as" in body["history"]["notice"] and aside[0].name in notice
    assert [j.id for j in jobs] == [used["job_id"]]


def test_app_missing_database_is_rebuilt_from_the_job_folders(tmp_path):
    data = tmp_path / "data"
    with running_app(tmp_path / "first", data=data) as served:
        _, used = t2v(Client(served.url, verbose=False), seed=11)
    history.close_all()
    (data / history_db.DB_NAME).unlink()
    for side in data.glob(f"{history_db.DB_NAME}-*"):
        side.unlink()
    with running_app(tmp_path / "second", data=data) as served:
        job = served.store().get(used["job_id"])
        notice = served.store().notice
    assert (job.status, job.seed) == ("done", 11)
    assert "missing" in notice and "1 job(s) were recovered" in notice


@pytest.mark.parametrize("fault", ["zero-byte", "foreign-schema", "unreadable-row"])
def test_app_recovers_from_each_database_fault_with_a_notice_and_no_lost_job(tmp_path, fault):
    data = tmp_path / "data"
    with running_app(tmp_path / "first", data=data) as served:
        client = Client(served.url, verbose=False)
        kept = [t2v(client, seed=seed)[1]["job_id"] for seed in (1, 2)]
    history.close_all()
    db = data / history_db.DB_NAME
    if fault == "unreadable-row":
        with sqlite3.connect(db) as broken:
            broken.execute("UPDATE jobs SET params = '{not json' WHERE id = ?", (kept[0],))
        kept = kept[1:]  # hidden, its files kept; the other is listed
    else:
        for side in data.glob(f"{history_db.DB_NAME}-*"):
            side.unlink()
        db.unlink()
        if fault == "foreign-schema":
            with sqlite3.connect(db) as foreign:
                foreign.execute("CREATE TABLE jobs (title TEXT)")
        else:
            db.write_bytes(b"")
    with running_app(tmp_path / "second", data=data) as served:
        view = history_view()
        ids = view.on_refresh("", "", history_listing.PAGE, None)[view.ids]
        notice = app.on_load()["value"]
        _, used = t2v(Client(served.url, verbose=False), seed=3)  # and it goes on working
        pruned = jobs.prune(served.store())
    assert set(kept) <= set(ids) and pruned == []
    assert notice and ("recovered" in notice or "hidden" in notice)
    assert used["job_id"]


def test_app_with_an_unusable_data_dir_opens_and_says_why_it_cannot_generate(tmp_path):
    blocked = tmp_path / "data"
    blocked.write_text("a file where the data dir should be")
    with running_app(tmp_path, data=blocked) as served, weights_present_patch():
        with pytest.raises(Exception, match=r"\[unavailable\]") as caught:
            t2v(Client(served.url, verbose=False))
        code, body = healthz(served.url)
        banner = app.on_load()["value"]
    assert "LTX_AIO_DATA_DIR" in str(caught.value) and "Traceback" not in str(caught.value)
    assert code == 503 and any("cannot be recorded in History" in r for r in body["reasons"])
    assert "LTX_AIO_DATA_DIR" in banner and served.engine.calls == []


# -- /healthz --------------------------------------------------------------------------------------


def healthz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@contextmanager
def weights_present_patch():
    """The weights as present, so health's verdict does not depend on this machine's disk."""
    present = {"ready": True, "files": [], "missing_gb": 0.0}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "model_status", lambda mode=None: {"modes": {"t2v": present}})
        yield patch


@pytest.fixture
def weights_present():
    with weights_present_patch() as patch:
        yield patch


def test_app_healthz_is_200_when_generation_can_run(tmp_path, weights_present):
    with running_app(tmp_path) as served:
        t2v(Client(served.url, verbose=False))
        code, body = healthz(served.url)
    assert (code, body["status"], body["reasons"]) == (200, "ok", [])
    assert body["queue"]["length"] == 0
    assert body["history"] == {"open": True, "jobs": 1, "pending": 0, "notice": None}
    assert body["models"]["modes"]["t2v"]["ready"] is True
    assert {"bootstrap", "nodes", "device", "disk", "version"} <= set(body)


def test_app_healthz_is_503_with_the_reasons_when_it_cannot(tmp_path, weights_present):
    with running_app(tmp_path) as served:
        served.engine.ready = False
        served.engine.problems = ["ComfyUI is not installed at comfyui/."]
        code, body = healthz(served.url)
    assert (code, body["status"]) == (503, "unavailable")
    assert body["reasons"] == ["ComfyUI is not installed at comfyui/."]
