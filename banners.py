"""What the page says in its banners: a job's result or failure, a batch's outcome, the engine's
state. Escaped HTML strings, plus the updates that show one with its fix buttons."""

from __future__ import annotations

import html

import gradio as gr

import backend
import batch
import history
import jobs
import modes
from errors import AppError

FIX_PRESET = "fast"


def banner_html(level: str, title: str, message: str = "", *, where="", hint="", items=()) -> str:
    esc = html.escape
    role = "alert" if level == "error" else "status"
    parts = [
        f'<div class="aio-banner aio-banner--{level}" role="{role}">',
        f'<span class="aio-banner-title">{esc(title)}</span>',
    ]
    if where:
        parts.append(f'<span class="aio-banner-where">{esc(where)}:</span> ')
    if message:
        parts.append(f"<span>{esc(message)}</span>")
    if items:
        parts.append("<ul>" + "".join(f"<li>{esc(str(i))}</li>" for i in items) + "</ul>")
    if hint:
        parts.append(f'<div class="aio-banner-hint">{esc(hint)}</div>')
    parts.append("</div>")
    return "".join(parts)


def error_banner(err: AppError) -> str:
    level = "info" if err.kind == "interrupted" else "error"
    return banner_html(
        level,
        jobs.TITLES.get(err.kind, "Error"),
        err.message,
        where=err.where,
        hint=jobs.hint_for(err),
    )


def success_banner(used: dict) -> str:
    summary = (
        f"{used.get('width')}x{used.get('height')}, {used.get('frames')} frames at "
        f"{used.get('fps')} fps, seed {used.get('seed')}, preset {used.get('preset')}, "
        f"{used.get('seconds')} s"
    )
    return banner_html("ok", "Done", summary, items=used.get("notes") or ())


def engine_banner() -> str:
    status = backend.engine_status()
    if status.get("ready"):
        return ""
    return banner_html(
        "warn",
        "Generation is unavailable right now",
        "The page works, but nothing can be generated until this is fixed:",
        items=status.get("problems") or ["the engine is not ready"],
    )


WORKER_CHIPS = {"up": "done", "busy": "running", "checking": "running"}


def workers_html(rows: list[dict]) -> str:
    """Each remote worker: up or why not, busy or idle, its GPU and free memory ("" in-process)."""
    if not rows:
        return ""
    esc = html.escape
    body = []
    for row in rows:
        state = "busy" if row.get("state") == "up" and row.get("busy") else row.get("state", "?")
        device = row.get("device") or {}
        memory = ""
        if device.get("vram_total_gb") is not None:
            memory = f"{device.get('vram_free_gb')} of {device['vram_total_gb']} GB free"
        chip = WORKER_CHIPS.get(state, "failed")
        body.append(
            f"<tr><td>{esc(row.get('url', ''))}</td>"
            f'<td><span class="aio-chip aio-chip--{chip}">{esc(state)}</span></td>'
            f"<td>{esc(device.get('name', ''))}</td><td>{esc(memory)}</td>"
            f"<td>{esc(row.get('reason', ''))}</td></tr>"
        )
    head = "<tr><th>worker</th><th>state</th><th>GPU</th><th>memory</th><th>note</th></tr>"
    return (
        '<div class="aio-queue-head">Workers</div>'
        f'<table class="aio-queue-table aio-workers">{head}{"".join(body)}</table>'
    )


def notice(text: str = "", *, download: bool = False, fast: bool = False, mode: str = "") -> list:
    """Updates for the banner, its action buttons and the mode those act on (the outputs
    `ui["notice"]` lists). The buttons name their mode: the user may have moved to another view
    since the banner came up, and a fix must reach the mode whose job it concerns."""
    title = modes.MODES[mode].title if mode in modes.MODES else "this mode"
    return [
        gr.update(value=text, visible=bool(text)),
        gr.update(visible=download or fast),
        gr.update(visible=download, value=f"Download models for {title}"),
        gr.update(visible=fast, value=f"Switch {title} to the {FIX_PRESET} preset"),
        mode if mode in modes.MODES else gr.update(),
    ]


def failure_notice(err: AppError, mode: str, params: dict) -> list:
    return notice(
        error_banner(err),
        download=err.kind in ("missing_model", "download_failed"),
        fast=err.kind in ("oom", "gpu_timeout") and params.get("preset") != FIX_PRESET,
        mode=mode,
    )


def batch_banner(ids: list[str]) -> str:
    rows = batch.places(history.open_store(), ids)
    counts = batch.summary(rows)
    said = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    problems = [f"#{r.number}: {r.error}" for r in rows if r.status == "failed" and r.error]
    level = "ok" if counts["done"] == len(rows) else ("warn" if counts["done"] else "error")
    return banner_html(level, "Batch finished", f"{len(rows)} jobs: {said}.", items=problems)
