"""L1 (real processes): one app process per data dir. The first to open History claims it; a
store opened meanwhile by another process leaves that process's running jobs alone, and a second
app on the same data dir refuses to start, saying which process holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import history
import history_claim

ROOT = Path(__file__).resolve().parents[1]

HOLDER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import history
    store = history.Store(sys.argv[2])
    job = store.create_job("t2v", {"prompt": "held"})
    store.mark_running(job)
    print(job, flush=True)
    sys.stdin.read()  # until the test closes it
    """
)


@pytest.fixture
def holder(tmp_path):
    """Another live process that claimed tmp_path/data and runs one job there."""
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(ROOT), str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    job_id = process.stdout.readline().strip()
    assert job_id, "the holding process did not start"
    yield data, job_id, process
    if process.poll() is None:
        process.stdin.close()
        process.wait(timeout=30)


def test_a_store_opened_beside_a_live_process_leaves_its_running_job_alone(holder):
    data, job_id, process = holder
    store = history.Store(data)
    try:
        assert store.guest
        assert store.get(job_id).status == "running"
        assert history_claim.claimant(data) == process.pid
    finally:
        store.close()


def test_the_claim_ends_with_the_process_however_it_ends(holder):
    data, job_id, process = holder
    process.kill()  # kill -9: the system lets the lock go
    process.wait(timeout=30)
    store = history.Store(data)
    try:
        assert not store.guest
        job = store.get(job_id)
        assert job.status == "failed" and job.error_kind == "interrupted"
    finally:
        store.close()


def test_stores_of_one_process_share_its_claim(tmp_path):
    first = history.Store(tmp_path / "data")
    second = history.Store(tmp_path / "data")
    try:
        assert not first.guest and not second.guest
    finally:
        first.close()
        second.close()


def test_a_second_app_on_the_same_data_dir_refuses_to_start(holder, tmp_path):
    data, job_id, process = holder
    environment = {
        **os.environ,
        "LTX_AIO_DATA_DIR": str(data),
        "LTX_AIO_COMFYUI_DIR": str(tmp_path / "no-comfyui"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    started = subprocess.run(
        [sys.executable, "-c", "import app; app.main()"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = started.stdout + started.stderr
    assert started.returncode == 1, said
    assert f"Another copy of this app (process {process.pid})" in said
    assert "LTX_AIO_DATA_DIR" in said
    assert not (tmp_path / "no-comfyui").exists()  # it stopped before installing anything
    store = history.Store(data)
    try:
        assert store.get(job_id).status == "running"
    finally:
        store.close()
