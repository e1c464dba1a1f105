"""What the page says in its banners: a job's result or failure, a batch's outcome, the engine's
state. Escaped HTML strings, plus the updates that show one with its fix buttons."""

from __future__ import annotations

import html
import re

import gradio as gr

import batch
import history
import modes
import readiness
import tables
from errors import AppError
from fields import number_text
from job_spec import Spec

FIX_PRESET = "fast"
_CODE = re.compile(r"`([^`]+)`")


def rich(text: str) -> str:
    """Escaped text whose `commands` show as code, not as raw backticks."""
    return _CODE.sub(r"<code>\1</code>", html.escape(str(text)))


def banner_html(
    level: str, title: str, message: str = "", *, where="", hint="", items=(), details=()
) -> str:
    """A banner: title, the field it concerns, message, short items, a hint, and `details`
    behind a disclosure."""
    role = "alert" if level == "error" else "status"
    attrs = f' data-field="{html.escape(where)}"' if where else ""
    parts = [
        f'<div class="aio-banner aio-banner--{level}" role="{role}"{attrs}>',
        f'<span class="aio-banner-title">{html.escape(title)}</span>',
    ]
    if where:
        parts.append(f'<span class="aio-banner-where">{html.escape(where)}:</span> ')
    if message:
        parts.append(f"<span>{rich(message)}</span>")
    if items:
        parts.append("<ul>" + "".join(f"<li>{rich(i)}</li>" for i in items) + "</ul>")
    if hint:
        parts.append(f'<div class="aio-banner-hint">{rich(hint)}</div>')
    if details:
        said = "".join(f"<li>{rich(text)}</li>" for text in details)
        parts.append(f"<details><summary>Details and what to do</summary><ul>{said}</ul></details>")
    parts.append("</div>")
    return "".join(parts)


def error_banner(err: AppError) -> str:
    level = "info" if err.kind == "interrupted" else "error"
    return banner_html(
        level,
        err.title,
        err.message,
        where=err.where,
        hint=err.next_step(),
    )


def success_banner(spec: Spec) -> str:
    """What a finished job ran as, and everything said of it; an edit (extend, retake) says
    first how long its result is: what the graph made is only its part of it."""
    summary = (
        f"{spec.width}x{spec.height}, {spec.frames} frames at {spec.fps} fps, seed {spec.seed}, "
        f"preset {spec.preset}, {spec.seconds} s"
    )
    edit = modes.MODES[spec.mode].edit if spec.edit and spec.mode in modes.MODES else None
    if edit is not None:
        frames, fps = edit.result_frames(spec.edit), spec.edit["fps"]
        summary = (
            f"the result lasts {frames / fps:.2f} s ({frames} frames at {number_text(fps)} "
            f"fps); this run made {summary}"
        )
    return banner_html("ok", "Done", summary, items=spec.notes or ())


def engine_banner(found: list[readiness.Line] | None = None) -> str:
    """The status banner: what stops or slows generation here, once, briefly; the details and
    fixes behind a disclosure. Empty when there is nothing to say."""
    found = readiness.lines() if found is None else found
    if not found:
        return ""
    blocked = any(line.level == "problem" for line in found)
    title, said = (
        ("Generation is unavailable", "The page works, but nothing can be generated until:")
        if blocked
        else ("Before you generate", "")
    )
    return banner_html(
        "error" if blocked else "warn",
        title,
        said,
        items=[line.headline for line in found],
        details=[line.detail for line in found if line.detail],
    )


WORKER_CHIPS = {"up": "done", "busy": "running", "checking": "running"}


def workers_html(rows: list[dict], endpoint: dict | None = None) -> str:
    """Each remote worker: up or why not, busy or idle, its GPU and free memory, and the RunPod
    endpoint's workers and jobs by its last /health ("" in-process without an endpoint)."""
    said = endpoint_html(endpoint) if endpoint else ""
    if not rows:
        return said
    esc = html.escape
    listed = []
    for row in rows:
        state = "busy" if row.get("state") == "up" and row.get("busy") else row.get("state", "?")
        device = row.get("device") or {}
        memory = ""
        if device.get("vram_total_gb") is not None:
            memory = f"{device.get('vram_free_gb')} of {device['vram_total_gb']} GB free"
        chip = WORKER_CHIPS.get(state, "failed")
        cells = [
            esc(row.get("url", "")),
            f'<span class="aio-chip aio-chip--{chip}">{esc(state)}</span>',
            esc(device.get("name", "")),
            esc(memory),
            esc(row.get("reason", "")),
        ]
        listed.append(tables.Row(cells, attrs={"data-worker": row.get("url", "")}))
    columns = ("Worker", "State", "GPU", "Memory", "Note")
    table = tables.table_html("workers", columns, listed, nowrap=("State", "Memory"))
    return f'<div class="aio-queue-head">Workers</div>{table}{said}'


def endpoint_html(endpoint: dict) -> str:
    """The RunPod endpoint: its workers idle and running, its jobs queued and in progress, and
    how many of this server's jobs it has now (from the endpoint's /health)."""
    esc = html.escape
    health = endpoint.get("health") or {}
    workers, queue = health.get("workers") or {}, health.get("jobs") or {}

    def number(part: dict, key: str) -> str:
        return str(part[key]) if isinstance(part.get(key), int) else "?"

    cells = [
        esc(str(endpoint.get("endpoint", ""))),
        number(workers, "idle"),
        number(workers, "running"),
        number(queue, "inQueue"),
        number(queue, "inProgress"),
        str(endpoint.get("busy", 0)),
    ]
    columns = ("Endpoint", "Idle", "Running", "Queued", "In progress", "Ours")
    row = tables.Row(cells, attrs={"data-endpoint": str(endpoint.get("endpoint", ""))})
    table = tables.table_html("endpoint", columns, [row], nowrap=("Endpoint",))
    return f'<div class="aio-queue-head">RunPod endpoint</div>{table}'


def page_notice(text: str = "") -> dict:
    """The page-wide banner, for what concerns no panel (History's recovery)."""
    return gr.update(value=text, visible=bool(text))


def running_banner(ids: list[str]) -> str:
    if len(ids) == 1:
        said = (
            f"Job {ids[0]} is submitted: it starts as soon as the GPU is free. Its place in line, "
            "then its progress, show on the result."
        )
        return banner_html("info", "Submitted", said)
    said = f"{len(ids)} jobs queued: each one's place and state show below the result."
    return banner_html("info", "Batch started", said)


def batch_banner(ids: list[str]) -> str:
    rows = batch.places(history.open_store(), ids)
    counts = batch.summary(rows)
    said = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    problems = [f"#{r.number}: {r.error}" for r in rows if r.status == "failed" and r.error]
    level = "ok" if counts["done"] == len(rows) else ("warn" if counts["done"] else "error")
    return banner_html(level, "Batch finished", f"{len(rows)} jobs: {said}.", items=problems)
