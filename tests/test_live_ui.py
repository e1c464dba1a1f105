"""L1: the live box of a running job (live_ui.Live.follow): what it sends to the page while the
job's task runs."""

from __future__ import annotations

import asyncio

import gradio as gr
import pytest

import live_ui


def updates_while(task_body, monkeypatch, zero_gpu: bool) -> tuple[list, object]:
    if zero_gpu:
        monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    else:
        monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    box = gr.HTML()

    async def run():
        live = live_ui.Live(lambda *a, **k: None)
        task = asyncio.ensure_future(task_body(live))
        sent = [update async for update in live.follow(task, box)]
        return [u[box] for u in sent], await task

    return asyncio.run(run())


async def a_job(live):
    for step in range(1, 4):
        live(step / 4, f"Sampling pass 1 · step {step}/3")
        await asyncio.sleep(0)  # the job's thread reporting, as it goes
    return "video.mp4"


def test_the_box_shows_the_jobs_line_while_it_runs(monkeypatch):
    sent, result = updates_while(a_job, monkeypatch, zero_gpu=False)
    assert result == "video.mp4"
    assert sent and all(u.get("visible") for u in sent)
    assert "Starting" in sent[0]["value"]


def test_on_zerogpu_the_box_stays_hidden_and_the_job_still_ends(monkeypatch):
    """There the job's lines stay in its GPU process: a box shown would stand at its first line
    beside Gradio's own progress."""
    sent, result = updates_while(a_job, monkeypatch, zero_gpu=True)
    assert result == "video.mp4"
    assert sent == [{"__type__": "update", "visible": False}]


def test_on_zerogpu_a_failed_job_is_the_callers_to_raise(monkeypatch):
    async def failing(live):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        updates_while(failing, monkeypatch, zero_gpu=True)
