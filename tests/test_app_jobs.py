"""L1: the job flow (jobs.py) and the app's pure helpers, without a server."""

from __future__ import annotations

import inspect
from pathlib import Path

import gradio as gr
import mediagen
import pytest
from app_helpers import FakeEngine

import app
import backend
import jobs
import models
import modes
from errors import KINDS, AppError


@pytest.fixture
def engine(tmp_path, monkeypatch):
    comfy = tmp_path / "comfyui"
    (comfy / "input").mkdir(parents=True)
    (comfy / "output").mkdir()
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(comfy))
    fake = FakeEngine()
    monkeypatch.setattr(backend, "generate", fake.generate)
    monkeypatch.setattr(backend, "engine_status", fake.engine_status)
    monkeypatch.setattr(models, "ensure_models_for_prompt", fake.ensure_models)
    return fake


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (gr.Error("GPU task aborted"), "gpu_timeout"),
        (RuntimeError("ZeroGPU quota exceeded (120s requested vs. 30s left)"), "unavailable"),
        (RuntimeError("No GPU was available after 60s"), "unavailable"),
        (RuntimeError("ZeroGPU illegal duration"), "gpu_timeout"),
        (MemoryError(), "oom"),
        (type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory"), "oom"),
        (InterruptedError(), "interrupted"),
        (ValueError("something internal"), "node_failed"),
        (AppError("missing_model", "gone"), "missing_model"),
    ],
)
def test_classify_maps_failures_to_kinds(raised, kind):
    assert jobs.classify(raised).kind == kind


def test_classify_never_passes_internal_text_of_unknown_errors():
    err = jobs.classify(KeyError("/secret/path/in/traceback"))
    assert "/secret/path" not in err.message


def test_every_kind_has_a_title_and_a_default_hint():
    assert set(jobs.TITLES) == set(KINDS) == set(jobs.DEFAULT_HINTS)


def test_describe_names_kind_field_and_what_to_do():
    text = jobs.describe(
        AppError("bad_input", "Frames is 10000", where="frames", hint="Use 9..481")
    )
    assert text == "[bad_input] Check your input: frames: Frames is 10000. Use 9..481."


def test_run_returns_video_and_used_parameters(engine):
    result = jobs.run("t2v", {"prompt": "a cat", "preset": "fast", "seed": 7})
    assert result.used["seed"] == 7 and result.used["mode"] == "t2v"
    assert Path(result.video) == Path(engine.calls[-1]["video"]).resolve()
    assert engine.calls[-1]["duration_multiplier"] == 1.0


def test_run_retries_a_gpu_abort_once_with_doubled_budget_and_says_so(engine):
    engine.fail_with.append(gr.Error("GPU task aborted"))
    told = []
    result = jobs.run("t2v", {"prompt": "a cat"}, notify=told.append)
    assert [c["duration_multiplier"] for c in engine.calls] == [1.0, jobs.RETRY_MULTIPLIER]
    assert told == [jobs.RETRY_NOTE] and jobs.RETRY_NOTE in result.notes


def test_run_does_not_retry_other_failures(engine):
    engine.fail_with.append(AppError("oom", "out of memory"))
    with pytest.raises(AppError) as caught:
        jobs.run("t2v", {"prompt": "a cat"})
    assert caught.value.kind == "oom" and len(engine.calls) == 1


def test_run_checks_the_engine_before_anything_else(engine, tmp_path):
    engine.ready, engine.problems = False, ["ComfyUI is not installed"]
    image = mediagen.make_png(tmp_path / "x.png", 96, 64)
    with pytest.raises(AppError) as caught:
        jobs.run("i2v", {"image": str(image), "prompt": "a cat"})
    assert caught.value.kind == "unavailable" and "ComfyUI is not installed" in caught.value.message
    assert list((backend.input_dir()).iterdir()) == [] and engine.ensured == 0


def test_run_passes_the_gradio_progress_object_itself_to_the_gpu_task(engine):
    # ZeroGPU pickles the task's arguments: a gr.Progress pickles, a closure would not.
    progress = gr.Progress()
    jobs.run("t2v", {"prompt": "a cat"}, progress=progress)
    assert engine.calls[-1]["progress"] is progress


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_api_signature_is_the_mode_fields_as_keywords(mode):
    handler = app.make_api_handler(modes.MODES[mode])
    params = inspect.signature(handler).parameters
    fields = modes.MODES[mode].fields
    assert list(params)[1:] == [f.name for f in fields]
    assert all(params[f.name].kind is inspect.Parameter.KEYWORD_ONLY for f in fields)
    doc = handler.__doc__
    for f in fields:
        assert f"    {f.name}: " in doc


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_every_field_gets_a_component_of_its_kind(mode):
    expected = {
        "text": gr.Textbox,
        "choice": gr.Radio,
        "bool": gr.Checkbox,
        "image": gr.Image,
        "audio": gr.Audio,
        "video": gr.Video,
    }
    with gr.Blocks():
        for f in modes.MODES[mode].fields:
            component = app.field_component(modes.MODES[mode], f)
            if f.kind in ("int", "float"):
                assert isinstance(component, (gr.Slider, gr.Number)), f.name
                if f.min is not None:
                    assert component.minimum == f.min and component.maximum == f.max
            else:
                assert isinstance(component, expected[f.kind]), f.name


def test_banner_escapes_html():
    html = app.error_banner(AppError("bad_input", "<script>x</script>", where="prompt"))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_launch_options_serve_only_the_output_folder(engine):
    options = app.launch_options()
    assert options["allowed_paths"] == [str(backend.output_dir().resolve())]
    assert options["css"] and options["head"] and options["theme"] is not None
    assert options["max_file_size"] > 0
