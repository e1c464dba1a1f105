"""A panel's batch controls and its queue view: each job of a batch with its place, ETA and state.

The controls (a prompt per line, N seeds) feed `batch.expand`; the view reads the records through
`batch.places` and lets the user cancel one job while the others run. Layout and formatting only:
what a place or an ETA is, is decided in batch.py.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

import batch
import history
import history_record
import jobs
import tables

# The panel's Generate handler receives these beside the mode's fields (no field has these names).
PER_LINE = "batch_per_line"
SEEDS = "batch_seeds"
REFRESH_S = 2.0
PROMPT_CHARS = 60
COLUMNS = ("#", "Prompt", "Seed", "State", "Place or outcome", "ETA")


KEEP = object()  # `picked=KEEP`: leave the job picker as the user set it


@dataclass
class QueueView:
    """A panel's queue of a batch's jobs; its handlers answer {component: update}."""

    box: gr.Column
    table: gr.HTML
    actions: gr.Row
    pick: gr.Dropdown
    cancel: gr.Button
    ids: gr.State  # the batch's job ids
    timer: gr.Timer

    @property
    def outputs(self) -> list:
        """What `updates()` fills."""
        return [self.ids, self.box, self.table, self.actions, self.pick, self.timer]

    def updates(self, ids: list[str] | None, *, running: bool | None = None, picked=None) -> dict:
        """The view of these jobs; shown for batches only. The picker offers the unfinished
        ones and keeps the user's pick while it is one of them. The refresh timer runs while
        any job is unfinished (or as `running` says)."""
        ids = list(ids or [])
        rows = batch.places(history.open_store(), ids) if len(ids) > 1 else []
        unfinished = [r for r in rows if r.status in history_record.UNFINISHED]
        active = bool(unfinished) if running is None else running
        choices = [(_choice(r), r.job_id) for r in unfinished]
        if picked is KEEP:
            pick = gr.update()
        else:
            keep = picked in {r.job_id for r in unfinished}
            first = (choices or [(0, None)])[0][1]
            pick = gr.update(choices=choices, value=picked if keep else first)
        return {
            self.ids: ids,
            self.box: gr.update(visible=bool(rows)),
            self.table: table_html(rows),
            self.actions: gr.update(visible=bool(choices)),
            self.pick: pick,
            self.timer: gr.update(active=bool(rows) and active),
        }

    def on_tick(self, ids: list[str] | None, picked: str | None) -> dict:
        return self.updates(ids, picked=picked)

    def on_cancel_one(self, job_id: str | None, ids: list[str] | None) -> dict:
        if job_id and job_id in (ids or []):
            jobs.cancel(job_id)
        return self.updates(ids)


def controls(mode: str) -> dict[str, gr.Component]:
    with gr.Accordion("Batch", open=False, elem_id=f"aio-{mode}-batch"):
        per_line = gr.Checkbox(
            False,
            label="One job per line of the prompt",
            info="Each non-empty line of the prompt becomes its own job.",
            elem_id=f"aio-{mode}-{PER_LINE}",
        )
        seeds = gr.Slider(
            1,
            batch.MAX_SEEDS,
            value=1,
            step=1,
            label="Seeds per prompt",
            info="Jobs per prompt, each with its own seed (seed, seed+1, ... when the seed is "
            f"fixed). At most {batch.MAX_JOBS} jobs at once; each is kept in History.",
            elem_id=f"aio-{mode}-{SEEDS}",
        )
    return {PER_LINE: per_line, SEEDS: seeds}


def build_view(mode: str) -> QueueView:
    with gr.Column(visible=False, elem_id=f"aio-queue-{mode}", elem_classes="aio-queue") as box:
        table = gr.HTML("", elem_id=f"aio-queue-table-{mode}")
        with gr.Row(equal_height=True) as actions:
            pick = gr.Dropdown(
                [], label="Job", scale=3, min_width=200, elem_id=f"aio-queue-pick-{mode}"
            )
            cancel = gr.Button(
                "Cancel this job",
                variant="stop",
                scale=1,
                min_width=160,
                elem_id=f"aio-queue-cancel-{mode}",
            )
    view = QueueView(
        box, table, actions, pick, cancel, gr.State([]), gr.Timer(REFRESH_S, active=False)
    )
    view.cancel.click(
        view.on_cancel_one,
        inputs=[view.pick, view.ids],
        outputs=view.outputs,
        queue=False,
        api_visibility="private",
    )
    view.timer.tick(
        view.on_tick,
        inputs=[view.ids, view.pick],
        outputs=view.outputs,
        queue=False,
        api_visibility="private",
    )
    return view


def _choice(row: batch.Place) -> str:
    return f"#{row.number} · {row.status} · seed {_seed(row)} · {short(row.prompt, 40)}"


def _seed(row: batch.Place) -> str:
    return str(row.seed) if row.seed is not None else "random"


def short(text: str, limit: int = PROMPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"~{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"~{minutes} min {rest:02d} s"
    return f"~{minutes // 60} h {minutes % 60:02d} min"


def _where(row: batch.Place) -> str:
    if row.status == "running":
        return "running now"
    if row.status == "queued":
        return "next" if row.position == 0 else f"{row.position} ahead"
    return row.error or ""


def table_html(rows: list[batch.Place]) -> str:
    if not rows:
        return ""
    esc = html.escape
    counts = batch.summary(rows)
    parts = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    unknown = any(r.position is not None and r.eta_s is None for r in rows)
    note = " ETA shows once a job of this mode and preset has finished." if unknown else ""
    head = f'<div class="aio-queue-head">Batch of {len(rows)} jobs: {esc(parts)}.{note}</div>'
    listed = [
        tables.Row(
            [
                f"#{r.number}",
                esc(short(r.prompt)),
                esc(_seed(r)),
                f'<span class="aio-chip aio-chip--{esc(r.status)}">{esc(r.status)}</span>',
                esc(_where(r)),
                esc(duration_text(r.eta_s)) if r.position is not None else "",
            ],
            attrs={"data-job": r.job_id},
            css=f"aio-queue-row aio-status-{r.status}",
        )
        for r in rows
    ]
    return head + tables.table_html("queue", COLUMNS, listed, nowrap=("#", "Seed", "State", "ETA"))
