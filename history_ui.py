"""The History view: every job newest first with a thumbnail, its video, its record, and actions.

Filter by mode and status, play and download a job's output, delete a job (row and files together),
put a job's exact settings back into its mode's panel or take its video to a next step
(next_steps_ui.py; the panels themselves are wired in app.py, which owns them), and set how long
History keeps jobs (retention.py). Every event here is private: the API is the mode endpoints
only. What the gallery, the summary line and a job's info say is history_listing.py's; this module
holds the components and their events.
"""

from __future__ import annotations

import html
import logging
import sqlite3
from dataclasses import dataclass

import gradio as gr

import batch
import batch_ui
import history
import history_listing
import history_record
import jobs
import modes
import next_steps_ui
import owners
import retention
import tables
from banners_ui import banner_html
from errors import AppError

log = logging.getLogger("ltx_aio.history_ui")


def store() -> history.Store:
    return history.open_store()


def _banner(level: str = "", title: str = "", text: str = "") -> dict:
    shown = banner_html(level, title, text) if title else ""
    return gr.update(value=shown, visible=bool(shown))


def caller(secret: str | None, request: gr.Request | None) -> str | None:
    """Whose jobs this request may see (owners.py): None = every job, on a local install."""
    return owners.scope(owners.of(request, secret))


# -- the caller's running and waiting jobs -----------------------------------------------------

LIVE_COLUMNS = ("Job", "State", "Place in line", "ETA")
LIVE_REFRESH_S = 2.0


def live_table(rows: list) -> str:
    """The caller's unfinished jobs as a table ("" when none)."""
    esc = html.escape
    listed = [
        tables.Row(
            [
                esc(batch_ui.short(r.prompt)),
                f'<span class="aio-chip aio-chip--{esc(r.status)}">{esc(r.status)}</span>',
                "running now" if r.status == "running" else f"{r.position} ahead",
                esc(batch_ui.duration_text(r.eta_s)),
            ],
            attrs={"data-job": r.job_id},
        )
        for r in rows
    ]
    return tables.table_html("live", LIVE_COLUMNS, listed, nowrap=("State", "ETA")) if rows else ""


@dataclass
class HistoryView:
    """The History view's components; its handlers answer {component: update}."""

    panel: gr.Column
    owner: gr.BrowserState  # the browser's owner secret (owners.py)
    message: gr.HTML  # what an action did
    # The caller's unfinished jobs.
    live_table: gr.HTML
    live_box: gr.Column
    live_pick: gr.Dropdown
    live_timer: gr.Timer
    # The filters, and the listing they give.
    mode: gr.Dropdown
    status: gr.Dropdown
    refused: gr.Checkbox
    limit: gr.State
    summary: gr.Markdown
    gallery: gr.Gallery
    ids: gr.State  # the listed jobs' ids, in the gallery's order
    more: gr.Button
    # The selected job.
    selected: gr.State
    area: gr.Row
    video: gr.Video
    download: gr.DownloadButton
    info: gr.HTML
    record: gr.JSON
    use: gr.Button
    run_again: gr.Button
    delete: gr.Button
    confirm: gr.Button
    next: next_steps_ui.NextSteps  # the selected job's next steps (app.py wires their presses)

    @property
    def refresh_inputs(self) -> list:
        return [self.mode, self.status, self.limit, self.selected, self.owner, self.refused]

    @property
    def details(self) -> list:
        return [
            self.selected, self.area, self.video, self.download, self.info, self.record,
            self.delete, self.confirm, *self.next.components,
        ]  # fmt: skip

    @property
    def live_parts(self) -> list:
        return [self.live_table, self.live_box, self.live_pick, self.live_timer]

    @property
    def refresh_outputs(self) -> list:
        return [self.gallery, self.ids, self.summary, self.more, *self.details, *self.live_parts]

    def on_refresh(
        self,
        mode: str | None,
        status: str | None,
        limit: int,
        selected: str | None,
        secret: str | None = None,
        refused: bool = False,
        request: gr.Request = None,
    ) -> dict:
        """The listing for the filters, the selected job (if still listed) and the live jobs."""
        owner = caller(secret, request)
        items, ids, total = history_listing.listing(
            mode, status, limit, owner, refusals=bool(refused)
        )
        hidden = 0 if refused else store().count(mode or None, status or None, owner=owner) - total
        shown = history_listing.summary_text(len(ids), total, hidden, bool(mode or status))
        keep = selected if selected in ids else None
        return {
            self.gallery: items,
            self.ids: ids,
            self.summary: f"{shown} {history_listing.usage_text(owner)}",
            self.more: gr.update(visible=total > len(ids)),
            **self.detail(keep, owner),
            **self.live(owner),
        }

    def live(self, owner: str | None, picked: str | None = None) -> dict:
        """The table, its box, the picker and the refresh timer of the caller's unfinished
        jobs."""
        rows = batch.line(store(), owner)
        choices = [(f"{batch_ui.short(r.prompt, 50)} · {r.status}", r.job_id) for r in rows]
        keep = picked if picked in {r.job_id for r in rows} else (rows[0].job_id if rows else None)
        return {
            self.live_table: live_table(rows),
            self.live_box: gr.update(visible=bool(rows)),
            self.live_pick: gr.update(choices=choices, value=keep),
            self.live_timer: gr.update(active=bool(rows)),
        }

    def on_live(self, secret: str | None, picked: str | None, request: gr.Request = None) -> dict:
        return self.live(caller(secret, request), picked)

    def on_cancel_live(
        self, picked: str | None, secret: str | None, request: gr.Request = None
    ) -> dict:
        owner = caller(secret, request)
        if picked:
            jobs.cancel(picked, owner)
        return self.live(owner)

    def on_clear_failed(
        self, mode, status, limit, selected, secret=None, refused=False, request=None
    ) -> dict:
        """Delete the caller's failed and cancelled jobs, files and all."""
        owner = caller(secret, request)
        s = store()
        gone = [
            job.id
            for wanted in ("failed", "cancelled")
            for job in s.jobs(status=wanted, limit=-1, owner=owner)
            if s.delete(job.id, owner)
        ]
        gone_jobs = history_listing.plural(len(gone), "failed or cancelled job")
        said = f"{gone_jobs} and {'its' if len(gone) == 1 else 'their'} files are gone."
        listed = self.on_refresh(mode, status, limit, selected, secret, refused, request)
        return {self.message: _banner("ok", "Cleared", said), **listed}

    def detail(self, job_id: str | None, owner: str | None = None) -> dict:
        """The selected job's area (hidden when none), its id kept as the selection."""
        job = store().get(job_id, owner) if job_id else None
        if job is None:
            return {
                self.selected: None,
                self.area: gr.update(visible=False),
                self.video: gr.update(value=None),
                self.download: gr.update(value=None, visible=False),
                self.info: "",
                self.record: None,
                self.delete: gr.update(visible=True),
                self.confirm: gr.update(visible=False),
                **self.next.offer(None),
            }
        output = str(job.output) if job.status == "done" and job.output else None
        return {
            self.selected: job.id,
            self.area: gr.update(visible=True),
            self.video: gr.update(value=output, visible=output is not None),
            self.download: gr.update(value=output, visible=output is not None),
            self.info: history_listing.job_summary(job),
            self.record: history_listing.record_view(job),
            self.delete: gr.update(visible=True),
            self.confirm: gr.update(visible=False),
            **self.next.offer(job),
        }

    def on_select(
        self, ids: list[str], secret: str | None, evt: gr.SelectData, request: gr.Request
    ) -> dict:
        index = evt.index if isinstance(evt.index, int) else (evt.index or [0])[0]
        return self.detail(ids[index] if 0 <= index < len(ids) else None, caller(secret, request))

    def on_delete_confirmed(
        self,
        job_id: str | None,
        mode,
        status,
        limit,
        secret: str | None = None,
        refused: bool = False,
        request: gr.Request = None,
    ) -> dict:
        message: tuple = ()
        owner = caller(secret, request)
        if job_id:
            try:
                if store().delete(job_id, owner):
                    message = ("ok", "Deleted", f"Job {job_id} and its files are gone.")
            except AppError as err:
                message = ("error", "Not deleted", f"{err.message} {err.hint}".strip())
            except OSError as err:
                log.warning("deleting job %s failed: %s", job_id, err)
                message = ("error", "Not deleted", f"The job's files could not be removed: {err}.")
        listed = self.on_refresh(mode, status, limit, None, secret, refused, request)
        return {self.message: _banner(*message), **listed}

    def on_retention(
        self, days, gb, mode, status, limit, selected, secret=None, refused=False, request=None
    ) -> dict:
        listed = self.on_refresh(mode, status, limit, selected, secret, refused, request)
        if not retention.page_can_set():  # the operator's setting here, whoever calls
            return {self.message: _banner("error", "Not saved", RETENTION_OPERATOR), **listed}
        try:
            days = float(days) if days not in (None, "") else None
            gb = float(gb) if gb not in (None, "") else None
        except (TypeError, ValueError):
            said = _banner("error", "Not saved", "Days and GB must be numbers.")
            return {self.message: said, **listed}
        s = store()
        policy = retention.configure(s, days, gb)
        deleted = retention.prune(s)
        kept = "no limit" if not (policy.days or policy.gb) else "saved"
        text = f"Retention {kept}; {history_listing.plural(len(deleted), 'old job')} deleted."
        listed = self.on_refresh(mode, status, limit, selected, secret, refused, request)
        return {self.message: _banner("ok", "Retention", text), **listed}


# -- layout ---------------------------------------------------------------------------------------


RETENTION_OPERATOR = (
    "How long jobs are kept is this server's setting (LTX_AIO_KEEP_DAYS, LTX_AIO_KEEP_GB)."
)


def _asks_first(button: gr.Button, confirm: gr.Button) -> gr.Button:
    """A destructive button shows its confirming button in its place; returns that one."""
    button.click(
        lambda: {button: gr.update(visible=False), confirm: gr.update(visible=True)},
        outputs=[button, confirm],
        queue=False,
        api_visibility="private",
    )
    return confirm


def build(owner: gr.BrowserState) -> HistoryView:
    try:
        s = store()
        policy, notice = retention.current(s), s.notice
        level = "warn"
    except (OSError, sqlite3.Error) as exc:  # the page opens anyway and says what is wrong
        policy, level = retention.Retention(), "error"
        notice = f"History cannot be opened ({type(exc).__name__}: {exc}). Check LTX_AIO_DATA_DIR."
    with gr.Column(visible=False, elem_classes="aio-panel", elem_id="aio-panel-history") as panel:
        gr.Markdown(
            "## History\nEvery generation is kept here with its settings, seed and inputs: "
            "play or download it, put its settings back into its panel, or delete it.",
            elem_classes="aio-panel-head",
        )
        gr.HTML(
            banner_html(level, "History", notice) if notice else "",
            visible=bool(notice),
            elem_id="aio-history-notice",
        )
        message = gr.HTML("", visible=False, elem_id="aio-history-message")
        with gr.Column(visible=False, elem_id="aio-live", elem_classes="aio-queue") as live_box:
            gr.Markdown("**Running and waiting**: your jobs that have not ended yet.")
            live_table_html = gr.HTML("", elem_id="aio-live-table")
            with gr.Row(equal_height=True):
                live_pick = gr.Dropdown(
                    [], label="Job", scale=3, min_width=200, elem_id="aio-live-pick"
                )
                live_cancel = gr.Button(
                    "Cancel this job", variant="stop", scale=1, min_width=160,
                    elem_id="aio-live-cancel",
                )  # fmt: skip
        live_timer = gr.Timer(LIVE_REFRESH_S, active=False)
        with gr.Row(equal_height=True):
            mode = gr.Dropdown(
                [("All modes", ""), *[(m.title, name) for name, m in modes.MODES.items()]],
                value="",
                label="Mode",
                elem_id="aio-history-mode",
            )
            status = gr.Dropdown(
                [("Any status", ""), *[(st, st) for st in history_record.STATUSES]],
                value="",
                label="Status",
                elem_id="aio-history-status",
            )
            refresh = gr.Button("Refresh", scale=0, min_width=120, elem_id="aio-history-refresh")
        with gr.Row(equal_height=True):
            refused = gr.Checkbox(
                False,
                label="Show refused jobs",
                info="Jobs refused before they ran (a bad field or file): only why, and when.",
                elem_id="aio-history-refused",
            )
            clear = gr.Button(
                "Clear failed and cancelled", scale=0, min_width=220, elem_id="aio-history-clear"
            )
            clear_confirm = gr.Button(
                "Delete them and their files", variant="stop", visible=False, scale=0,
                min_width=220, elem_id="aio-history-clear-confirm",
            )  # fmt: skip
        summary = gr.Markdown("", elem_id="aio-history-summary")
        gallery = gr.Gallery(
            label="Jobs, newest first",
            columns=4,
            fit_columns=False,
            height="auto",
            allow_preview=False,
            object_fit="cover",
            buttons=[],
            interactive=False,
            elem_id="aio-history-gallery",
        )
        more = gr.Button("Show more", visible=False, elem_id="aio-history-more")
        with gr.Row(visible=False, equal_height=False, elem_id="aio-history-detail") as area:
            with gr.Column(scale=6, min_width=320):
                video = gr.Video(
                    label="Output",
                    interactive=False,
                    buttons=["download"],
                    elem_id="aio-history-video",
                )
                download = gr.DownloadButton(
                    "Download mp4", visible=False, elem_id="aio-history-download"
                )
                nexts = next_steps_ui.build("history")
            with gr.Column(scale=5, min_width=320):
                info = gr.HTML("", elem_id="aio-history-info")
                record = gr.JSON(label="Parameters", open=True, elem_id="aio-history-params")
                with gr.Row():
                    use = gr.Button(
                        "Use these settings", variant="primary", elem_id="aio-history-use"
                    )
                    # The same settings into the panel, and its Generate pressed: one click.
                    run_again = gr.Button("Run again", elem_id="aio-history-run-again")
                    delete = gr.Button("Delete", variant="stop", elem_id="aio-history-delete")
                    confirm = gr.Button(
                        "Delete job and files",
                        variant="stop",
                        visible=False,
                        elem_id="aio-history-confirm",
                    )
        with gr.Accordion(
            "Keep history",
            open=False,
            visible=retention.page_can_set(),
            elem_id="aio-history-retention",
        ):
            with gr.Row():
                days = gr.Number(
                    policy.days or 0,
                    label="Keep days",
                    info="Delete finished jobs older than this; 0 keeps them.",
                    minimum=0,
                    elem_id="aio-history-days",
                )
                gb = gr.Number(
                    policy.gb or 0,
                    label="Keep at most GB",
                    info="Delete the oldest finished jobs beyond this size; 0 means no limit.",
                    minimum=0,
                    elem_id="aio-history-gb",
                )
            apply = gr.Button("Save and prune now", elem_id="aio-history-apply")

    view = HistoryView(
        panel=panel, owner=owner, message=message, live_table=live_table_html,
        live_box=live_box, live_pick=live_pick, live_timer=live_timer, mode=mode, status=status,
        refused=refused, limit=gr.State(history_listing.PAGE), summary=summary, gallery=gallery,
        ids=gr.State([]), more=more, selected=gr.State(None), area=area, video=video,
        download=download, info=info, record=record, use=use, run_again=run_again, delete=delete,
        confirm=confirm, next=nexts,
    )  # fmt: skip
    private = {"api_visibility": "private"}
    listing = {"inputs": view.refresh_inputs, "outputs": view.refresh_outputs, **private}
    for trigger in (refresh.click, mode.change, status.change, refused.change):
        trigger(view.on_refresh, **listing)
    more.click(
        lambda n: n + history_listing.PAGE,
        inputs=[view.limit],
        outputs=[view.limit],
        queue=False,
        **private,
    ).then(view.on_refresh, **listing)
    gallery.select(view.on_select, inputs=[view.ids, owner], outputs=view.details, **private)
    _asks_first(delete, confirm)
    acted = [message, *view.refresh_outputs]
    filters = [view.mode, view.status, view.limit]
    confirm.click(
        view.on_delete_confirmed,
        inputs=[view.selected, *filters, owner, refused],
        outputs=acted,
        **private,
    )
    apply.click(
        view.on_retention,
        inputs=[days, gb, *filters, view.selected, owner, refused],
        outputs=acted,
        **private,
    )
    live_timer.tick(view.on_live, inputs=[owner, live_pick], outputs=view.live_parts, **private)
    live_cancel.click(
        view.on_cancel_live, inputs=[live_pick, owner], outputs=view.live_parts, **private
    )
    _asks_first(clear, clear_confirm).click(
        view.on_clear_failed,
        inputs=[*filters, view.selected, owner, refused],
        outputs=acted,
        **private,
    ).then(
        lambda: {clear: gr.update(visible=True), clear_confirm: gr.update(visible=False)},
        outputs=[clear, clear_confirm],
        queue=False,
        **private,
    )
    return view
