"""L3: the prompt enhancer through gradio_client, against the real app on 127.0.0.1: the
`enhance_prompt` option of a mode's endpoint and the `/enhance` endpoint. Only the GPU task (its
enhancer marks the text it was given), the weight download and the engine check are doubles."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file

import enhance
import modes
from testkit import mediagen
from testkit.app_helpers import ENHANCED_BY_TEST, running_app


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app")) as running:
        yield running


@pytest.fixture(scope="module")
def client(served):
    return Client(served.url, verbose=False)


@pytest.fixture(autouse=True)
def fresh(served):
    served.engine.reset()
    served.engine.calls.clear()
    enhance.CACHE.clear()
    yield


def asked(served, mode: str) -> list[dict]:
    return [call for call in served.engine.calls if call["mode"] == mode]


def test_a_job_asked_to_enhance_generates_from_the_rewrite_and_answers_both(served, client):
    _, used = client.predict(prompt="a lighthouse at dusk", preset="fast",
                             enhance_prompt=True, api_name="/t2v")  # fmt: skip
    assert used["prompt"] == "a lighthouse at dusk"
    assert used["enhanced_prompt"] == f"{ENHANCED_BY_TEST} a lighthouse at dusk"
    [made] = asked(served, "t2v")
    text = [n for n in made["prompt"].values() if n["_meta"]["title"] == "Positive prompt"]
    assert text[0]["inputs"]["text"] == used["enhanced_prompt"]
    assert served.store().get(used["job_id"]).params["prompt"] == "a lighthouse at dusk"


def test_a_rewrite_of_ones_own_is_what_the_job_is_made_from_and_history_keeps_both(served, client):
    """The Enhance button's rewrite, edited, comes as enhanced_prompt: the job is made from it
    without enhancing again (even with enhance_prompt on, as "use these settings" of an enhanced
    job sends it), and History keeps the user's own prompt beside it."""
    mine = "A lighthouse at dusk, waves breaking below, the camera slowly pushing in."
    _, used = client.predict(prompt="a lighthouse", enhanced_prompt=mine, enhance_prompt=True,
                             preset="fast", api_name="/t2v")  # fmt: skip
    assert not asked(served, "enhance")
    [made] = asked(served, "t2v")
    text = [n for n in made["prompt"].values() if n["_meta"]["title"] == "Positive prompt"]
    assert text[0]["inputs"]["text"].startswith(mine)
    kept = served.store().get(used["job_id"]).params
    assert (kept["prompt"], kept["enhanced_prompt"]) == ("a lighthouse", mine)


def test_the_enhance_endpoint_returns_the_rewrite_and_sees_the_image(served, client, tmp_path):
    image = mediagen.make_png(tmp_path / "first.png", 96, 64, (200, 120, 40))
    text = client.predict(prompt="she smiles", model=modes.LTX23, image=handle_file(str(image)),
                          api_name="/enhance")  # fmt: skip
    assert text == f"{ENHANCED_BY_TEST} she smiles"
    [call] = asked(served, "enhance")
    assert call["preset"] == modes.LTX23
    assert any(n["_meta"]["title"] == "Load image" for n in call["prompt"].values())


def test_the_enhance_endpoint_names_an_empty_prompt(served, client):
    with pytest.raises(Exception) as caught:
        client.predict(prompt="  ", api_name="/enhance")
    assert "Prompt must not be empty" in str(caught.value) and not served.engine.calls


def test_an_enhance_waits_its_turn_behind_a_running_job(served, client):
    """The enhancer takes the GPU as a job does: while a job holds the only slot, an Enhance
    waits in line (jobs.TURNS) and runs once the job ends; it never jumps ahead of it."""
    import jobs
    from testkit.waiting import wait_for

    served.engine.step_delay = 30.0  # the job holds its slot until it is cancelled
    job = client.submit(prompt="a slow river", preset="fast", api_name="/t2v")
    wait_for(lambda: asked(served, "t2v"), "the job to reach the GPU", 60)
    rewrite = Client(served.url, verbose=False).submit(prompt="a fox", api_name="/enhance")
    wait_for(lambda: jobs.TURNS.waiting() == 1, "the enhance to wait in line", 60)
    assert not asked(served, "enhance")  # still waiting: the job has the GPU
    served.engine.step_delay = 0.0
    served.engine.cancel()  # the job ends, and with it its turn
    assert rewrite.result(timeout=60) == f"{ENHANCED_BY_TEST} a fox"
    wait_for(job.done, "the cancelled job to end", 60)
    assert jobs.TURNS.running() == 0 and jobs.TURNS.waiting() == 0
