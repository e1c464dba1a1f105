"""A client's `job.cancel()` stops exactly that API job, and no other.

Gradio 6 cancels by session and endpoint: POST /gradio_api/cancel cancels every running task of
that endpoint in the client's session, then takes the named event out of the queue. A script's
many submissions share one gradio_client session, so cancelling one queued job would kill the
job that is running (its client then waits forever), while the queued one, freed by the killed
job, may start anyway. So an API job's task leaves Gradio's session-wide cancel (`detach()`), and
the cancel request itself is read on its way in (http_guards.CancelWatch): the job of the named
event is cancelled through `jobs.cancel`, and a named event that starts later is refused at once.
Gradio's own handling of the request still runs (the queue removal, the client's completion).

A cancel counts only for its asker's own jobs: the asker is found as for any request
(owners.of: the key in its headers, else the session its body names), the job is cancelled only
if History has it under that owner, and a cancel asked before its event started stops that event
only if the event's owner is the asker. Naming someone else's event changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from types import SimpleNamespace

from gradio.context import LocalContext

import jobs
import owners

log = logging.getLogger("ltx_aio.api_cancel")

# How Gradio names a running event's task: "<session>_<fn_index><gradio-sep><event_id>".
GRADIO_SEP = "<gradio-sep>"
DETACHED_SEP = "<ltx-aio-detached>"
FORGET_AFTER_S = 3600.0
MAX_ASKERS = 8  # askers remembered per event
MAX_ASKED = 10_000  # cancels remembered at most (of events that exist: one per event and asker)

_asked: dict[str, dict[str, float]] = {}  # event id -> {who asked to cancel it: when}
_running: dict[str, str] = {}  # event id -> the History job it runs


def event_id() -> str | None:
    """The Gradio event the current handler serves (None outside a Gradio request)."""
    return LocalContext.event_id.get(None)


def detach() -> None:
    """Take the current task out of Gradio's cancel-by-session (see the module docstring)."""
    task = asyncio.current_task()
    name = task.get_name() if task is not None else ""
    if GRADIO_SEP in name:
        task.set_name(name.replace(GRADIO_SEP, DETACHED_SEP))


def asked(event: str | None, owner: str) -> bool:
    """Whether `owner`, whose event this is, asked to cancel it."""
    return event is not None and owner in _asked.get(event, {})


@contextlib.contextmanager
def tracking(event: str | None, job_id: str, owner: str) -> Iterator[None]:
    """While the block runs, a cancel naming `event` cancels `job_id` (`owner`'s job)."""
    if event is None:
        yield
        return
    _running[event] = job_id
    try:
        if asked(event, owner):  # asked between the handler's start and now
            jobs.cancel(job_id, owners.scope(owner))
        yield
    finally:
        _running.pop(event, None)


def _events(blocks) -> dict:
    """Gradio's events of this server, from joining the queue until they end."""
    return getattr(getattr(blocks, "_queue", None), "event_ids_to_events", None) or {}


def _submitted_job(blocks, event: str) -> str | None:
    """The job a queued submission recorded when it joined (events_ui.make_api_submit)."""
    request = getattr(getattr(_events(blocks).get(event), "data", None), "request", None)
    return getattr(getattr(request, "state", None), "aio_job", None)


def asker(headers, session_hash: str, scope=None) -> str:
    """The owner a cancel request speaks for, found as owners.of finds any request's."""
    request = SimpleNamespace(
        headers=owners.plain_headers(headers),
        session_hash=session_hash or None,
        request=SimpleNamespace(scope=scope or {}),
    )
    return owners.of(request)


def note(body: bytes, blocks=None, headers=None, scope=None) -> None:
    """A cancel request's body: remember its event and cancel that event's job, running or still
    waiting in the queue (recorded at submit), if the job is the asker's."""
    try:
        data = json.loads(body or b"{}")
        event, session = data.get("event_id"), data.get("session_hash")
    except (ValueError, AttributeError):
        return
    if not isinstance(event, str) or not isinstance(session, (str, type(None))):
        return
    if blocks is not None and event not in _running and event not in _events(blocks):
        return  # no such event here (made up, or ended): nothing to stop, nothing to remember
    who = asker(headers, session or "", scope)
    now = time.monotonic()
    for old in [e for e, asks in _asked.items() if now - max(asks.values()) > FORGET_AFTER_S]:
        del _asked[old]
    while len(_asked) >= MAX_ASKED:  # the oldest asks go first
        del _asked[next(iter(_asked))]
    asks = _asked.setdefault(event, {})
    if who not in asks and len(asks) >= MAX_ASKERS:
        return  # an event has one owner: more askers than this are made-up sessions
    asks[who] = now
    job_id = _running.get(event) or (_submitted_job(blocks, event) if blocks else None)
    if job_id is not None and jobs.cancel(job_id, owners.scope(who)):
        log.info("client cancelled job %s (event %s)", job_id, event)
