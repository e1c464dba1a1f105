"""L-exec: `python app.py` on the real engine, killed with jobs waiting, and started again."""

from __future__ import annotations

import time

import pytest
from conftest import SESSION_COMFY
from gradio_client import Client

import history
from testkit.real_app import serve

pytestmark = pytest.mark.comfy


def statuses(data) -> list[tuple[str, str]]:
    """(prompt, status) of every job, read without opening a Store: opening one marks the jobs
    it finds running as interrupted, which only the app itself may do at its start."""
    import json
    import sqlite3

    db = sqlite3.connect(f"file:{data / 'history.db'}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT params, status FROM jobs ORDER BY created_at").fetchall()
    except sqlite3.OperationalError:  # not made yet
        return []
    finally:
        db.close()
    return [(json.loads(params or "{}").get("prompt"), status) for params, status in rows]


def wait_until(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_kill_9_with_queued_jobs_runs_each_waiting_one_exactly_once_after_restart(
    tiny_models, tmp_path
):
    data = tmp_path / "data"
    with serve(tmp_path / "first", tiny_models, SESSION_COMFY, data=data) as app:
        client = Client(app.url, verbose=False)
        submitted = [
            client.submit(prompt=f"queued job {n}", preset="balanced", width=320, height=256,
                          frames=17, seed=n, api_name="/t2v")
            for n in range(5)
        ]  # fmt: skip
        assert wait_until(
            lambda: (
                len(statuses(data)) == 5 and [s for _, s in statuses(data)].count("running") == 1
            )
        ), statuses(data)
        app.process.kill()  # kill -9: no shutdown code runs
        app.process.wait(timeout=30)
        del submitted
    with serve(tmp_path / "second", tiny_models, SESSION_COMFY, data=data) as again:
        # The one that was running failed; the four that waited run again, in turn.
        assert wait_until(
            lambda: [s for _, s in statuses(again.data)].count("done") == 4, timeout=600
        ), statuses(again.data)
    store = history.Store(data)  # the app has stopped: opening it now changes nothing
    try:
        recorded = store.jobs(limit=-1)
    finally:
        store.close()
    assert sorted(j.params.get("prompt") for j in recorded) == [f"queued job {n}" for n in range(5)]
    failed = [j for j in recorded if j.status == "failed"]
    assert len(failed) == 1 and failed[0].error_kind == "interrupted"
    assert "restart" in failed[0].error_message
    done = [j for j in recorded if j.status == "done"]
    assert len(done) == 4 and all(j.output and j.output.is_file() for j in done)
    # Once each: every job ran once (one output file of its own), none recorded twice.
    assert len({j.output for j in done}) == 4 and len({j.id for j in recorded}) == 5
