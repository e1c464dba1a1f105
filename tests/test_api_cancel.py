"""L1: api_cancel: a cancel request stops the job of the event it names, and nothing else; on a
shared deployment only when that job is the asker's own."""

from __future__ import annotations

import asyncio
import json

import pytest

import api_cancel
import app  # noqa: F401  (imported at collection time: see CONTRACTS, ComfyUI's own `app`)
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
    monkeypatch.setattr(api_cancel, "_asked", {})
    monkeypatch.setattr(api_cancel, "_running", {})
    JOB_OWNERS.clear()
    return seen


def body(event_id, session="s") -> bytes:
    return json.dumps({"session_hash": session, "fn_index": 3, "event_id": event_id}).encode()


LOCAL = owners.LOCAL


def test_a_cancel_naming_a_running_event_cancels_its_job_only(cancelled):
    with api_cancel.tracking("ev-1", "job-1", LOCAL), api_cancel.tracking("ev-2", "job-2", LOCAL):
        api_cancel.note(body("ev-2"))
    assert cancelled == ["job-2"]
    assert api_cancel.asked("ev-2", LOCAL) and not api_cancel.asked("ev-1", LOCAL)


def test_a_cancel_that_arrives_before_the_job_is_tracked_still_cancels_it(cancelled):
    api_cancel.note(body("ev-early"))
    with api_cancel.tracking("ev-early", "job-early", LOCAL):
        pass
    assert cancelled == ["job-early"]


def session_owner(session: str) -> str:
    return api_cancel.asker({}, session)


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setenv(owners.SHARED_ENV, "1")


def test_on_a_shared_deployment_a_cancel_naming_someone_elses_event_changes_nothing(
    cancelled, shared
):
    a = session_owner("session-of-a")
    JOB_OWNERS["job-a"] = a
    with api_cancel.tracking("ev-a", "job-a", a):
        api_cancel.note(body("ev-a", session="session-of-b"))  # B names A's running event
        assert cancelled == [] and not api_cancel.asked("ev-a", a)
        api_cancel.note(body("ev-a", session="session-of-a"))  # A itself still can
    assert cancelled == ["job-a"] and api_cancel.asked("ev-a", a)


def test_someone_elses_early_cancel_neither_stops_the_event_nor_blocks_its_owners_own(
    cancelled, shared
):
    a = session_owner("session-of-a")
    JOB_OWNERS["job-a"] = a
    api_cancel.note(body("ev-a", session="session-of-b"))  # before A's event started
    with api_cancel.tracking("ev-a", "job-a", a):
        assert cancelled == [] and not api_cancel.asked("ev-a", a)
        api_cancel.note(body("ev-a", session="session-of-a"))  # A's own, after B's
    assert api_cancel.asked("ev-a", a) and cancelled == ["job-a"]


def test_a_key_holders_cancel_speaks_for_the_key_not_the_session(cancelled, shared):
    keyed = api_cancel.asker({"X-AIO-Key": "k" * 40}, "any-session")
    assert keyed.startswith("key:") and keyed == api_cancel.asker({"x-aio-key": "k" * 40}, "other")
    JOB_OWNERS["job-k"] = keyed
    with api_cancel.tracking("ev-k", "job-k", keyed):
        api_cancel.note(body("ev-k", session="someone"), headers={"user-agent": "x"})
        assert cancelled == []
        api_cancel.note(body("ev-k", session="someone"), headers={"X-AIO-Key": "k" * 40})
    assert cancelled == ["job-k"]


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
    asyncio.run(http_guards.CancelWatch(downstream)(scope, receive, None))
    assert b"".join(received) == body("ev-3") and api_cancel.asked("ev-3", LOCAL)


class Queue:
    def __init__(self, events):
        self.event_ids_to_events = dict.fromkeys(events)


class Blocks:
    def __init__(self, *events):
        self._queue = Queue(events)


def test_a_cancel_of_an_event_this_server_does_not_have_is_not_remembered(cancelled):
    api_cancel.note(body("made-up"), Blocks("ev-real"))
    assert api_cancel._asked == {}
    api_cancel.note(body("ev-real"), Blocks("ev-real"))
    assert list(api_cancel._asked) == ["ev-real"]


def test_remembered_cancels_are_bounded_oldest_first(cancelled, monkeypatch):
    monkeypatch.setattr(api_cancel, "MAX_ASKED", 3)
    for n in range(5):
        api_cancel.note(body(f"ev-{n}"))
    assert list(api_cancel._asked) == ["ev-2", "ev-3", "ev-4"]
