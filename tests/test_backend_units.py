"""L1: the duration estimator, error classification and engine status, without ComfyUI."""

from __future__ import annotations

import sys

import pytest

import backend
import bootstrap
import comfy_engine
import comfy_events
import pins
from errors import AppError

PROMPT = {
    "1": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "ltx.safetensors"},
        "_meta": {"title": "Load checkpoint"},
    },
    "2": {"class_type": "LoadImage", "inputs": {"image": "gone.png"}, "_meta": {"title": "Image"}},
    "3": {"class_type": "SaveVideo", "inputs": {}, "_meta": {"title": "Save"}},
}


@pytest.fixture(autouse=True)
def cold(monkeypatch):
    monkeypatch.setattr(backend, "_warm_modes", set())


def test_estimate_follows_base_preset_frames_and_cold_buffer():
    # t2v 90 s x balanced 1.5 + 0.3 s x 121 frames + 60 s cold = 231.3
    assert backend.estimate_duration("t2v", "balanced", {}, 121) == 231


def test_estimate_drops_cold_buffer_once_mode_is_warm(monkeypatch):
    monkeypatch.setattr(backend, "_warm_modes", {("t2v", "ltx-2.3")})
    assert backend.estimate_duration("t2v", "balanced", {}, 121) == 171


def test_the_other_model_family_is_cold_even_when_one_is_warm(monkeypatch):
    monkeypatch.setattr(backend, "_warm_modes", {("t2v", "ltx-2.3")})
    ltx25 = {"1": {"class_type": "UNETLoader", "inputs": {}}}
    assert backend.family(ltx25) == "ltx-2.5" and backend.family({}) == "ltx-2.3"
    assert backend.estimate_duration("t2v", "balanced", ltx25, 121) == 231


def test_estimate_clamps_to_sixty_and_nine_hundred():
    assert backend.estimate_duration("t2v", "fast", {}, 0) == 150
    assert backend.estimate_duration("style", "quality", {}, 481) == 900
    backend._warm_modes.add(("t2v", "ltx-2.3"))
    assert backend.estimate_duration("t2v", "fast", {}, -50) == 90
    assert backend.estimate_duration("i2v", "fast", {}, 0, 0.1) >= 60


def test_estimate_doubles_on_retry_and_still_clamps():
    first = backend.estimate_duration("lipsync", "fast", {}, 97)
    assert backend.estimate_duration("lipsync", "fast", {}, 97, 2.0) == min(900, 2 * first)
    assert backend.estimate_duration("lipsync", "quality", {}, 481, 2.0) == 900


def test_estimate_takes_generates_exact_arguments():
    import inspect

    assert list(inspect.signature(backend.estimate_duration).parameters) == list(
        inspect.signature(backend.generate).parameters
    )


def test_classify_missing_model_names_file_and_node():
    node_errors = {
        "1": {
            "errors": [
                {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": "ckpt_name: 'ltx.safetensors' not in []",
                    "extra_info": {"input_name": "ckpt_name"},
                }
            ],
            "class_type": "CheckpointLoaderSimple",
        }
    }
    err = comfy_events.classify_validation(
        PROMPT, {"type": "prompt_outputs_failed_validation"}, node_errors
    )
    assert err.kind == "missing_model"
    assert err.where == "Load checkpoint.ckpt_name"
    assert "ltx.safetensors" in err.message and "Download" in err.hint


def test_classify_missing_input_file_is_bad_input():
    node_errors = {
        "2": {
            "errors": [
                {
                    "type": "custom_validation_failed",
                    "message": "Custom validation failed for node",
                    "details": "image - Invalid image file: gone.png",
                    "extra_info": {"input_name": "image"},
                }
            ],
            "class_type": "LoadImage",
        }
    }
    err = comfy_events.classify_validation(PROMPT, None, node_errors)
    assert err.kind == "bad_input" and err.where == "Image.image" and "gone.png" in err.message


def test_classify_wrong_type_is_invalid_graph_naming_input():
    node_errors = {
        "3": {
            "errors": [
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": "video, received_type(IMAGE) mismatch input_type(VIDEO)",
                    "extra_info": {"input_name": "video"},
                }
            ],
            "class_type": "SaveVideo",
        }
    }
    err = comfy_events.classify_validation(PROMPT, None, node_errors)
    assert err.kind == "invalid_graph" and err.where == "Save.video" and "mismatch" in err.message


def test_classify_unknown_node_names_class():
    error = {
        "type": "missing_node_type",
        "message": "Node 'X' not found.",
        "extra_info": {"node_id": "9", "class_type": "NoSuchNode", "node_title": "X"},
    }
    err = comfy_events.classify_validation(PROMPT, error, {})
    assert err.kind == "unavailable" and "NoSuchNode" in err.message and err.where == "X"


@pytest.mark.parametrize(
    ("exc_type", "message", "kind"),
    [
        ("torch.OutOfMemoryError", "CUDA out of memory. Tried to allocate 2 GiB", "oom"),
        ("RuntimeError", "MPS backend out of memory", "oom"),
        ("builtins.FileNotFoundError", "No such file: ltx.safetensors", "missing_model"),
        ("builtins.ValueError", "bad shape", "node_failed"),
    ],
)
def test_classify_execution_errors(exc_type, message, kind):
    messages = [
        ("execution_start", {}),
        (
            "execution_error",
            {"node_id": "1", "exception_type": exc_type, "exception_message": message},
        ),
    ]
    err = comfy_events.classify_execution(PROMPT, messages)
    assert err.kind == kind and err.where == "Load checkpoint"
    if kind == "node_failed":
        assert "bad shape" in err.message


def test_classify_interrupt():
    err = comfy_events.classify_execution(PROMPT, [("execution_interrupted", {"node_id": "1"})])
    assert err.kind == "interrupted"


def test_engine_status_without_checkout_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "none"))
    status = backend.engine_status()
    assert status["ready"] is False
    assert any("bootstrap.py" in p for p in status["problems"])
    assert status["pins"]["ComfyUI"] == pins.CORE.sha


def test_run_without_checkout_raises_unavailable_and_keeps_raising(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "none"))
    monkeypatch.setattr(comfy_engine, "_engine", None)
    monkeypatch.setattr(comfy_engine, "_engine_error", None)
    for _ in range(2):
        with pytest.raises(AppError) as info:
            backend.run({})
        assert info.value.kind == "unavailable" and "bootstrap.py" in str(info.value)


def test_importing_backend_imports_neither_torch_nor_comfy():
    import subprocess

    code = "import backend, sys; print('torch' in sys.modules, 'comfy' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=pins.REPO_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["False", "False"]


def test_missing_node_class_is_named_with_its_pack():
    assert comfy_events.pack_name("DWPreprocessor") == "comfyui_controlnet_aux"
    assert comfy_events.pack_name("SaveVideo") == "ComfyUI core"


def test_gpu_decorator_is_a_no_op_off_zerogpu():
    assert not hasattr(backend.generate, "__wrapped__")
    assert backend.generate.__code__.co_name == "generate"


@pytest.mark.parametrize(
    ("raised", "kind", "where"),
    [
        (
            AppError("missing_model", "model file x is not installed", where="Load.ckpt"),
            "missing_model",
            "Load.ckpt",
        ),
        (AppError("interrupted", "Generation was cancelled."), "interrupted", ""),
        (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "oom", ""),
        (ValueError("bad shape"), "node_failed", ""),
    ],
)
def test_generate_returns_failures_as_data_that_unpack_raises_again(
    monkeypatch, raised, kind, where
):
    import pickle

    def failing_run(prompt, progress=None, job_id="", mode=""):
        raise raised

    monkeypatch.setattr(backend, "run", failing_run)
    result = backend.generate("t2v", "fast", {}, 9)
    # ZeroGPU would turn a raised exception into "ZeroGPU worker error" naming only its class.
    assert pickle.loads(pickle.dumps(result)) == result
    with pytest.raises(AppError) as info:
        backend.unpack(result)
    assert (info.value.kind, info.value.where) == (kind, where)
    if isinstance(raised, AppError):
        assert info.value.message == raised.message


def test_unpack_passes_results_through_and_tolerates_an_unknown_kind():
    assert backend.unpack({"video": "a.mp4"}) == {"video": "a.mp4"}
    with pytest.raises(AppError) as info:
        backend.unpack({"error": {"kind": "weird", "message": "boom"}})
    assert (info.value.kind, info.value.message) == ("node_failed", "boom")


def test_cancel_leaves_a_marker_for_that_job_only(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "comfyui"))
    monkeypatch.setattr(comfy_engine, "_engine", None)
    backend.cancel("job-1")
    assert comfy_engine.cancel_marker("job-1").is_file()
    assert not comfy_engine.cancel_marker("job-2").exists()
    assert (
        comfy_engine.cancel_marker("../../x").parent == comfy_engine.cancel_marker("job-1").parent
    )


def test_a_successful_task_warms_its_mode_in_the_process_that_ran_it(monkeypatch):
    monkeypatch.setattr(
        backend, "run", lambda prompt, progress=None, job_id="", mode="": {"video": "v"}
    )
    backend.generate("i2v", "fast", {}, 97)
    assert backend._warm_modes == {("i2v", "ltx-2.3")}


def test_a_failed_task_leaves_its_mode_cold(monkeypatch):
    def failing_run(prompt, progress=None, job_id="", mode=""):
        raise AppError("oom", "out of memory")

    monkeypatch.setattr(backend, "run", failing_run)
    backend.generate("i2v", "fast", {}, 97)
    assert backend._warm_modes == set()


def test_an_engine_that_failed_in_the_gpu_worker_makes_status_not_ready(monkeypatch):
    monkeypatch.setattr(comfy_engine, "_task_error", None)
    monkeypatch.setattr(comfy_engine, "core_problem", lambda root: None)
    monkeypatch.setattr(comfy_engine, "runtime_problems", lambda: [])
    monkeypatch.setattr(bootstrap, "state", lambda: {"phase": "ready", "problems": []})
    assert backend.engine_status()["ready"]
    failed = AppError("unavailable", "node classes ... are not registered", hint="Run bootstrap.")
    with pytest.raises(AppError):
        backend.unpack({"error": failed.to_dict()})
    status = backend.engine_status()
    assert not status["ready"] and any("not registered" in p for p in status["problems"])


@pytest.mark.parametrize(("variant", "ready"), [("full", True), ("fp8", True), ("gguf", False)])
def test_a_failed_gguf_pack_blocks_only_the_gguf_variant(monkeypatch, variant, ready):
    problem = "ComfyUI-GGUF @ 795e45156e could not be installed into ...: git fetch failed."
    boot = {"phase": "failed", "problems": [problem], "failed": {"ComfyUI-GGUF": problem}}
    monkeypatch.setattr(bootstrap, "state", lambda: boot)
    monkeypatch.setattr(comfy_engine, "core_problem", lambda root: None)
    monkeypatch.setattr(comfy_engine, "runtime_problems", lambda: [])
    monkeypatch.setattr(comfy_engine, "_task_error", None)
    monkeypatch.setenv("LTX_AIO_MODEL_VARIANT", variant)
    status = backend.engine_status()
    assert status["ready"] is ready
    assert problem in (status["warnings"] if ready else status["problems"])


def test_a_core_that_could_not_be_installed_is_said_once(monkeypatch, tmp_path):
    problem = f"ComfyUI @ {pins.CORE.sha[:10]} could not be installed. It failed."
    boot = {"phase": "failed", "problems": [problem], "failed": {"ComfyUI": problem}}
    monkeypatch.setattr(bootstrap, "state", lambda: boot)
    monkeypatch.setattr(pins, "comfy_dir", lambda: tmp_path / "none")
    monkeypatch.setattr(comfy_engine, "runtime_problems", lambda: [])
    monkeypatch.setattr(comfy_engine, "_task_error", None)
    assert pins.CORE.name == "ComfyUI"
    assert backend.engine_status()["problems"] == [problem]
    # Without a failed install, the missing checkout says how to install it, archives included.
    monkeypatch.setattr(bootstrap, "state", lambda: {"phase": "ready", "failed": {}})
    [said] = backend.engine_status()["problems"]
    assert "is not installed" in said and "--archives DIR" in said
    assert "LTX_AIO_PIN_ARCHIVES" in said


@pytest.mark.parametrize("name", ["run", "cancel", "status", "slots"])
def test_both_executors_satisfy_the_protocol(name):
    """backend.Executor is the whole contract: this process's ComfyUI and the worker pool each
    take the protocol's parameters by its names (a default beyond it is theirs) and say whether
    weights load here."""
    import inspect

    import worker_pool

    wanted = list(inspect.signature(getattr(backend.Executor, name)).parameters)
    for executor in (comfy_engine.InProcess, worker_pool.Pool):
        got = list(inspect.signature(getattr(executor, name)).parameters)
        assert got == wanted, f"{executor.__name__}.{name}{got} is not the protocol's {wanted}"
        assert isinstance(executor.local_weights, bool)
    assert comfy_engine.InProcess.local_weights and not worker_pool.Pool.local_weights
