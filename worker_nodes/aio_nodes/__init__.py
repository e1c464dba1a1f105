"""The app's own ComfyUI nodes: a step a mode needs where ComfyUI's core has no node for it.

Loaded by the in-process engine (comfy_engine.py loads this folder after the core and the packs)
and by every remote worker (tools/start_workers.py lists worker_nodes/ under `custom_nodes:`), so
a graph runs the same wherever it runs. Kept small and free of the app's modules: a worker
imports it inside its own ComfyUI.

- `AIOAVNoiseMaskByTime`: a noise mask over a time range of a joint audio+video latent, so that
  sampling regenerates that span of picture and sound and keeps the rest (retake). ComfyUI-
  LTXVideo's `LTXVSetAudioVideoMaskByTime` and ltx-pipelines' `TemporalRegionMask` do the same
  job; this one follows core's conventions: `noise_mask` 1 = denoise, 0 = keep, a video mask of
  shape [B, 1, T, 1, 1] as `LTXVImgToVideoInplace` writes one, an audio mask the audio latent's
  shape, both in one NestedTensor as `LTXVConcatAVLatent` builds it.
- `AIOPinReport`: what this ComfyUI runs, for an executor that can only send graphs (a RunPod
  endpoint: runpod_endpoint.py checks it with a one-node job). It writes REPORT_NAME into the
  output folder, listed under `images` so worker-comfyui's handler returns it (it fetches each
  entry through /view, which serves any file): ComfyUI's version, the pin records and tiny-seam
  flag of the app's worker_nodes/aio_worker (`/aio/worker`'s answer; None where it is not
  loaded), and every node class ComfyUI has registered. Never cached: it runs on every job.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import comfy.nested_tensor
import torch
from comfy_api.latest import ComfyExtension, io

# LTX's video VAE: latent frame 0 holds pixel frame 0; latent i >= 1 holds frames 8(i-1)+1..8i.
TIME_SCALE = 8


def latent_frame(frame: int) -> int:
    """The latent frame that holds pixel frame `frame`."""
    return 0 if frame <= 0 else (frame - 1) // TIME_SCALE + 1


def video_span(start_s: float, end_s: float, frame_rate: float, length: int) -> tuple[int, int]:
    """Latent frames [first, last) that hold any pixel frame shown in [start_s, end_s)."""
    first_frame = math.ceil(start_s * frame_rate - 1e-6)
    last_frame = math.ceil(end_s * frame_rate - 1e-6) - 1
    if last_frame < first_frame:
        return 0, 0
    return min(latent_frame(first_frame), length), min(latent_frame(last_frame) + 1, length)


def audio_span(start_s: float, end_s: float, per_second: float, length: int) -> tuple[int, int]:
    """Audio latents [first, last) that overlap [start_s, end_s)."""
    first = max(0, math.floor(start_s * per_second + 1e-6))
    last = min(length, math.ceil(end_s * per_second - 1e-6))
    return min(first, length), max(last, min(first, length))


class AIOAVNoiseMaskByTime(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AIOAVNoiseMaskByTime",
            display_name="AV Noise Mask By Time (LTX AIO)",
            category="model/latent/ltxv",
            description="Regenerate [start_s, end_s) of an audio+video latent, keep the rest.",
            inputs=[
                io.Latent.Input("av_latent"),
                io.Float.Input("start_s", default=0.0, min=0.0, max=100000.0, step=0.01),
                io.Float.Input("end_s", default=1.0, min=0.0, max=100000.0, step=0.01),
                io.Float.Input("frame_rate", default=24.0, min=1.0, max=1000.0, step=0.01),
                io.Vae.Input("audio_vae", tooltip="The audio VAE: how many latents a second."),
            ],
            outputs=[io.Latent.Output(display_name="av_latent")],
        )

    @classmethod
    def execute(cls, av_latent, start_s, end_s, frame_rate, audio_vae) -> io.NodeOutput:
        samples = av_latent["samples"]
        if not getattr(samples, "is_nested", False):
            raise ValueError(
                "AIOAVNoiseMaskByTime needs an audio+video latent (LTXVConcatAVLatent)"
            )
        if end_s <= start_s:
            raise ValueError(f"the range {start_s}..{end_s} s is empty")
        video, audio = samples.unbind()
        v_first, v_last = video_span(start_s, end_s, frame_rate, video.shape[2])
        video_mask = torch.zeros(
            (video.shape[0], 1, video.shape[2], 1, 1), dtype=torch.float32, device=video.device
        )
        video_mask[:, :, v_first:v_last] = 1.0
        per_second = float(audio_vae.first_stage_model.latents_per_second)
        a_first, a_last = audio_span(start_s, end_s, per_second, audio.shape[2])
        audio_mask = torch.zeros(audio.shape, dtype=torch.float32, device=audio.device)
        audio_mask[:, :, a_first:a_last] = 1.0
        out = dict(av_latent)
        out["noise_mask"] = comfy.nested_tensor.NestedTensor((video_mask, audio_mask))
        return io.NodeOutput(out)


REPORT_NAME = "aio-pin-report.json"
WORKER_INIT = Path(__file__).resolve().parent.parent / "aio_worker" / "__init__.py"


def _aio_worker():
    """The app's worker_nodes/aio_worker as ComfyUI loaded it (it names the module after its
    path), or None where it is not loaded (the in-process engine)."""
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and file.endswith("__init__.py") and Path(file).resolve() == WORKER_INIT:
            return module
    return None


def pin_report() -> dict:
    import comfyui_version
    import folder_paths
    import nodes

    worker = _aio_worker()
    core = Path(folder_paths.__file__).resolve().parent
    return {
        "comfyui_version": comfyui_version.__version__,
        "pins": worker._records(core) if worker is not None else None,
        "tiny_seam": bool(getattr(worker, "TINY_SEAM", False)),
        "classes": sorted(nodes.NODE_CLASS_MAPPINGS),
    }


class AIOPinReport(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AIOPinReport",
            display_name="Pin Report (LTX AIO)",
            category="utils",
            description="Write what this ComfyUI runs (version, pins, node classes) as JSON.",
            inputs=[],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls) -> float:
        return float("nan")  # never equal to the last run's: never served from the cache

    @classmethod
    def execute(cls) -> io.NodeOutput:
        import folder_paths

        out = Path(folder_paths.get_output_directory())
        out.mkdir(parents=True, exist_ok=True)
        partial = out / f".{REPORT_NAME}.part"
        partial.write_text(json.dumps(pin_report()))
        partial.replace(out / REPORT_NAME)
        return io.NodeOutput(
            ui={"images": [{"filename": REPORT_NAME, "subfolder": "", "type": "output"}]}
        )


class AIONodes(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [AIOAVNoiseMaskByTime, AIOPinReport]


async def comfy_entrypoint() -> AIONodes:
    return AIONodes()
