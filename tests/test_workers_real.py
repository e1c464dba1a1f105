"""L-exec, scaled out: jobs on two real ComfyUI workers (servers of the pinned checkout on loopback
ports, over the tiny random-weight set), dispatched by the app's worker pool.

Through `python app.py` with LTX_AIO_WORKERS (as a deployment runs it) and through the engine
boundary in this process (backend.run, as jobs.py calls it): spread, progress, cancel, a worker
killed mid-job, and a worker at another pin. Every wait is for a condition, with a deadline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from pathlib import Path

import pytest

import backend
import history
import media
import models
import modes
import pins
import prepare
import stages
import worker_pool
import worker_settings
from errors import AppError
from testkit import waiting
from testkit.app_helpers import PreviewsSeen
from testkit.mediagen import make_mp4, make_png, make_wav
from testkit.modes_helpers import required_values
from testkit.waiting import run_in_thread

pytestmark = pytest.mark.comfy

DEADLINE_S = 600
SMALL = {"preset": "fast", "width": 320, "height": 256, "frames": 9}
# A job of seconds, not one: time for a test to act on it once it is seen running.
LONGER = {"preset": "balanced", "frames": 33}


@pytest.fixture(scope="module")
def workers(tiny_models, tmp_path_factory):
    from conftest import SESSION_COMFY

    from testkit.real_workers import serve

    with serve(tmp_path_factory.mktemp("workers"), SESSION_COMFY, tiny_models) as group:
        yield group


@pytest.fixture
def pool_of(workers, tiny_models, monkeypatch):
    """This process's engine boundary dispatching to the named workers (all when none)."""
    from conftest import tiny_env

    for name, value in tiny_env(tiny_models).items():
        monkeypatch.setenv(name, value)

    def use(*which: int):
        monkeypatch.setenv(worker_settings.WORKERS_ENV, workers.setting(*which))
        return backend.executor()

    yield use
    worker_pool.shutdown()


@pytest.fixture(scope="module")
def app_on_workers(workers, tiny_models, tmp_path_factory):
    from conftest import SESSION_COMFY

    from testkit.real_app import serve

    tmp = tmp_path_factory.mktemp("app-on-workers")
    with serve(tmp, tiny_models, SESSION_COMFY, LTX_AIO_WORKERS=workers.setting()) as app:
        yield app


def prepared_job(mode: str, tmp: Path, **values) -> tuple[dict, str, prepare.Prepared]:
    names = {f.name for f in modes.MODES[mode].fields}
    small = {k: v for k, v in SMALL.items() if k in names}
    params = {"prompt": "a red fox trots through snow", "seed": 7, **small,
              **required_values(mode), **values}  # fmt: skip
    for f in modes.MODES[mode].fields:
        if not f.required:  # the optional keyframes: a job of the required inputs
            continue
        if f.kind == "audio":
            params[f.name] = str(make_wav(tmp / "voice.wav", seconds=1.0, kind="chirp"))
        elif f.kind == "image":
            params[f.name] = str(make_png(tmp / f"{f.name}.png", 320, 256))
        elif f.kind == "video":
            params[f.name] = str(
                make_mp4(tmp / "clip.mp4", seconds=1.0, width=320, height=256, fps=24)
            )
    job = f"workers-{uuid.uuid4().hex[:10]}"
    prepared = prepare.job(mode, params, input_dir=pins.input_dir(), job_id=job)
    return models.resolve_variant(prepared.prompt, "full"), job, prepared


def shape(path: str) -> tuple:
    import av

    with av.open(path) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return (
            (video.codec_context.width, video.codec_context.height),
            frames,
            len(container.streams.audio),
        )


def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def wait_for(condition, what: str, timeout: float = DEADLINE_S):
    return waiting.wait_for(condition, what, timeout, every=0.2)


def checked(status: dict) -> dict | None:
    return status if all(w["state"] != "checking" for w in status["workers"]) else None


def is_sampling_step(desc: str) -> bool:
    return " · step " in desc and not re.search(r"step \d+/1 ·", desc)


# -- the engine boundary in this process


def test_a_worker_at_another_pin_is_refused_with_the_reason(pool_of, monkeypatch):
    pinned = pins.CORE.sha[:10]  # what the workers run: this app's real pin
    monkeypatch.setattr(pins, "CORE", dataclasses.replace(pins.CORE, sha="0" * 40))
    pool = pool_of()
    status = wait_for(lambda: checked(pool.status()), "the workers' first check")
    assert not status["ready"]
    assert [w["state"] for w in status["workers"]] == ["refused", "refused"]
    reason = status["workers"][0]["reason"]
    assert f"at commit {pinned}" in reason and "this app is pinned to 0000000000" in reason
    assert "tools/start_workers.py" in reason
    with pytest.raises(AppError) as info:
        backend.run({}, None, "", "t2v")
    assert info.value.kind == "unavailable" and pinned in info.value.message


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_mode_runs_on_a_worker_with_its_inputs_uploaded(mode, pool_of, workers, tmp_path):
    """Each mode's whole graph on a worker: its images, audio or video uploaded there, the
    style annotators and the frozen audio run there, the video downloaded, the worker left clean."""
    pool_of(0)
    prompt, job, prepared = prepared_job(mode, tmp_path, preset="fast")
    try:
        result = backend.run(prompt, None, job, mode)
    finally:
        media.unstage(prepared.spec.files, pins.input_dir())
    used = prepared.spec.record()
    assert result["worker"] == workers.urls[0]
    assert shape(result["video"]) == ((used["width"], used["height"]), used["frames"], 1)
    assert not [p for p in workers.files(0, "input") if job in p.name]
    assert not [p for p in workers.files(0, "output") if job in p.name]
    Path(result["video"]).unlink()


def test_a_workers_latent_previews_reach_the_job(pool_of, workers, tmp_path):
    """Workers start with Latent2RGB previews on (tools/start_workers.py): the sampler's previews
    come over the job's websocket and reach its progress as small JPEGs."""
    shows = PreviewsSeen()
    pool_of(0)
    prompt, job, prepared = prepared_job("t2v", tmp_path, preset="fast")
    try:
        result = backend.run(prompt, shows, job, "t2v")
    finally:
        media.unstage(prepared.spec.files, pins.input_dir())
    Path(result["video"]).unlink()
    assert shows.previews and all(p[:2] == b"\xff\xd8" for p in shows.previews)


def test_cancel_stops_exactly_the_chosen_job_on_its_worker(pool_of, workers, tmp_path):
    pool_of()
    chosen_prompt, chosen, chosen_prep = prepared_job("t2v", tmp_path, seed=11, **LONGER)
    other_prompt, other, other_prep = prepared_job("t2v", tmp_path, seed=12)
    said: list[str] = []

    def cancel_at_first_step(fraction, desc):
        said.append(desc)
        if is_sampling_step(desc) and not any(is_sampling_step(d) for d in said[:-1]):
            backend.cancel(chosen)

    try:
        first, cancelled = run_in_thread(
            backend.run, chosen_prompt, cancel_at_first_step, chosen, "t2v"
        )
        second, finished = run_in_thread(backend.run, other_prompt, None, other, "t2v")
        first.join(DEADLINE_S)
        second.join(DEADLINE_S)
    finally:
        media.unstage(chosen_prep.spec.files, pins.input_dir())
        media.unstage(other_prep.spec.files, pins.input_dir())
    assert cancelled["error"].kind == "interrupted", cancelled
    ran_on = next(d for d in said if d.startswith("Running on worker")).split()[-1]
    assert shape(finished["result"]["video"])[1] == 9
    assert finished["result"]["worker"] != ran_on  # the other job ran on, on the other worker
    index = workers.urls.index(ran_on)
    assert not [p for p in workers.files(index, "output") if chosen in p.name]
    assert not [p for p in workers.files(index, "input") if chosen in p.name]
    assert workers.running(index) == []
    Path(finished["result"]["video"]).unlink()


def test_a_lone_worker_killed_mid_job_fails_the_job_saying_so(pool_of, workers, tmp_path):
    pool_of(0)
    prompt, job, prepared = prepared_job("t2v", tmp_path, seed=21, **LONGER)

    def kill_at_first_step(fraction, desc):
        if is_sampling_step(desc) and workers.procs[0].process.poll() is None:
            workers.kill(0)

    try:
        thread, outcome = run_in_thread(backend.run, prompt, kill_at_first_step, job, "t2v")
        thread.join(DEADLINE_S)
        err = outcome["error"]
        assert err.kind == "unavailable"
        assert f"The worker {workers.urls[0]} stopped answering mid-job" in err.message
        assert "no other worker is up" in err.message
        status = backend.engine_status()
        assert status["workers"][0]["state"] == "down" and not status["ready"]
    finally:
        media.unstage(prepared.spec.files, pins.input_dir())
        workers.revive(0)
    # ... and is checked again: once it is back, it takes jobs.
    wait_for(lambda: backend.engine_status()["ready"], "the restarted worker to be up again")


# -- the app, as a deployment runs it


def api_values(seed: int) -> dict:
    return {"prompt": "waves on rocks at dusk", "seed": seed, **SMALL}


def test_six_concurrent_clients_spread_over_both_workers(app_on_workers, workers):
    from gradio_client import Client

    clients = [Client(app_on_workers.url, verbose=False) for _ in range(6)]
    submitted = [c.submit(**api_values(200 + n), api_name="/t2v") for n, c in enumerate(clients)]
    wait_for(lambda: all(job.done() for job in submitted), "six jobs to finish")
    results = [job.result(timeout=60) for job in submitted]
    store = history.open_store(app_on_workers.data)
    records = [store.get(used["job_id"]) for _, used in results]
    assert [r.status for r in records] == ["done"] * 6
    assert {used["worker"] for _, used in results} == set(workers.urls)
    assert len({digest(r.output) for r in records}) == 6
    for (video, used), record in zip(results, records, strict=True):
        assert shape(video) == ((320, 256), 9, 1)
        assert digest(video) == digest(record.output)
        assert record.used["worker"] == used["worker"]


def test_progress_from_a_worker_reaches_the_client(app_on_workers, workers):
    """Every progress message of one job, as the event stream delivers it to any client."""
    import json

    from testkit.raw_gradio import RawApp

    app = RawApp(app_on_workers.url)
    event = app.endpoint("t2v")
    values = api_values(500)
    data = [values.get(c["props"]["elem_id"].removeprefix("aio-t2v-"), c["props"].get("value"))
            for c in event.inputs]  # fmt: skip
    answer = app.call(event, data)
    assert answer["ok"], answer["error"]
    said = [
        unit.get("desc") or ""
        for line in answer["text"].splitlines()
        for message in [json.loads(line[5:])]
        if message.get("msg") == "progress"
        for unit in message.get("progress_data") or []
    ]
    # Gradio sends the latest progress every few milliseconds: the steps and the stages of the
    # graph arrive, if not every single line.
    assert any(is_sampling_step(desc) for desc in said), said
    assert {desc.split(" · ")[0] for desc in said} & set(stages.LABELS.values()), said


def t2v_graph() -> dict:
    import workflow

    t2v = modes.MODES["t2v"]
    return workflow.load_template(t2v.workflows[t2v.field("model").default])


def test_healthz_shows_each_worker(app_on_workers, workers):
    status, body = app_on_workers.health()
    assert status == 200
    rows = {row["url"]: row for row in body["workers"]}
    assert set(rows) == set(workers.urls)
    for row in rows.values():
        assert row["state"] == "up" and row["busy"] is False
        assert row["version"] == pins.CORE_VERSIONS[pins.CORE.sha]
        assert row["device"]["name"] == "cpu" and row["device"]["vram_total_gb"] > 0


def test_the_page_shows_each_worker(app_on_workers, workers):
    import json
    import urllib.request

    with urllib.request.urlopen(app_on_workers.url + "/config", timeout=30) as response:
        config = json.loads(response.read())
    [table] = [
        c["props"]["value"]
        for c in config["components"]
        if c.get("props", {}).get("elem_id") == "aio-workers"
    ]
    assert all(url in table for url in workers.urls) and table.count(">up<") == 2


@pytest.mark.browser
def test_the_page_shows_each_worker_where_the_user_looks(app_on_workers, workers, browser):
    from testkit.browser_helpers import DESKTOP as WIDE

    page = browser.new_page(viewport=WIDE)
    try:
        page.goto(app_on_workers.url, wait_until="domcontentloaded")
        table = page.locator("#aio-workers table")
        table.wait_for(state="visible", timeout=60_000)
        box = table.bounding_box()
        text = table.inner_text()
    finally:
        page.close()
    assert box["y"] >= 0 and box["y"] + box["height"] <= WIDE["height"]  # seen without scrolling
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDE["width"]
    rows = [line for line in text.splitlines() if line.startswith("http")]
    assert [row.split()[0] for row in rows] == workers.urls
    assert all(row.split()[1] == "up" and "cpu" in row for row in rows), rows


def test_a_client_cancel_stops_its_job_on_its_worker_only(app_on_workers, workers):
    from gradio_client import Client

    values = {**api_values(400), **LONGER}
    chosen = Client(app_on_workers.url, verbose=False).submit(**values, api_name="/t2v")
    other = Client(app_on_workers.url, verbose=False).submit(**api_values(401), api_name="/t2v")
    store = history.open_store(app_on_workers.data)

    def chosen_running_on():
        if chosen.done():
            raise AssertionError("the job ended before it could be cancelled")
        found = [j for j in store.jobs("t2v", "running") if j.params.get("seed") == 400]
        prompt_id = worker_pool.prompt_id_for(found[0].id) if found else None
        where = [i for i in range(2) if prompt_id and prompt_id in workers.running(i)]
        return (found[0], prompt_id, where[0]) if where else None

    record, prompt_id, where = wait_for(chosen_running_on, "the job to run on a worker")
    chosen.cancel()
    video, used = other.result(timeout=DEADLINE_S)
    assert shape(video) == ((320, 256), 9, 1)
    assert store.get(used["job_id"]).status == "done"
    wait_for(lambda: store.get(record.id).status == "cancelled", "the job to be recorded")
    assert store.get(record.id).output is None
    wait_for(lambda: prompt_id not in workers.running(where), "its worker to stop it")
    assert not [p for p in workers.files(where, "output") if record.id in p.name]


def test_killing_a_worker_mid_job_finishes_the_job_on_the_other(app_on_workers, workers):
    from gradio_client import Client

    values = {**api_values(300), **LONGER}
    job = Client(app_on_workers.url, verbose=False).submit(**values, api_name="/t2v")
    busy = wait_for(
        lambda: [i for i in range(2) if workers.running(i)] or job.done(), "the job to run"
    )
    assert busy is not True, "the job ended before it could be interrupted"
    killed = busy[0]
    workers.kill(killed)
    try:
        video, used = job.result(timeout=DEADLINE_S)
        assert used["worker"] == workers.urls[1 - killed]
        assert any("stopped answering mid-job" in note for note in used["notes"])
        record = history.open_store(app_on_workers.data).get(used["job_id"])
        assert record.status == "done" and digest(record.output) == digest(video)
        assert shape(video) == ((320, 256), 33, 1)
        _, body = app_on_workers.health()
        states = {row["url"]: row["state"] for row in body["workers"]}
        assert states[workers.urls[killed]] == "down"
    finally:
        workers.revive(killed)

    def back_up():
        _, body = app_on_workers.health()
        return all(row["state"] == "up" for row in body["workers"])

    wait_for(back_up, "the restarted worker to be checked and up again")
