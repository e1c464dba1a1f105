"""Helpers shared by the history tests."""

from __future__ import annotations

import dataclasses

# This app's page, imported with the tests (at collection): once the real engine has started,
# `app` names ComfyUI's own package (comfy_engine gives it the name), so a later import would not
# find it.
import app
import history
from job_spec import Spec
from testkit.mediagen import make_mp4, make_png


def ran(**values) -> Spec:
    """A job as it ran (job_spec.Spec), with `values` over plain defaults (t2v, balanced, seed 0,
    768x512, 121 frames at 24 fps); a value no Spec attribute names is a field's input."""
    fields = {f.name for f in dataclasses.fields(Spec)}
    base = {"mode": "t2v", "job_id": "", "preset": "balanced", "seed": 0, "width": 768,
            "height": 512, "frames": 121, "fps": 24, "stages": 2}  # fmt: skip
    base.update({k: v for k, v in values.items() if k in fields})
    return Spec(**base, inputs={k: v for k, v in values.items() if k not in fields})


USED = {"prompt": "a red fox", "seed": 1234, "width": 768, "height": 512, "frames": 121}


def finished_job(store, video, tmp_path, mode="i2v", **params) -> str:
    image = make_png(tmp_path / f"in-{len(list(tmp_path.iterdir()))}.png")
    job_id = store.create_job(mode, {"prompt": "a red fox", **params}, {"image": image})
    with store.running(job_id, spec=ran(mode=mode, **USED)):
        store.mark_done(job_id, video, timings={"generate_s": 1.5})
    return job_id


def failed_job(store, mode="t2v") -> str:
    job_id = store.create_job(mode, {"prompt": "a broken fox"})
    store.mark_running(job_id)
    store.mark_failed(job_id, "oom", "out of memory")
    return job_id


def reopen(store) -> history.Store:
    store.close()
    return history.Store(store.root)


def store_in_data_dir(tmp_path, monkeypatch):
    """Fixture body: History opened the app's way (LTX_AIO_DATA_DIR), closed afterwards."""
    monkeypatch.setenv("LTX_AIO_DATA_DIR", str(tmp_path / "data"))
    history.close_all()
    yield history.open_store()
    history.close_all()


def open_store(tmp_path):
    """Fixture body: a store in a fresh data dir, closed afterwards."""
    s = history.Store(tmp_path / "data")
    yield s
    s.close()


def short_video(tmp_path):
    """Fixture body: a half-second mp4 named as ComfyUI names its outputs."""
    return make_mp4(tmp_path / "ComfyUI_00001_.mp4", seconds=0.5)


def history_view():
    """The History view built in a page of its own (History must be open where the test wants
    it: the view reads its retention policy): its handlers answer keyed by its components."""
    import gradio as gr

    import history_ui

    with gr.Blocks():
        return history_ui.build(gr.BrowserState(None))


def page_with_history():
    """(app.Page, its HistoryView): every mode's panel, the drawer's buttons, the banner and
    History, built in a page of their own, so the page's handlers answer keyed by them."""
    import gradio as gr

    import history_ui
    import modes
    import panels_ui

    with gr.Blocks():
        page = app.Page(owner=gr.BrowserState(None), banner=gr.HTML(""))
        for name, mode in modes.MODES.items():
            panel = panels_ui.build(mode, visible=name == app.DEFAULT_MODE, owner=page.owner)
            page.panels[name], page.views[name] = panel, panel.column
            page.buttons[name] = gr.Button(mode.title)
        view = history_ui.build(page.owner)
        page.views[app.HISTORY], page.buttons[app.HISTORY] = view.panel, gr.Button("History")
    return page, view
