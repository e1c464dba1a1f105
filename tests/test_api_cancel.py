"""L1: api_cancel: a cancel request stops the job of the event it names, and nothing else."""

from __future__ import annotations

import asyncio
import json

import pytest

import api_cancel
import app  # noqa: F401  (imported at collection time: see CONTRACTS, ComfyUI's own `app`)
import jobs


@pytest.fixture
def cancelled(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(jobs, "cancel", seen.append)
    monkeypatch.setattr(api_cancel, "_asked", {})
    monkeypatch.setattr(api_cancel, "_running", {})
    return seen


def body(event_id) -> bytes:
    return json.dumps({"session_hash": "s", "fn_index": 3, "event_id": event_id}).encode()


def test_a_cancel_naming_a_running_event_cancels_its_job_only(cancelled):
    with api_cancel.tracking("ev-1", "job-1"), api_cancel.tracking("ev-2", "job-2"):
        api_cancel.note(body("ev-2"))
    assert cancelled == ["job-2"] and api_cancel.asked("ev-2") and not api_cancel.asked("ev-1")


def test_a_cancel_that_arrives_before_the_job_is_tracked_still_cancels_it(cancelled):
    api_cancel.note(body("ev-early"))
    with api_cancel.tracking("ev-early", "job-early"):
        pass
    assert cancelled == ["job-early"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", body(None), body(7)])
def test_unreadable_cancel_bodies_are_ignored(cancelled, raw):
    api_cancel.note(raw)
    assert cancelled == [] and api_cancel._asked == {}


def test_detach_takes_the_task_out_of_gradios_cancel_by_session():
    async def named():
        asyncio.current_task().set_name("sess_3<gradio-sep>ev-9")
        api_cancel.detach()
        return asyncio.current_task().get_name()

    assert asyncio.run(named()) == "sess_3<ltx-aio-detached>ev-9"


def test_the_middleware_passes_the_cancel_body_on_unchanged(cancelled):
    received = []

    async def downstream(scope, receive, send):
        while True:
            message = await receive()
            received.append(message.get("body", b""))
            if not message.get("more_body"):
                break

    parts = [body("ev-3")[:10], body("ev-3")[10:]]
    incoming = [
        {"type": "http.request", "body": parts[0], "more_body": True},
        {"type": "http.request", "body": parts[1], "more_body": False},
    ]

    async def receive():
        return incoming.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/gradio_api/cancel"}
    asyncio.run(api_cancel.CancelWatch(downstream)(scope, receive, None))
    assert b"".join(received) == body("ev-3") and api_cancel.asked("ev-3")
