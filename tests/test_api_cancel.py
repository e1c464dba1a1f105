"""L1: cancel_ui: a cancel request stops the job of the event it names, and nothing else; on a
shared deployment only when that job is the asker's own."""

from __future__ import annotations

import asyncio
import json

import pytest

import app  # noqa: F401  (imported at collection time: see CONTRACTS, ComfyUI's own `app`)
import cancel_ui
import http_guards
import jobs
import owners

JOB_OWNERS: dict[str, str] = {}  # job id -> its owner, as History would have it


@pytest.fixture
def cancelled(monkeypatch):
    """jobs.cancel as History answers it: a job is found only under its own owner (or under
    none, which a local install's scope is)."""
    seen: list[str] = []

    def cancel(job_id, owner=None):
        if owner is not None and JOB_OWNERS.get(job_id, owners.LOCAL) != owner:
            return False
        seen.append(job_id)
        return True

    monkeypatch.setattr(jobs, "cancel", cancel)
    monkeypatch.setattr(cancel_ui, "_asked", {})
    monkeypatch.setattr(cancel_ui, "_running", {})
    JOB_OWNERS.clear()
    return seen


def body(event_id, session="s") -> bytes:
    return json.dumps({"session_hash": session, "fn_index": 3, "event_id": event_id}).encode()


LOCAL = owners.LOCAL


def test_a_cancel_naming_a_running_event_cancels_its_job_only(cancelled):
    with cancel_ui.tracking("ev-1", "job-1", LOCAL), cancel_ui.tracking("ev-2", "job-2", LOCAL):
        cancel_ui.note(body("ev-2"))
    assert cancelled == ["job-2"]
    assert cancel_ui.asked("ev-2", LOCAL) and not cancel_ui.asked("ev-1", LOCAL)


def test_a_cancel_that_arrives_before_the_job_is_tracked_still_cancels_it(cancelled):
    cancel_ui.note(body("ev-early"))
    with cancel_ui.tracking("ev-early", "job-early", LOCAL):
        pass
    assert cancelled == ["job-early"]


def session_owner(session: str) -> str:
    return cancel_ui.asker({}, session)


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setenv(owners.SHARED_ENV, "1")


def test_on_a_shared_deployment_a_cancel_naming_someone_elses_event_changes_nothing(
    cancelled, shared
):
    a = session_owner("session-of-a")
    JOB_OWNERS["job-a"] = a
    with cancel_ui.tracking("ev-a", "job-a", a):
        cancel_ui.note(body("ev-a", session="session-of-b"))  # B names A's running event
        assert cancelled == [] and not cancel_ui.asked("ev-a", a)
        cancel_ui.note(body("ev-a", session="session-of-a"))  # A itself still can
    assert cancelled == ["job-a"] and cancel_ui.asked("ev-a", a)


def test_someone_elses_early_cancel_neither_stops_the_event_nor_blocks_its_owners_own(
    cancelled, shared
):
    a = session_owner("session-of-a")
    JOB_OWNERS["job-a"] = a
    cancel_ui.note(body("ev-a", session="session-of-b"))  # before A's event started
    with cancel_ui.tracking("ev-a", "job-a", a):
        assert cancelled == [] and not cancel_ui.asked("ev-a", a)
        cancel_ui.note(body("ev-a", session="session-of-a"))  # A's own, after B's
    assert cancel_ui.asked("ev-a", a) and cancelled == ["job-a"]


def test_a_key_holders_cancel_speaks_for_the_key_not_the_session(cancelled, shared):
    keyed = cancel_ui.asker({"X-AIO-Key": "k" * 40}, "any-session")
    assert keyed.startswith("key:") and keyed == cancel_ui.asker({"x-aio-key": "k" * 40}, "other")
    JOB_OWNERS["job-k"] = keyed
    with cancel_ui.tracking("ev-k", "job-k", keyed):
        cancel_ui.note(body("ev-k", session="someone"), headers={"user-agent": "x"})
        assert cancelled == []
        cancel_ui.note(body("ev-k", session="someone"), headers={"X-AIO-Key": "k" * 40})
    assert cancelled == ["job-k"]


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", body(None), body(7)])
def test_unreadable_cancel_bodies_are_ignored(cancelled, raw):
    cancel_ui.note(raw)
    assert cancelled == [] and cancel_ui._asked == {}


def test_detach_takes_the_task_out_of_gradios_cancel_by_session():
    async def named():
        asyncio.current_task().set_name("sess_3<gradio-sep>ev-9")
        cancel_ui.detach()
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
    asyncio.run(http_guards.CancelWatch(downstream)(scope, receive, None))
    assert b"".join(received) == body("ev-3") and cancel_ui.asked("ev-3", LOCAL)


class Queue:
    def __init__(self, events):
        self.event_ids_to_events = dict.fromkeys(events)


class Blocks:
    def __init__(self, *events):
        self._queue = Queue(events)


def test_a_cancel_of_an_event_this_server_does_not_have_is_not_remembered(cancelled):
    cancel_ui.note(body("made-up"), Blocks("ev-real"))
    assert cancel_ui._asked == {}
    cancel_ui.note(body("ev-real"), Blocks("ev-real"))
    assert list(cancel_ui._asked) == ["ev-real"]


def test_remembered_cancels_are_bounded_oldest_first(cancelled, monkeypatch):
    monkeypatch.setattr(cancel_ui, "MAX_ASKED", 3)
    for n in range(5):
        cancel_ui.note(body(f"ev-{n}"))
    assert list(cancel_ui._asked) == ["ev-2", "ev-3", "ev-4"]
