"""L-exec: `python app.py` on the real engine, killed with jobs waiting, and started again."""

from __future__ import annotations

import time

import pytest
from conftest import SESSION_COMFY
from gradio_client import Client
from real_app import serve

import history

pytestmark = pytest.mark.comfy


def wait_until(condition, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_kill_9_with_queued_jobs_leaves_every_submission_recorded(tiny_models, tmp_path):
    data = tmp_path / "data"
    with serve(tmp_path / "first", tiny_models, SESSION_COMFY, data=data) as app:
        client = Client(app.url, verbose=False)
        submitted = [
            client.submit(prompt=f"queued job {n}", preset="balanced", width=320, height=256,
                          frames=17, seed=n, api_name="/t2v")
            for n in range(5)
        ]  # fmt: skip
        store = history.Store(data)
        try:
            assert wait_until(lambda: store.count() == 5 and store.count(status="running") == 1), [
                (j.params.get("prompt"), j.status) for j in store.jobs()
            ]
        finally:
            store.close()
        app.process.kill()  # kill -9: no shutdown code runs
        app.process.wait(timeout=30)
        del submitted
    with serve(tmp_path / "second", tiny_models, SESSION_COMFY, data=data) as again:
        store = history.Store(again.data)
        try:
            recorded = {j.params.get("prompt"): j for j in store.jobs(limit=-1)}
        finally:
            store.close()
    assert sorted(recorded) == [f"queued job {n}" for n in range(5)]
    assert {(j.status, j.error_kind) for j in recorded.values()} == {("failed", "interrupted")}
    assert all("restart" in j.error_message for j in recorded.values())
