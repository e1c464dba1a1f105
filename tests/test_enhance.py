"""L1: the prompt enhancer's plumbing (enhance.py): its graph, cache, estimate and the job option,
with the GPU task replaced by the test double (which marks the text it is given)."""

from __future__ import annotations

import pytest

import backend
import enhance
import history
import jobs
import modes
import workflow
from errors import AppError
from testkit import mediagen
from testkit.app_helpers import ENHANCED_BY_TEST, use_fake_engine

engine = pytest.fixture(use_fake_engine, name="engine")


@pytest.fixture(autouse=True)
def empty_cache():
    enhance.CACHE.clear()
    yield
    enhance.CACHE.clear()


def positive(prompt: dict) -> str:
    return workflow.find_node(prompt, "Positive prompt")[1]["inputs"]["text"]


def calls(engine, mode: str) -> list[dict]:
    return [call for call in engine.calls if call["mode"] == mode]


def test_the_cache_drops_the_least_recently_used():
    cache = enhance.Cache(size=2)
    cache.put(("a",), "A")
    cache.put(("b",), "B")
    assert cache.get(("a",)) == "A"  # now the most recent
    cache.put(("c",), "C")
    assert cache.get(("b",)) is None and cache.get(("a",)) == "A" and len(cache) == 2


@pytest.mark.parametrize("family", enhance.families())
def test_the_graph_reads_the_image_only_when_given_one(family):
    alone = enhance.graph(family, "a fox")
    seen = enhance.graph(family, "a fox", "staged.png")
    assert not workflow.has_node(alone, "Load image")
    assert workflow.find_node(seen, "Load image")[1]["inputs"]["image"] == "staged.png"
    node = workflow.find_node(alone, "Enhance prompt")[1]["inputs"]
    assert node["prompt"] == "a fox" and "image" not in node


def test_each_family_enhances_on_the_text_encoder_its_graphs_load():
    for family, template in enhance.GRAPHS.items():
        mine = workflow.find_node(workflow.load_template(template), "Text encoder")[1]
        theirs = workflow.find_node(workflow.load_template(modes.BOTH["t2v"][family]),
                                    "Text encoder")[1]  # fmt: skip
        assert mine["class_type"] == theirs["class_type"] and mine["inputs"] == theirs["inputs"]


@pytest.mark.parametrize("prompt", ["", "   ", None, "x" * (modes.MAX_PROMPT_CHARS + 1)])
def test_a_prompt_it_cannot_enhance_is_one_message_naming_the_field(prompt, engine):
    with pytest.raises(AppError) as info:
        enhance.enhance(modes.LTX25, prompt)
    assert info.value.kind == "bad_input" and info.value.where == "prompt"
    assert not engine.calls


def test_an_unknown_family_is_named(engine):
    with pytest.raises(AppError) as info:
        enhance.enhance("ltx-9", "a fox")
    assert info.value.where == "model"


def test_asking_again_is_answered_from_the_cache(engine):
    first, cached = enhance.enhance(modes.LTX23, "a fox")
    again, cached_again = enhance.enhance(modes.LTX23, "a fox")
    assert first == again == f"{ENHANCED_BY_TEST} a fox"
    assert (cached, cached_again) == (False, True) and len(calls(engine, "enhance")) == 1
    enhance.enhance(modes.LTX25, "a fox")  # another family: its own rewrite
    assert len(calls(engine, "enhance")) == 2


def test_the_estimate_counts_the_tokens_it_may_generate(monkeypatch):
    monkeypatch.setattr(backend, "_warm_modes", {("t2v", modes.LTX23)})
    short, long = (enhance.graph(modes.LTX23, "a fox") for _ in range(2))
    workflow.find_node(long, "Enhance prompt")[1]["inputs"]["max_length"] = 4000
    seconds = [backend.estimate_duration("enhance", modes.LTX23, g, 0) for g in (short, long)]
    assert seconds[1] - seconds[0] == pytest.approx(
        backend.ENHANCE_S_PER_TOKEN * (4000 - 2048), abs=1
    )
    assert backend.enhance_seconds(workflow.load_template("t2v")) == 0


def test_a_job_that_asks_generates_from_the_rewrite_and_history_keeps_both(engine):
    result = jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 7,
                              "enhance_prompt": True})  # fmt: skip
    rewrite = f"{ENHANCED_BY_TEST} a cat"
    [made] = calls(engine, "t2v")
    assert positive(made["prompt"]) == rewrite
    kept = history.open_store().get(result.job_id)
    assert kept.params["prompt"] == "a cat" and kept.params["enhance_prompt"] is True
    assert result.spec.record()["prompt"] == "a cat"
    assert result.spec.record()["enhanced_prompt"] == rewrite


def test_a_new_seed_reuses_the_rewrite_without_enhancing_again(engine):
    for seed in (7, 8):
        jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": seed,
                         "enhance_prompt": True})  # fmt: skip
    assert len(calls(engine, "enhance")) == 1
    assert positive(calls(engine, "t2v")[1]["prompt"]) == f"{ENHANCED_BY_TEST} a cat"


def test_without_the_option_nothing_is_enhanced(engine):
    jobs.run("t2v", {"prompt": "a cat", "preset": "fast"})
    assert not calls(engine, "enhance") and positive(calls(engine, "t2v")[0]["prompt"]) == "a cat"


def test_on_remote_workers_a_job_asking_to_enhance_is_refused_naming_the_option(
    engine, monkeypatch, tmp_path
):
    """The enhancer runs only where the models run here: a job asking for it is refused before
    anything is staged, naming the option (not failed as "unavailable", which stops a batch)."""
    monkeypatch.setattr(backend, "local_weights", lambda: False)
    with pytest.raises(AppError) as err:
        jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "enhance_prompt": True})
    assert (err.value.kind, err.value.where) == ("bad_input", "enhance_prompt")
    assert "remote workers" in err.value.message and "Turn Enhance the prompt off" in err.value.hint
    assert not engine.calls


def test_an_image_mode_enhances_with_its_staged_image(engine, tmp_path):
    image = mediagen.make_png(tmp_path / "first.png", 96, 64, (200, 120, 40))
    jobs.run("i2v", {"image": str(image), "prompt": "she smiles", "preset": "fast",
                     "model": modes.LTX25, "enhance_prompt": True})  # fmt: skip
    [asked] = calls(engine, "enhance")
    assert asked["preset"] == modes.LTX25
    staged = workflow.find_node(asked["prompt"], "Load image")[1]["inputs"]["image"]
    made = calls(engine, "i2v")[0]["prompt"]
    assert staged == workflow.find_node(made, "Load image")[1]["inputs"]["image"]
    # The mode's suffix still follows the rewrite.
    assert positive(made) == f"{ENHANCED_BY_TEST} she smiles {modes.MOTION_SUFFIX}"


def test_every_prompted_mode_offers_the_option():
    for mode in modes.MODES.values():
        if any(f.name == "prompt" for f in mode.fields):
            assert mode.field("enhance_prompt").kind == "bool"


def test_a_rewrite_is_kept_per_image_content(engine, tmp_path):
    """The key holds the image's bytes: another image is enhanced anew, a copy of one is not."""
    first = mediagen.make_png(tmp_path / "first.png", 96, 64, (200, 120, 40))
    other = mediagen.make_png(tmp_path / "other.png", 96, 64, (10, 200, 90))
    copy = tmp_path / "copy.png"
    copy.write_bytes(first.read_bytes())
    said = [enhance.enhance(modes.LTX23, "a lake", image)[1] for image in (first, other, copy)]
    assert said == [False, False, True]
    assert not enhance.enhance(modes.LTX23, "a lake")[1]  # without an image: its own rewrite
    assert len(calls(engine, "enhance")) == 3


@pytest.mark.parametrize("image", [None, "staged.png"], ids=["text", "image"])
@pytest.mark.parametrize("family", enhance.families())
def test_the_graph_passes_the_snapshot_validator(family, image):
    assert workflow.validate(enhance.graph(family, "a fox", image), workflow.load_schemas()) == []
