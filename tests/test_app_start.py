"""`python app.py`'s console at start: what the status banner says, said once, and only when it is
true (an install that is under way says so; its outcome follows when it is done)."""

from __future__ import annotations

import logging
import types

import app
import bootstrap
import pins
import readiness


def _no_history():
    raise app.AppError("unavailable", "no History in this test")


def _start(monkeypatch, caplog, *, installed: bool) -> list[str]:
    monkeypatch.setattr(pins, "is_installed", lambda pin, root=None: installed)
    monkeypatch.setattr(
        bootstrap, "start_background", lambda on_done=None: on_done({"phase": "ready"})
    )
    monkeypatch.setattr(readiness, "lines", lambda: [readiness.Line("warning", "No GPU.", "CPU.")])
    monkeypatch.setattr(app.jobs, "open_history", _no_history)
    monkeypatch.setattr(app, "build_app", lambda: types.SimpleNamespace(launch=lambda **kw: None))
    monkeypatch.setattr(app, "launch_options", dict)
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)
    with caplog.at_level(logging.INFO):
        app.main()
    return [r.getMessage() for r in caplog.records]


def test_readiness_is_logged_once_when_nothing_needs_installing(monkeypatch, caplog):
    said = _start(monkeypatch, caplog, installed=True)
    assert said.count("No GPU. CPU.") == 1
    assert not [line for line in said if "nstall" in line and "History" not in line]


def test_an_install_under_way_is_announced_and_its_outcome_said_once(monkeypatch, caplog):
    said = _start(monkeypatch, caplog, installed=False)
    [announced] = [line for line in said if line.startswith("Installing the pinned ComfyUI")]
    assert said.index(announced) < said.index("No GPU. CPU.")
    assert said.count("No GPU. CPU.") == 1
