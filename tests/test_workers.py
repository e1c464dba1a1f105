"""The worker pool against stand-in ComfyUI servers (testkit/fake_worker.py: ComfyUI's API as the
pinned version speaks it, each in its own process so it can be killed or frozen). No ComfyUI, no
torch: placement, waiting, progress, cancel, a lost worker, checks and settings."""

from __future__ import annotations

import json
import shlex
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("aiohttp", reason="the worker pool speaks HTTP with aiohttp (requirements)")

import backend  # noqa: E402
import banners_ui  # noqa: E402
import comfy_engine  # noqa: E402
import health  # noqa: E402
import pins
import worker_pool  # noqa: E402
import worker_settings  # noqa: E402
import workers  # noqa: E402
from errors import AppError  # noqa: E402
from testkit.fake_worker import FakeWorker, fake_workers  # noqa: E402
from testkit.waiting import run_in_thread, wait_for  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import start_workers  # noqa: E402

INPUT = "job1_image_first.png"
# A job that runs until something ends it (400 steps of 0.05 s), to act on mid-job.
LONG = ("--steps", "400")


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    for name in ("LTX_AIO_WORKERS", "LTX_AIO_WORKER_HEADER", "LTX_AIO_TINY_WEIGHTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    inputs, outputs = tmp_path / "input", tmp_path / "output"
    inputs.mkdir()
    outputs.mkdir()
    (inputs / INPUT).write_bytes(b"an image")
    return inputs, outputs


@pytest.fixture
def make_pool(folders):
    made = []

    def make(*fakes: FakeWorker, header: str = "") -> worker_pool.Pool:
        pool = worker_pool.Pool([f.url for f in fakes], header, *(lambda f=f: f for f in folders))
        made.append(pool)
        wait_for(lambda: all(m.state != "checking" for m in pool.members), "the first check")
        return pool

    yield make
    for pool in made:
        pool.close()


def graph(ckpt: str = "ltx.safetensors", steps: int | None = None) -> dict:
    sampler = {"image": INPUT, **({"steps": steps} if steps else {})}
    return {
        "1": {"class_type": "LoadImage", "inputs": sampler, "_meta": {"title": "Sampler"}},
        "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "9": {"class_type": "SaveVideo", "inputs": {"filename_prefix": "out/x"}},
    }


class Said:
    """A job's progress lines and previews; `first_step` is set at its first sampling step."""

    def __init__(self, at_first_step=None) -> None:
        self.lines: list[str] = []
        self.previews: list[bytes] = []
        self.first_step = threading.Event()
        self._at_first_step = at_first_step

    def show_preview(self, jpeg: bytes) -> None:
        self.previews.append(jpeg)

    def __call__(self, fraction, desc) -> None:
        self.lines.append(desc)
        if " · step " in desc and not self.first_step.is_set():
            self.first_step.set()
            if self._at_first_step is not None:
                self._at_first_step()


@contextmanager
def lone_worker_down(tmp_path, make_pool):
    """A pool of one worker that was killed, its loss noticed (PING_IDLE_S set short first)."""
    with fake_workers(tmp_path, ()) as [fake]:
        pool = make_pool(fake)
        fake.kill()
        wait_for(lambda: states(pool) == ["down"], "the loss noticed")
        yield pool, fake


def states(pool) -> list[str]:
    return [row["state"] for row in pool.status()["workers"]]


# -- running


def test_a_job_runs_on_a_worker_and_its_output_comes_home(tmp_path, make_pool, folders):
    with fake_workers(tmp_path, ()) as [fake]:
        said = Said()
        result = make_pool(fake).run(graph(), said, "job1", "t2v")
        seen = fake.report()
    prompt_id = worker_pool.prompt_id_for("job1")
    video = Path(result["video"])
    assert video.read_bytes() == f"fake video of {prompt_id}".encode()
    assert video.is_relative_to(folders[1]) and result["worker"] == fake.url
    assert (seen["uploads"], seen["prompts"]) == ([INPUT], [prompt_id])
    assert seen["cleanups"] == [
        {"input": [INPUT], "output": [{"filename": video.name, "subfolder": "out"}]}
    ]
    assert said.lines[0] == f"Running on worker {fake.url}"
    assert any(" · step 8/8 · " in line for line in said.lines), said.lines


def test_a_workers_latent_previews_reach_the_jobs_progress(tmp_path, make_pool):
    """The binary preview messages on the job's websocket are read, not skipped."""
    with fake_workers(tmp_path, ("--step-s", "0.3")) as [fake]:
        said = Said()
        make_pool(fake).run(graph(steps=6), said, "job-previews", "t2v")
    assert said.previews and all(p[:2] == b"\xff\xd8" for p in said.previews)


def test_a_preview_message_gives_its_image_in_either_form():
    image = b"\xff\xd8 jpeg"
    legacy = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + image
    meta = b'{"node_id": "5"}'
    newer = (4).to_bytes(4, "big") + len(meta).to_bytes(4, "big") + meta + image
    assert workers.preview_image(legacy) == workers.preview_image(newer) == image
    assert workers.preview_image((3).to_bytes(4, "big") + b"text") is None


def test_jobs_prefer_the_worker_that_last_ran_their_mode_and_models(tmp_path, make_pool):
    with fake_workers(tmp_path, (), ()) as fakes:
        pool = make_pool(*fakes)
        first = pool.run(graph(), None, "a", "t2v")["worker"]
        other = pool.run(graph("other.safetensors"), None, "b", "i2v")["worker"]
        again = pool.run(graph(), None, "c", "t2v")["worker"]
    assert other != first and again == first


def test_a_job_waits_for_a_free_worker_when_all_are_busy(tmp_path, make_pool):
    with fake_workers(tmp_path, ()) as [fake]:
        pool = make_pool(fake)
        running = Said()
        first, done_first = run_in_thread(pool.run, graph(steps=400), running, "first", "t2v")
        assert running.first_step.wait(60)
        waiting = Said()
        second, done_second = run_in_thread(pool.run, graph(), waiting, "second", "t2v")
        wait_for(lambda: "Waiting for a free worker" in waiting.lines, "the second job to wait")
        pool.cancel("first")  # frees the worker
        first.join(60)
        second.join(60)
        seen = fake.report()
    assert done_first["error"].kind == "interrupted" and "result" in done_second
    assert seen["busy_at_submit"] == [0, 0]  # never two jobs on one worker


def test_a_refused_graph_fails_the_job_and_not_the_worker(tmp_path, make_pool):
    with fake_workers(tmp_path, ()) as [fake]:
        pool = make_pool(fake)
        with pytest.raises(AppError) as info:
            pool.run(graph("missing.safetensors"), None, "job", "t2v")
        assert states(pool) == ["up"]
    assert info.value.kind == "missing_model" and fake.url in info.value.hint


# -- cancel


def test_cancel_mid_job_stops_that_prompt_on_its_worker(tmp_path, make_pool):
    with fake_workers(tmp_path, LONG) as [fake]:
        pool = make_pool(fake)
        said = Said(at_first_step=lambda: pool.cancel("job"))
        with pytest.raises(AppError) as info:
            pool.run(graph(), said, "job", "t2v")
        seen = fake.report()
    assert info.value.kind == "interrupted"
    assert seen["cancels"] == [worker_pool.prompt_id_for("job")]
    assert not any("step 400/400" in line for line in said.lines)


def test_a_job_cancelled_before_it_reaches_the_pool_never_runs(tmp_path, make_pool):
    with fake_workers(tmp_path, ()) as [fake]:
        pool = make_pool(fake)
        pool.cancel("early")
        with pytest.raises(AppError) as info:
            pool.run(graph(), None, "early", "t2v")
        seen = fake.report()
    assert info.value.kind == "interrupted" and seen["prompts"] == []


# -- a worker that dies or hangs


def test_a_worker_killed_mid_job_hands_the_job_to_another(tmp_path, make_pool):
    with fake_workers(tmp_path, LONG, ()) as [dying, other]:
        pool = make_pool(dying, other)
        said = Said(at_first_step=dying.kill)
        result = pool.run(graph(), said, "job", "t2v")
        assert result["worker"] == other.url
        assert result["notes"] == [
            f"The worker {dying.url} stopped answering mid-job; the job ran again from the "
            "start on another worker."
        ]
        assert states(pool) == ["down", "up"]
        back = FakeWorker(tmp_path, port=dying.port).start()
        try:  # checked again; told to drop what it may still hold of the job
            wait_for(lambda: states(pool) == ["up", "up"], "the restarted worker to be up")
            # A restarted worker no longer knows the job (nothing to cancel): its files go.
            assert back.report()["cancels"] == []
            assert back.report()["cleanups"] == [{"input": [INPUT], "output": []}]
            assert pool.members[0].leftovers == []
        finally:
            back.stop()


@pytest.mark.parametrize("noticed", [True, False], ids=["other-seen-down", "other-still-up"])
def test_a_job_lost_while_the_other_worker_is_down_runs_again_when_that_one_is_back(
    noticed, tmp_path, make_pool, monkeypatch
):
    """Both workers gone at once (a machine restarting both): the job lost mid-run waits for
    the other to come back, saying so, and has its one re-run there; also when the other died
    idle unnoticed, so that the re-run first finds it does not answer (no second lost run)."""
    monkeypatch.setattr(worker_pool, "PING_IDLE_S", 0.2 if noticed else 3600)
    monkeypatch.setenv(worker_settings.GRACE_ENV, "60")
    with fake_workers(tmp_path, LONG, ()) as [dying, other]:
        pool = make_pool(dying, other)
        other.kill()
        if noticed:
            wait_for(lambda: states(pool) == ["up", "down"], "the idle worker's loss noticed")
        said = Said(at_first_step=dying.kill)
        thread, outcome = run_in_thread(pool.run, graph(), said, "job", "t2v")
        wait_for(lambda: "Waiting for a worker: none is up right now" in said.lines, "waiting")
        assert states(pool) == ["down", "down"] and thread.is_alive()
        other.start()  # back, on the same port
        thread.join(timeout=60)
    assert "error" not in outcome, outcome
    assert outcome["result"]["worker"] == other.url
    [note] = outcome["result"]["notes"]
    assert f"The worker {dying.url} stopped answering mid-job" in note


def test_a_worker_that_passes_its_checks_but_never_takes_a_job_costs_the_job_its_run(
    tmp_path, make_pool, monkeypatch
):
    """Its checks pass (no websocket behind a proxy, say) yet every job it is given never
    reaches it: after a few tries that counts as the job's lost run, and with no other worker
    the job fails saying so instead of going round for ever."""
    monkeypatch.setattr(worker_pool, "RECHECK_S", {"down": 0.2, "refused": 30.0})
    monkeypatch.setenv(worker_settings.GRACE_ENV, "600")
    with fake_workers(tmp_path, ("--no-ws",)) as [deaf]:
        pool = make_pool(deaf)
        with pytest.raises(AppError) as info:
            pool.run(graph(), Said(), "job", "t2v")
    assert f"The worker {deaf.url} stopped answering mid-job" in info.value.message
    assert "websocket" in pool.members[0].reason


def test_a_cleanup_that_got_no_answer_is_done_when_the_worker_answers_again(
    tmp_path, make_pool, folders
):
    with fake_workers(tmp_path, ("--cleanup-fails", "1")) as [flaky]:
        pool = make_pool(flaky)
        result = pool.run(graph(), Said(), "job", "t2v")
        assert Path(result["video"]).is_file()
        # The worker records the cleanup as it gets it; the pool forgets the leftover once the
        # answer is back: both are waited for (asserting the second after the first raced).
        wait_for(
            lambda: flaky.report()["cleanups"] and not pool.members[0].leftovers,
            "the cleanup done on a later look, and the leftover forgotten",
            60,
        )
        [cleanup] = flaky.report()["cleanups"]
    prompt_id = worker_pool.prompt_id_for("job")
    output = {"filename": f"{prompt_id}_00001_.mp4", "subfolder": "out"}
    assert cleanup == {"input": [INPUT], "output": [output]}


def test_closing_the_pool_ends_a_job_waiting_for_a_worker(tmp_path, make_pool, monkeypatch):
    monkeypatch.setattr(worker_pool, "PING_IDLE_S", 0.2)
    monkeypatch.setenv(worker_settings.GRACE_ENV, "600")
    with lone_worker_down(tmp_path, make_pool) as (pool, fake):
        said = Said()
        thread, outcome = run_in_thread(pool.run, graph(), said, "job", "t2v")
        wait_for(lambda: "Waiting for a worker: none is up right now" in said.lines, "waiting")
        pool.close()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert outcome["error"].message == worker_pool.CLOSED


def test_a_frozen_worker_counts_as_lost_after_the_timeout(tmp_path, make_pool, monkeypatch):
    monkeypatch.setenv(workers.TIMEOUT_ENV, "5")
    with fake_workers(tmp_path, LONG, ()) as [frozen, other]:
        pool = make_pool(frozen, other)
        said = Said(at_first_step=frozen.freeze)
        result = pool.run(graph(), said, "job", "t2v")
    assert result["worker"] == other.url and "stopped answering" in result["notes"][0]


def test_a_frozen_worker_that_resumes_keeps_nothing_of_the_moved_job(
    tmp_path, make_pool, monkeypatch
):
    """Frozen past the timeout, its job ran again on the other; resumed, it is told to cancel
    the job it still runs, and once that ended there, the job's files and record go."""
    import os
    import signal

    monkeypatch.setenv(workers.TIMEOUT_ENV, "5")
    with fake_workers(tmp_path, LONG, ()) as [frozen, other]:
        pool = make_pool(frozen, other)
        said = Said(at_first_step=frozen.freeze)
        result = pool.run(graph(), said, "job", "t2v")
        assert result["worker"] == other.url
        os.kill(frozen.process.pid, signal.SIGCONT)
        prompt_id = worker_pool.prompt_id_for("job")
        wait_for(lambda: not pool.members[0].leftovers, "the moved job reclaimed", 60)
        seen = frozen.report()
    assert prompt_id in seen["cancels"]
    assert {"input": [INPUT], "output": []} in seen["cleanups"]


def test_a_moved_job_a_worker_finished_late_has_its_output_removed(tmp_path, make_pool):
    """A job given up on that the worker still finished (the cancel came too late): its output
    is removed there too, named from the worker's own record of the job."""
    import urllib.request
    import uuid

    with fake_workers(tmp_path, ()) as [late]:
        pool = make_pool(late)
        prompt_id = str(uuid.uuid4())
        body = json.dumps({"prompt": graph(), "prompt_id": prompt_id, "client_id": "late"})
        request = urllib.request.Request(
            late.url + "/prompt", body.encode(), {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()

        def status() -> str:
            with urllib.request.urlopen(f"{late.url}/api/jobs/{prompt_id}", timeout=10) as r:
                return json.loads(r.read())["status"]

        wait_for(lambda: status() == "completed", "the late job finished there")
        pool.members[0].leftovers.append([prompt_id, INPUT])  # as a lost job leaves it
        wait_for(lambda: not pool.members[0].leftovers, "the moved job reclaimed", 60)
        seen = late.report()
    output = {"filename": f"{prompt_id}_00001_.mp4", "subfolder": "out"}
    assert {"input": [INPUT], "output": [output]} in seen["cleanups"]


def test_with_no_worker_up_a_job_waits_for_one_to_come_back(tmp_path, make_pool, monkeypatch):
    """A short outage (the only worker restarting): a job that has not started waits, saying
    so, while the engine says it waits for workers (so jobs are not refused); it runs on the
    worker once that is back."""
    monkeypatch.setattr(worker_pool, "PING_IDLE_S", 0.2)  # an idle worker's loss noticed soon
    monkeypatch.setenv(worker_settings.GRACE_ENV, "60")
    with lone_worker_down(tmp_path, make_pool) as (pool, fake):
        status = pool.status()
        assert not status["ready"] and status["waits_for_workers"]
        said = Said()
        thread, outcome = run_in_thread(pool.run, graph(), said, "job", "t2v")
        wait_for(lambda: "Waiting for a worker: none is up right now" in said.lines, "waiting")
        fake.start()  # back, on the same port
        thread.join(timeout=60)
    assert "error" not in outcome, outcome
    assert outcome["result"]["worker"] == fake.url


def test_a_job_waits_for_a_worker_only_as_long_as_the_grace(tmp_path, make_pool, monkeypatch):
    monkeypatch.setattr(worker_pool, "PING_IDLE_S", 0.2)
    monkeypatch.setenv(worker_settings.GRACE_ENV, "1")
    with lone_worker_down(tmp_path, make_pool) as (pool, fake), pytest.raises(AppError) as info:
        pool.run(graph(), Said(), "job", "t2v")
    assert info.value.kind == "unavailable"
    assert "No worker came back within 1 s" in info.value.message
    assert worker_settings.GRACE_ENV in info.value.hint


def test_the_grace_setting_reads_numbers_and_falls_back_on_anything_else(monkeypatch):
    for raw, expected in (("30", 30.0), ("0", 0.0), ("-5", 0.0), ("soon", 120.0), ("nan", 120.0)):
        monkeypatch.setenv(worker_settings.GRACE_ENV, raw)
        assert worker_settings.grace_s() == expected, raw


def test_without_another_worker_a_lost_job_fails_saying_so(tmp_path, make_pool):
    with fake_workers(tmp_path, LONG) as [dying]:
        pool = make_pool(dying)
        with pytest.raises(AppError) as info:
            pool.run(graph(), Said(at_first_step=dying.kill), "job", "t2v")
    assert info.value.kind == "unavailable"
    assert f"The worker {dying.url} stopped answering mid-job" in info.value.message
    assert "no other worker is up" in info.value.message


# -- checks


def test_a_stock_worker_is_checked_by_its_version_number(tmp_path, make_pool):
    with fake_workers(tmp_path, ("--stock",), ("--stock", "--version", "0.26.0")) as fakes:
        pool = make_pool(*fakes)
        same, older = pool.status()["workers"]
    assert same["state"] == "up" and "version number only" in same["reason"]
    assert older["state"] == "refused"
    pinned = f"{pins.CORE.sha[:10]} (ComfyUI {pins.CORE_VERSIONS[pins.CORE.sha]})"
    assert older["reason"].startswith(f"runs ComfyUI 0.26.0; this app is pinned to {pinned}")


def test_a_worker_whose_comfyui_reports_another_version_than_its_record_is_refused(
    tmp_path, make_pool
):
    """Its pin record (a file) says this app's pin, while its running ComfyUI says 0.27.0: what
    runs decides, and the refusal names both."""
    with fake_workers(tmp_path, ("--version", "0.27.0")) as [changed]:
        [row] = make_pool(changed).status()["workers"]
    assert row["state"] == "refused"
    pinned = pins.CORE_VERSIONS[pins.CORE.sha]
    assert row["reason"].startswith("reports ComfyUI 0.27.0 itself, yet its pin record says")
    assert pins.CORE.sha[:10] in row["reason"] and f"(ComfyUI {pinned})" in row["reason"]
    assert "Change the worker" in row["reason"]


def test_a_worker_without_a_needed_node_class_is_refused_naming_it(tmp_path, make_pool):
    assert "DWPreprocessor" in pins.workflow_class_types()
    lacking = sorted(pins.workflow_class_types() - {"DWPreprocessor"})
    (tmp_path / "classes.json").write_text(json.dumps(lacking))
    with fake_workers(tmp_path, ()) as [fake]:
        [row] = make_pool(fake).status()["workers"]
    assert row["state"] == "refused"
    assert "DWPreprocessor (comfyui_controlnet_aux)" in row["reason"]


def test_the_tiny_seam_must_match_what_the_app_runs_on(tmp_path, make_pool):
    with fake_workers(tmp_path, ("--tiny",)) as [tiny]:
        [row] = make_pool(tiny).status()["workers"]
    assert row["state"] == "refused" and "tiny random-weight test set" in row["reason"]


def test_a_tiny_worker_refused_by_a_real_weights_app_says_which_side_to_change(tmp_path, make_pool):
    with fake_workers(tmp_path, ("--tiny",)) as [tiny]:
        [row] = make_pool(tiny).status()["workers"]
    reason = row["reason"]
    assert "To test on the tiny set, change the app" in reason
    assert "LTX_AIO_TINY_WEIGHTS=1 and LTX_AIO_MODELS_DIR" in reason
    assert "For real videos, change the worker" in reason


def test_a_real_weights_worker_refused_by_a_tiny_app_says_which_side_to_change(
    tmp_path, make_pool, monkeypatch
):
    monkeypatch.setenv("LTX_AIO_TINY_WEIGHTS", "1")
    with fake_workers(tmp_path, ()) as [real]:
        [row] = make_pool(real).status()["workers"]
    assert row["state"] == "refused"
    assert "To test on the tiny set, change the worker" in row["reason"]
    assert "For real videos, change the app" in row["reason"]


def test_a_worker_at_another_pin_is_told_to_change_the_worker(tmp_path, make_pool):
    with fake_workers(tmp_path, ("--stock", "--version", "0.26.0")) as [older]:
        [row] = make_pool(older).status()["workers"]
    assert "Change the worker: start it from this app's pinned checkout" in row["reason"]


# -- the command tools/start_workers.py prints


def printed_settings(command: str) -> tuple[dict[str, str], list[str]]:
    """The VAR=value settings of a printed shell command, and the words after them."""
    words = shlex.split(command)
    settings = dict(w.split("=", 1) for w in words if "=" in w and w.split("=")[0].isupper())
    return settings, [w for w in words if w.split("=")[0] not in settings]


def test_the_printed_command_carries_the_tiny_set_and_its_folder(tmp_path):
    models = tmp_path / "tiny weights"  # a space: the printed command quotes it
    env = {"LTX_AIO_TINY_WEIGHTS": "1", "LTX_AIO_MODELS_DIR": str(models), "HOME": "/home/x"}
    urls = ["http://127.0.0.1:8188", "http://127.0.0.1:8189"]
    command = start_workers.app_command(urls, models, env, cwd=start_workers.ROOT)
    settings, rest = printed_settings(command)
    assert settings == {
        "LTX_AIO_WORKERS": ",".join(urls),
        "LTX_AIO_TINY_WEIGHTS": "1",
        "LTX_AIO_MODELS_DIR": str(models.resolve()),
    }
    assert rest[-1] == "app.py"


def test_the_printed_command_names_the_models_folder_when_the_tiny_set_is_the_default_one(
    tmp_path,
):
    env = {"LTX_AIO_TINY_WEIGHTS": "1"}  # the checkout's models/ holds the tiny set
    command = start_workers.app_command(["http://127.0.0.1:8188"], tmp_path / "models", env)
    assert printed_settings(command)[0]["LTX_AIO_MODELS_DIR"] == str(tmp_path / "models")


def test_the_printed_command_for_real_weights_is_the_urls_and_the_variant(tmp_path):
    env = {"LTX_AIO_MODEL_VARIANT": "fp8"}
    command = start_workers.app_command(["http://127.0.0.1:8188"], tmp_path, env, cwd=tmp_path)
    settings, rest = printed_settings(command)
    assert settings == {"LTX_AIO_WORKERS": "http://127.0.0.1:8188", "LTX_AIO_MODEL_VARIANT": "fp8"}
    assert rest[-1] == str(start_workers.ROOT / "app.py")  # from another folder: the full path


def test_an_app_started_as_printed_takes_the_tiny_workers(tmp_path, make_pool, monkeypatch):
    """The whole printed command is what makes the pair fit: its URLs alone are refused."""
    env = {"LTX_AIO_TINY_WEIGHTS": "1", "LTX_AIO_MODELS_DIR": str(tmp_path)}
    with fake_workers(tmp_path, ("--tiny",), ("--tiny",)) as fakes:
        urls = [f.url for f in fakes]
        assert states(make_pool(*fakes)) == ["refused", "refused"]  # LTX_AIO_WORKERS alone
        settings, _ = printed_settings(start_workers.app_command(urls, tmp_path, env))
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        assert states(make_pool(*fakes)) == ["up", "up"]


def test_the_header_setting_reaches_every_request(tmp_path, make_pool):
    with fake_workers(tmp_path, ("--token", "s3cret")) as [fake]:
        pool = make_pool(fake, header="Authorization: Bearer s3cret")
        pool.run(graph(), None, "job", "t2v")
        assert (
            make_pool(fake)
            .status()["workers"][0]["reason"]
            .startswith("refused the app (HTTP 401): check LTX_AIO_WORKER_HEADER")
        )


def test_a_malformed_setting_is_said_for_each_worker(tmp_path, make_pool):
    with fake_workers(tmp_path, ()) as [fake]:
        status = make_pool(fake, header="no colon here").status()
    assert not status["ready"]
    assert "LTX_AIO_WORKER_HEADER must read `Name: value`" in status["workers"][0]["reason"]


def test_one_bad_url_does_not_mark_the_workers_after_it(tmp_path, folders):
    with fake_workers(tmp_path, ()) as [fake]:
        pool = worker_pool.Pool(["ftp://nowhere", fake.url], "", *(lambda f=f: f for f in folders))
        try:
            wait_for(
                lambda: len(pool.members) == 2 and all(m.state != "checking" for m in pool.members),
                "the first check",
            )
            states = [m.state for m in pool.members]
            assert states == ["misconfigured", "up"], pool.status()["workers"]
        finally:
            pool.close()


# -- the engine boundary and what the app shows


def test_the_boundary_dispatches_to_the_pool_only_when_workers_are_set(monkeypatch, tmp_path):
    assert backend.executor() is comfy_engine.IN_PROCESS and backend.slots() == 1
    monkeypatch.setenv("LTX_AIO_WORKERS", "http://127.0.0.1:1, http://127.0.0.1:2")
    try:
        assert isinstance(backend.executor(), worker_pool.Pool)
        assert backend.slots() == 2 and not backend.local_weights()
        assert [row["state"] for row in backend.engine_status()["workers"]] == ["down", "down"]
    finally:
        worker_pool.shutdown()


def test_healthz_answers_at_once_while_a_frozen_worker_holds_up_the_first_check(
    tmp_path, monkeypatch
):
    """/healthz reads the pool's kept state: it never waits on a worker, not even on the first
    check of one that hangs (it says "being checked" meanwhile); the page's status may wait."""
    import time

    monkeypatch.setenv(workers.TIMEOUT_ENV, "10")
    with fake_workers(tmp_path, ()) as [frozen]:
        frozen.freeze()
        monkeypatch.setenv("LTX_AIO_WORKERS", frozen.url)
        try:
            started = time.monotonic()
            code, report = health.health_report(boot={}, nodes={}, models={}, device={}, disk={})
            took = time.monotonic() - started
            assert code == 503 and report["reasons"] == ["The workers are being checked."]
            assert took < 5, took  # the first check of a frozen worker lasts 10 s
            assert report["took_ms"]["engine"] < 5000
        finally:
            worker_pool.shutdown()


def test_with_workers_generate_is_no_zerogpu_task(monkeypatch):
    asked = []
    monkeypatch.setattr(backend, "spaces", type("Spaces", (), {"GPU": asked.append}))
    monkeypatch.setenv("LTX_AIO_WORKERS", "http://127.0.0.1:1")

    def task():
        pass

    assert backend._gpu(backend.estimate_duration)(task) is task and asked == []


def test_on_zerogpu_its_gpu_task_runs_the_jobs_and_the_setting_is_said_ignored(monkeypatch):
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    monkeypatch.setenv("LTX_AIO_WORKERS", "http://127.0.0.1:1")
    assert backend.executor() is comfy_engine.IN_PROCESS
    assert any("ignored on ZeroGPU" in w for w in backend.engine_status()["warnings"])


def test_prompt_ids_are_canonical_uuids_stable_per_job():
    import uuid

    first = worker_pool.prompt_id_for("20260101-120000-abcdef")
    assert str(uuid.UUID(first)) == first == worker_pool.prompt_id_for("20260101-120000-abcdef")


def test_a_worker_is_shown_without_its_credentials():
    assert workers.display_name("https://user:pw@gpu1.example:8443/comfy/") == (
        "https://gpu1.example:8443/comfy"
    )


def test_only_the_inputs_the_graph_names_are_uploaded(folders):
    inputs, _ = folders
    (inputs / "someone_else.png").write_bytes(b"x")
    prompt = {**graph(), "3": {"inputs": {"text": "../secret", "name": "absent.png"}}}
    assert workers.staged_inputs(prompt, inputs) == [inputs / INPUT]


def test_healthz_and_the_page_show_each_worker():
    row = {
        "url": "http://gpu1:8188",
        "state": "up",
        "busy": True,
        "reason": "",
        "device": {"name": "cuda:0 NVIDIA H200", "vram_total_gb": 150.0, "vram_free_gb": 90.5},
    }
    engine = {"ready": True, "problems": [], "workers": [row]}
    _, report = health.health_report(
        engine=engine, boot={}, nodes={}, models={}, device={}, disk={}
    )
    assert report["workers"] == [row] and "workers" not in report["engine"]
    page = banners_ui.workers_html([row])
    assert "http://gpu1:8188" in page and "busy" in page
    assert "cuda:0 NVIDIA H200" in page and "90.5 of 150.0 GB free" in page
    assert banners_ui.workers_html([]) == ""


def test_with_workers_this_machine_needs_no_weights_of_its_own():
    offline = {"modes": {"t2v": {"runnable": False, "why": "files missing and offline"}}}

    def code(local_weights: bool) -> int:
        engine = {"ready": True, "problems": [], "local_weights": local_weights}
        return health.health_report(
            engine=engine, boot={}, nodes={}, models=offline, device={}, disk={}
        )[0]

    assert (code(False), code(True)) == (200, 503)


def test_the_version_table_knows_the_core_pin():

    assert pins.CORE_VERSIONS.get(pins.CORE.sha)


@pytest.mark.comfy
def test_the_version_table_says_what_the_pinned_checkout_says(tiny_models):
    import re

    from conftest import SESSION_COMFY

    text = (SESSION_COMFY / "comfyui_version.py").read_text()
    version = re.search(r'__version__ = "([^"]+)"', text).group(1)
    assert pins.CORE_VERSIONS[pins.CORE.sha] == version


# -- tools/start_workers.py supervises what it started

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
QUITTER = [sys.executable, "-c", "raise SystemExit(3)"]


def dummy(tmp_path: Path, port: int, command=SLEEPER) -> start_workers.Worker:
    """A stand-in for a worker process (the supervisor only watches processes)."""
    import subprocess

    log = tmp_path / f"worker-{port}.log"
    log.write_text(f"worker {port} log\n")
    return start_workers.Worker(
        f"http://127.0.0.1:{port}", tmp_path, log, subprocess.Popen(command), None
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_supervisor_restarts_a_dead_worker_and_leaves_the_others_running(tmp_path):
    lines: list[str] = []
    clock = Clock()
    first, second = dummy(tmp_path, 1), dummy(tmp_path, 2)
    supervisor = start_workers.Supervisor(
        [first, second], lambda w: dummy(tmp_path, 1), say=lines.append, clock=clock
    )
    try:
        first.process.kill()
        first.process.wait(timeout=30)
        supervisor.check()
        assert "exited  http://127.0.0.1:1 (-9): restarting in 1 s" in lines[-1]
        assert supervisor.workers[0] is first  # not before its backoff
        clock.now = 1.0
        supervisor.check()
        again = supervisor.workers[0]
        assert again is not first and again.process.poll() is None
        assert lines[-1].startswith("restart http://127.0.0.1:1: started again")
        assert supervisor.workers[1] is second and second.process.poll() is None
        assert supervisor.running()
    finally:
        supervisor.stop()
    assert all(w.process.poll() is not None for w in supervisor.workers)


def test_a_restart_that_cannot_start_is_said_and_counted_and_the_others_go_on(tmp_path):
    """start() refuses (the checkout was re-pinned, say): the tool says why, counts it as one
    more death, and neither stops the other worker nor exits."""
    lines: list[str] = []
    clock = Clock()
    first, second = dummy(tmp_path, 1), dummy(tmp_path, 2)

    def refuse(worker):
        raise SystemExit("the pinned ComfyUI checkout is missing: run python bootstrap.py")

    supervisor = start_workers.Supervisor([first, second], refuse, say=lines.append, clock=clock)
    try:
        first.process.kill()
        first.process.wait(timeout=30)
        supervisor.check()
        clock.now = 1.0
        supervisor.check()  # the restart is refused
        assert lines[-1] == (
            "restart http://127.0.0.1:1: could not start it again: the pinned ComfyUI checkout "
            "is missing: run python bootstrap.py"
        )
        supervisor.check()  # one more death, a longer backoff
        assert "restarting in 2 s" in lines[-1]
        assert second.process.poll() is None and supervisor.running()
    finally:
        supervisor.stop()


def test_a_worker_that_keeps_dying_is_reported_failed_and_no_longer_restarted(tmp_path):
    lines: list[str] = []
    clock = Clock()
    dying = dummy(tmp_path, 1, QUITTER)
    supervisor = start_workers.Supervisor(
        [dying], lambda w: dummy(tmp_path, 1, QUITTER), say=lines.append, clock=clock
    )
    try:
        for _ in range(start_workers.Supervisor.MAX_RESTARTS + 1):
            wait_for(lambda: supervisor.workers[0].process.poll() is not None, "it exits")
            supervisor.check()  # noted, restart due
            clock.now += 60
            supervisor.check()  # started again, or given up
        assert any(
            line.startswith("failed  http://127.0.0.1:1: exited (3) 6 times") for line in lines
        )
        assert "worker 1 log" in lines[-1]
        assert not supervisor.running()
        restarts = [line for line in lines if line.startswith("restart ")]
        assert len(restarts) == start_workers.Supervisor.MAX_RESTARTS
        waits = [
            line.split("restarting in ")[1].split(" s")[0] for line in lines if "restarting" in line
        ]
        assert waits == ["1", "2", "4", "8", "15"]  # backing off
    finally:
        supervisor.stop()
