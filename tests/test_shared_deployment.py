"""L3: a deployment others can reach (LTX_AIO_SHARED=1), tried as an adversarial visitor would.

Each visitor's jobs are theirs (the page and every private event, called directly over HTTP with
someone else's job ids); nothing from the data dir is fetched directly and nothing served runs as
a page; refusals keep nothing; every submission is recorded. The GPU task is the test double.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest
from gradio_client import Client, handle_file

import app  # at collection: the real engine, once started, puts ComfyUI's own `app` first
import owners
from testkit import mediagen
from testkit.app_helpers import running_app
from testkit.raw_gradio import RawApp
from testkit.waiting import wait_for

SECRET_A, SECRET_B = owners.new_secret(), owners.new_secret()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("shared-app"), {"LTX_AIO_SHARED": "1"}) as running:
        yield running


@pytest.fixture
def raw(served):
    served.engine.reset()
    return RawApp(served.url)


def defaults(event) -> list:
    return [c.get("props", {}).get("value") for c in event.inputs]


def generate(raw: RawApp, secret: str, prompt: str) -> str:
    """The page's Generate button for t2v, as the browser with this secret sends it."""
    event = raw.event("aio-generate-t2v", step=1)
    data = defaults(event)
    for i, component in enumerate(event.inputs):
        if component.get("props", {}).get("elem_id") == "aio-t2v-prompt":
            data[i] = prompt
        elif component["type"] == "browserstate":
            data[i] = secret
        elif component.get("props", {}).get("elem_id") == "aio-t2v-preset":
            data[i] = "fast"
    answer = raw.call(event, data)
    assert answer["ok"], answer["text"]
    return json.dumps(answer["data"])


def history_of(raw: RawApp, secret: str) -> str:
    event = raw.event("aio-history-refresh")
    data = [secret if c["type"] == "browserstate" else None for c in event.inputs]
    answer = raw.call(event, data)
    assert answer["ok"], answer["text"]
    return json.dumps(answer["data"])


def test_two_visitors_each_see_only_their_own_jobs(raw, served):
    mine, theirs = f"mine-{uuid.uuid4().hex}", f"theirs-{uuid.uuid4().hex}"
    generate(raw, SECRET_A, mine)
    generate(raw, SECRET_B, theirs)
    seen_by_a, seen_by_b = history_of(raw, SECRET_A), history_of(raw, SECRET_B)
    assert mine in seen_by_a and theirs not in seen_by_a
    assert theirs in seen_by_b and mine not in seen_by_b
    owners_recorded = {j.params.get("prompt"): j.owner for j in served.store().jobs(limit=-1)}
    assert owners_recorded[mine] != owners_recorded[theirs]


def _hostile(event, job_id: str) -> list:
    """What an attacker sends: their own secret, the victim's job id wherever a text goes, a
    retention of a nanosecond."""
    data = []
    for component in event.inputs:
        kind = component["type"]
        if kind == "browserstate":
            data.append(SECRET_B)
        elif kind in ("textbox", "dropdown", "radio"):
            data.append(job_id)
        elif kind == "number":
            data.append(1e-9)
        elif kind == "checkbox":
            data.append(False)
        else:
            data.append(None)
    return data


def test_every_private_event_called_with_a_victims_job_id_reaches_nothing_of_theirs(raw, served):
    secret_prompt = f"victim-{uuid.uuid4().hex}"
    generate(raw, SECRET_A, secret_prompt)
    store = served.store()
    victim = next(j for j in store.jobs(limit=-1) if j.params.get("prompt") == secret_prompt)
    before = {j.id: j.status for j in store.jobs(limit=-1, owner=victim.owner)}
    called = 0
    for event in raw.events:
        trigger = event.trigger or ""
        if not event.private or "download" in trigger or trigger.startswith("aio-generate"):
            continue  # fetching weights or running a job of one's own touches no one else
        answer = raw.call(event, _hostile(event, victim.id))
        called += 1
        # Nothing of the victim's comes back: not their prompt, not their video (named for the
        # job; the bare id may be echoed back in a refusal of the attacker's own input).
        assert secret_prompt not in answer["text"], (event.fn_index, trigger)
        assert f"t2v_{victim.id}" not in answer["text"], (event.fn_index, trigger)
    assert called >= 15
    assert {j.id: j.status for j in store.jobs(limit=-1, owner=victim.owner)} == before
    assert secret_prompt in history_of(raw, SECRET_A)  # and the victim still sees it


def test_retention_cannot_be_changed_from_the_page(raw, served):
    prompt = f"kept-{uuid.uuid4().hex}"
    generate(raw, SECRET_A, prompt)
    apply = raw.event("aio-history-apply")
    data = [SECRET_A if c["type"] == "browserstate" else None for c in apply.inputs]
    data[0] = data[1] = 1e-9  # keep days, keep GB
    answer = raw.call(apply, data)
    assert "Not saved" in answer["text"] and "LTX_AIO_KEEP_DAYS" in answer["text"]
    assert prompt in history_of(raw, SECRET_A)


def _file_status(url: str, path: Path, route: str = "file=") -> httpx.Response:
    return httpx.get(f"{url}gradio_api/{route}{path}", timeout=30)


def test_history_files_are_never_fetched_from_the_data_dir(served, tmp_path):
    client = Client(served.url, verbose=False)
    image = mediagen.make_png(tmp_path / "face.png", 96, 64)
    video, used = client.predict(image=handle_file(str(image)), prompt="x", api_name="/i2v")
    job = served.store().get(used["job_id"])
    data = served.data
    for path in (
        data / "history.db",
        data / "history.db-wal",
        data / "jobs" / job.id / "record.json",
        job.inputs["image"],
        job.output,
    ):
        assert path.exists(), path
        for route in ("file=", "file/"):
            answer = _file_status(served.url, path, route)
            assert answer.status_code == 404, (path, route, answer.status_code)
            assert b"SQLite" not in answer.content and job.id.encode() not in answer.content
    assert Path(video).read_bytes() == job.output.read_bytes()  # the result itself arrives


def test_an_uploaded_html_page_is_kept_as_the_image_it_is_and_never_served_as_html(
    served, tmp_path
):
    disguised = mediagen.make_png(tmp_path / "face.png", 96, 64).rename(tmp_path / "face.html")
    client = Client(served.url, verbose=False)
    _, used = client.predict(image=handle_file(str(disguised)), prompt="x", api_name="/i2v")
    kept = served.store().get(used["job_id"]).inputs["image"]
    assert kept.name == "image.png"
    upload = httpx.post(
        f"{served.url}gradio_api/upload", files={"files": ("page.html", disguised.read_bytes())}
    ).json()[0]
    answer = _file_status(served.url, Path(upload))
    assert answer.status_code == 200
    assert "text/html" not in answer.headers["content-type"]
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert "sandbox" in answer.headers.get("content-security-policy", "")


def test_twenty_refusals_keep_nothing_of_what_they_were_given(served, tmp_path):
    client = Client(served.url, verbose=False)
    speech = mediagen.make_wav(tmp_path / "speech.wav", seconds=20.0)  # 640 kB
    store = served.store()
    before = {j.id for j in store.jobs(limit=-1)}
    for _ in range(20):
        with pytest.raises(Exception, match=r"\[bad_input\]"):
            client.predict(audio=handle_file(str(speech)), prompt="p" * 6000, api_name="/a2v")
    refused = [j for j in store.jobs(limit=-1) if j.id not in before]
    assert len(refused) == 20
    assert all((j.status, j.params, j.inputs) == ("failed", {}, {}) for j in refused)
    files = [p for j in refused for p in (store.jobs_dir / j.id).rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"record.json"}
    assert sum(p.stat().st_size for p in files) < 20 * 4096


def test_someone_elses_upload_cannot_be_used(served, tmp_path):
    image = mediagen.make_png(tmp_path / "private.png", 96, 64)
    theirs = upload(served, image, **{"user-agent": "the owner's browser"})
    answer = submit_i2v(served, theirs, **{"user-agent": "someone else"})
    assert not answer["ok"]
    assert "not uploaded by you" in answer["text"] and "image:" in answer["text"]


def upload(served, image: Path, **headers) -> str:
    answer = httpx.post(
        f"{served.url}gradio_api/upload",
        files={"files": (image.name, image.read_bytes())},
        headers=headers,
    )
    return answer.json()[0]


def submit_i2v(served, path: str, **headers) -> dict:
    """The i2v endpoint called directly with an uploaded file's path, as these headers' sender."""
    values = {"aio-i2v-image": file_data(path), "aio-i2v-prompt": "x", "aio-i2v-preset": "fast"}
    return call_raw(served, "i2v", values, "elem_id", **headers)


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def call_raw(served, api_name: str, values: dict, key: str, **headers) -> dict:
    """The named endpoint called directly (its payload unprocessed by any client) as these
    headers' sender: each input whose prop `key` (elem_id, label) `values` names gets that value,
    the others their defaults."""
    raw = RawApp(served.url, headers=headers)
    event = next(e for e in raw.events if not e.private and e.fn_index == _api_index(raw, api_name))
    data = defaults(event)
    for i, component in enumerate(event.inputs):
        name = component.get("props", {}).get(key)
        if name in values:
            data[i] = values[name]
    return raw.call(event, data)


def test_an_upload_of_the_same_bytes_by_someone_else_neither_blocks_nor_opens_yours(
    served, tmp_path
):
    """Gradio names an upload by its content: A's and B's uploads of one picture are one stored
    file, and each of them may use it; C, who never uploaded it, may not."""
    served.engine.reset()
    image = mediagen.make_png(tmp_path / "portrait.png", 96, 64)
    mine = upload(served, image, **{"user-agent": "A's browser"})
    theirs = upload(served, image, **{"user-agent": "B's browser"})
    assert mine == theirs  # one stored file
    assert submit_i2v(served, mine, **{"user-agent": "A's browser"})["ok"]
    assert submit_i2v(served, mine, **{"user-agent": "B's browser"})["ok"]
    answer = submit_i2v(served, mine, **{"user-agent": "C's browser"})
    assert not answer["ok"] and "not uploaded by you" in answer["text"]


def test_a_forwarded_address_chosen_by_the_caller_gains_nothing(served, tmp_path, monkeypatch):
    """Behind a trusted proxy (here: loopback stands for it), the address the proxy appended
    counts: B writing A's address first in X-Forwarded-For, with A's browser, is still B."""
    served.engine.reset()
    monkeypatch.setenv(owners.PROXIES_ENV, "127.0.0.1, ::1")
    image = mediagen.make_png(tmp_path / "private.png", 96, 64)
    a = {"user-agent": "one browser", "x-forwarded-for": "203.0.113.1"}
    path = upload(served, image, **a)
    spoofed = {"user-agent": "one browser", "x-forwarded-for": "203.0.113.1, 198.51.100.2"}
    answer = submit_i2v(served, path, **spoofed)
    assert not answer["ok"] and "not uploaded by you" in answer["text"]
    assert submit_i2v(served, path, **{**a, "x-forwarded-for": "198.51.100.9, 203.0.113.1"})["ok"]
    # Without the proxy setting, forwarded headers are nobody's word: the socket's peer counts.
    monkeypatch.delenv(owners.PROXIES_ENV)
    answer = submit_i2v(served, path, **{"user-agent": "other", "x-forwarded-for": "203.0.113.1"})
    assert not answer["ok"]


def test_a_visitor_over_their_days_uploads_is_refused_with_the_limit_others_are_not(
    served, tmp_path, monkeypatch
):
    import uploads_ui

    monkeypatch.setattr(uploads_ui, "_sent", {})
    monkeypatch.setenv(uploads_ui.UPLOAD_ENV, str(3000 / 1024**3))  # about 3 KB a day
    first = mediagen.make_png(tmp_path / "a.png", 64, 64, (10, 20, 30))
    second = mediagen.make_png(tmp_path / "b.png", 64, 64, (200, 20, 30))
    heavy = {"user-agent": "heavy uploader"}
    accepted = 0
    for _ in range(100):  # each about 250 bytes: the limit is met within a few dozen
        answer = httpx.post(
            f"{served.url}gradio_api/upload",
            files={"files": (first.name, first.read_bytes() + uuid.uuid4().bytes)},
            headers=heavy,
        )
        if answer.status_code == 429:
            break
        assert answer.status_code == 200
        accepted += 1
    else:
        pytest.fail("the uploads were never counted against the limit")
    assert accepted >= 5  # about 3 KB of them went in first
    refused = httpx.post(
        f"{served.url}gradio_api/upload",
        files={"files": (second.name, second.read_bytes())},
        headers=heavy,
    )
    assert refused.status_code == 429
    said = refused.json()["detail"]
    assert "in the last 24 hours" in said and "a day from one visitor" in said and "hour" in said
    assert upload(served, second, **{"user-agent": "someone else"})  # another visitor uploads


def test_someone_elses_upload_cannot_be_enhanced(served, tmp_path):
    """The prompt enhancer's image is checked as a job's is: someone else's upload on this
    server is refused naming `image`, before the GPU is asked."""
    served.engine.calls.clear()
    image = mediagen.make_png(tmp_path / "private.png", 96, 64)
    theirs = upload(served, image, **{"user-agent": "the owner's browser"})
    values = {"image": file_data(theirs), "prompt": "a fox"}
    answer = call_raw(served, "enhance", values, "label", **{"user-agent": "someone else"})
    assert not answer["ok"]
    assert "not uploaded by you" in answer["text"] and "image:" in answer["text"]
    assert not served.engine.calls


def _api_index(raw: RawApp, mode: str) -> int:
    config = httpx.get(raw.url + "config", timeout=30).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == mode)


def test_a_job_over_its_owners_quota_is_refused_with_what_to_do(served, monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_AIO_OWNER_QUOTA_GB", "0.000001")  # 1 kB: the first output fills it
    client = Client(served.url, verbose=False, headers={"x-aio-key": uuid.uuid4().hex})
    client.predict(prompt="first", api_name="/t2v")
    with pytest.raises(Exception, match="Delete some of your jobs in History"):
        client.predict(prompt="second", api_name="/t2v")


def test_a_space_with_hugging_face_login_shows_the_login_button(monkeypatch, tmp_path):
    monkeypatch.setenv("LTX_AIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SPACE_ID", "me/ltx")
    assert not owners.login_offered()  # a Space without hf_oauth: no button
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "id")
    assert owners.login_offered()
    import gradio.oauth  # reads the Space's OAuth settings once, when imported

    for name, value in (("OAUTH_CLIENT_ID", "id"), ("OAUTH_CLIENT_SECRET", "s"),
                        ("OAUTH_SCOPES", "openid profile"),
                        ("OPENID_PROVIDER_URL", "https://huggingface.co")):  # fmt: skip
        monkeypatch.setattr(gradio.oauth, name, value)
    demo = app.build_app()
    logins = [b for b in demo.blocks.values() if isinstance(b, gr.LoginButton)]
    assert [b.elem_id for b in logins] == ["aio-login"]


def test_one_visitors_forty_waiting_jobs_hold_anothers_back_by_the_running_one_only(
    served, monkeypatch
):
    """A queues forty jobs; B's one job starts as soon as the job running when it came ends.
    /healthz answers meanwhile, with the line in its report (how fast: tools/bench_line.py, not
    a timed test; whether it says 200 depends on this machine's disk and models, not the line)."""
    import jobs

    served.engine.reset()
    monkeypatch.setenv("LTX_AIO_MAX_WAITING", "50")  # forty may wait (20 by default)
    before = len(served.engine.calls)
    key_a, key_b = uuid.uuid4().hex, uuid.uuid4().hex
    a = Client(served.url, verbose=False, headers={"x-aio-key": key_a})
    b = Client(served.url, verbose=False, headers={"x-aio-key": key_b})
    owner_a, owner_b = (
        owners.of(SimpleNamespace(headers={"x-aio-key": k})) for k in (key_a, key_b)
    )
    with held_gpu(monkeypatch) as release:  # A's first job holds the GPU until B's is in line
        theirs = [
            a.submit(prompt=f"a{i}", preset="fast", seed=i, api_name="/t2v") for i in range(40)
        ]
        wait_for(lambda: jobs.TURNS.waiting(owner_a) == 40 - jobs.slots(), "A's jobs in line")
        health = httpx.get(f"{served.url}healthz", timeout=30)
        assert health.status_code in (200, 503), health.text
        assert health.json()["queue"]["length"] >= 40, health.text
        # A line is no fault: whatever makes it 503 here is this machine's (disk, models).
        said = " ".join(health.json()["reasons"]).lower()
        assert not any(word in said for word in ("queue", "line", "waiting")), health.text
        assert health.json()["engine"]["ready"] is True, health.text  # the engine's verdict read
        mine = b.submit(prompt="b", preset="fast", seed=1, api_name="/t2v")
        wait_for(lambda: jobs.TURNS.waiting(owner_b) == 1, "B's job in line")
        release.set()
        _, used = mine.result(timeout=120)
        started = [c["job_id"] for c in served.engine.calls[before:]]
        assert started.index(used["job_id"]) == jobs.slots(), started[:5]  # right after A's 1st
        for job in theirs:
            job.cancel()
    wait_for(lambda: jobs.TURNS.waiting() == 0 and jobs.TURNS.running() == 0, "an empty line")


@contextlib.contextmanager
def held_gpu(monkeypatch):
    """The fake GPU task waits until the block ends (always let go, whatever the test did)."""
    import backend

    release = threading.Event()
    fake = backend.generate
    monkeypatch.setattr(backend, "generate", lambda *a, **k: (release.wait(120), fake(*a, **k))[1])
    try:
        yield release
    finally:
        release.set()


def line_up(client, owner_waiting, n: int) -> list:
    """One job running, then `n` - 1 waiting behind it (submitted once the first runs: a job
    not yet started counts as waiting)."""
    import jobs

    wait_for(lambda: jobs.TURNS.running() == 0 and jobs.TURNS.waiting() == 0, "an empty line")
    first = client.submit(prompt="p0", preset="fast", api_name="/t2v")
    wait_for(lambda: jobs.TURNS.running() == 1, "a job holding the GPU")
    rest = [client.submit(prompt=f"p{i}", preset="fast", api_name="/t2v") for i in range(1, n)]
    wait_for(lambda: owner_waiting() == n - 1, "the jobs lined up")
    return [first, *rest]


def test_a_visitor_with_as_many_jobs_waiting_as_one_may_have_is_refused_with_the_limit(
    served, monkeypatch
):
    from gradio_client.exceptions import AppError as ClientError

    import jobs

    served.engine.reset()
    monkeypatch.setenv("LTX_AIO_MAX_WAITING", "3")
    key = uuid.uuid4().hex
    client = Client(served.url, verbose=False, headers={"x-aio-key": key})
    owner = owners.of(SimpleNamespace(headers={"x-aio-key": key}))
    with held_gpu(monkeypatch) as release:
        kept = line_up(client, lambda: jobs.TURNS.waiting(owner), 4)
        with pytest.raises(ClientError) as refused:
            client.predict(prompt="one too many", preset="fast", api_name="/t2v")
        said = str(refused.value)
        assert "3 jobs waiting" in said and "at most 3 waiting" in said and "cancel" in said
        other = Client(served.url, verbose=False, headers={"x-aio-key": uuid.uuid4().hex})
        theirs = other.submit(prompt="someone else", preset="fast", api_name="/t2v")
        release.set()
        assert theirs.result(timeout=120)[1]["job_id"]
        assert all(job.result(timeout=120)[1]["job_id"] for job in kept)


def test_a_new_session_of_the_same_key_less_script_shares_its_limit_and_its_turn(
    served, monkeypatch
):
    """Each gradio_client Client is a session of its own; from the same address and client it is
    still the same visitor for the waiting limit and the turns."""
    from gradio_client.exceptions import AppError as ClientError

    import jobs

    served.engine.reset()
    monkeypatch.setenv("LTX_AIO_MAX_WAITING", "3")
    with held_gpu(monkeypatch) as release:
        kept = line_up(Client(served.url, verbose=False), jobs.TURNS.waiting, 4)
        with pytest.raises(ClientError) as refused:
            Client(served.url, verbose=False).predict(
                prompt="again", preset="fast", api_name="/t2v"
            )
        assert "at most 3 waiting" in str(refused.value)
        release.set()
        assert all(job.result(timeout=120)[1]["job_id"] for job in kept)


def test_an_upload_that_would_pass_the_day_limit_is_refused_before_it_lands(
    served, tmp_path, monkeypatch
):
    """The size the request announces counts; a data URL over MCP counts too; a copy the server
    hands back of a kept input does not."""
    import uploads_ui

    monkeypatch.setattr(uploads_ui, "_sent", {})
    monkeypatch.setenv(uploads_ui.UPLOAD_ENV, str(4000 / 1024**3))  # about 4 KB a day
    big = tmp_path / "big.png"
    big.write_bytes(mediagen.make_png(tmp_path / "p.png", 64, 64).read_bytes() + b"\0" * 8000)
    answer = httpx.post(
        f"{served.url}gradio_api/upload",
        files={"files": (big.name, big.read_bytes())},
        headers={"user-agent": "announces too much"},
    )
    assert answer.status_code == 429 and "a day from one visitor" in answer.json()["detail"]
    sender = uploads_ui.sender({"user-agent": "data url"}, "127.0.0.1")
    with pytest.raises(uploads_ui.AppError) as refused:
        uploads_ui.save_data_url(
            "data:image/png;base64," + base64.b64encode(big.read_bytes()).decode(),
            "image", "image", sender,
        )  # fmt: skip
    assert refused.value.where == "image" and "a day from one visitor" in refused.value.message
    uploads_ui.remember([str(big)], sender, counts=False)
    assert uploads_ui.over_limit(sender) is None


def test_a_cancel_naming_someone_elses_event_changes_nothing(served, monkeypatch):
    """B posts Gradio's cancel with A's event id (from B's own session and key): A's job runs
    to its end, and the engine is told nothing."""
    import backend
    import jobs

    served.engine.reset()
    cancels = served.engine.cancels
    release = threading.Event()
    fake = backend.generate
    monkeypatch.setattr(backend, "generate", lambda *a, **k: (release.wait(120), fake(*a, **k))[1])
    key_a = {"x-aio-key": uuid.uuid4().hex}
    raw = RawApp(served.url, headers=key_a)
    t2v = raw.endpoint("t2v")
    data = defaults(t2v)
    for i, component in enumerate(t2v.inputs):
        if component.get("props", {}).get("elem_id") == "aio-t2v-prompt":
            data[i] = "A's own"
    body = {"data": data, "fn_index": t2v.fn_index, "session_hash": "session-of-a"}
    joined = httpx.post(f"{served.url}gradio_api/queue/join", json=body, headers=key_a, timeout=60)
    event_id = joined.json()["event_id"]
    wait_for(lambda: jobs.TURNS.running() == 1, "a job holding the GPU")
    cancel = {"event_id": event_id, "session_hash": "session-of-b", "fn_index": t2v.fn_index}
    httpx.post(
        f"{served.url}gradio_api/cancel",
        json=cancel,
        headers={"x-aio-key": uuid.uuid4().hex},
        timeout=60,
    )
    release.set()
    with httpx.stream(
        "GET",
        f"{served.url}gradio_api/queue/data",
        params={"session_hash": "session-of-a"},
        headers=key_a,
        timeout=120,
    ) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                assert message.get("success"), message
                break
        else:
            pytest.fail("A's job never completed")
    assert served.engine.cancels == cancels
    job_id = message["output"]["data"][1]["job_id"]
    assert served.store().get(job_id).status == "done"


def _call_with(url: str, mode: str, headers: dict, **given) -> str:
    """A raw HTTP call of `mode` (its parameters by name, defaults elsewhere) with `headers`."""
    info = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    params = info["named_endpoints"][f"/{mode}"]["parameters"]
    data = [given.get(p["parameter_name"], p.get("parameter_default")) for p in params]
    posted = httpx.post(
        f"{url}gradio_api/call/{mode}", json={"data": data}, headers=headers, timeout=30
    )
    if posted.status_code != 200:  # refused at the door
        return f"event: error\n{posted.json()['detail']}"
    event = posted.json()["event_id"]
    return httpx.get(f"{url}gradio_api/call/{mode}/{event}", headers=headers, timeout=60).text


def test_a_history_job_id_as_a_video_is_its_owners_alone(served):
    served.engine.reset()
    served.engine.seconds = 1.5  # enough frames to restyle
    key_a, key_b = {"x-aio-key": uuid.uuid4().hex}, {"x-aio-key": uuid.uuid4().hex}
    _, made = Client(served.url, verbose=False, headers=key_a).predict(
        prompt="a fox", preset="fast", api_name="/t2v"
    )
    ref = f"job:{made['job_id']}"

    theirs = _call_with(served.url, "style", key_b, video=ref, prompt="as clay")
    assert "event: error" in theirs
    assert f"[bad_input] Check your input: video: no finished job {made['job_id']} of yours." in (
        theirs
    )
    owner_b = owners.of(SimpleNamespace(headers=key_b))
    assert all(not j.inputs for j in served.store().jobs(limit=-1, owner=owner_b))

    mine = _call_with(served.url, "style", key_a, video=ref, prompt="as clay")
    assert "event: complete" in mine, mine
    owner_a = owners.of(SimpleNamespace(headers=key_a))
    restyled = served.store().jobs(mode="style", limit=1, owner=owner_a)[0]
    assert restyled.status == "done" and restyled.params["source_job"] == {"video": made["job_id"]}
    served.engine.reset()
