"""Fixes the app applies to the pinned ComfyUI (v0.33.0) once it is imported, each for a device
the app supports where the pin's code does not run.

- MoGe on the CPU. ComfyUI builds its MoGe model in the text encoders' dtype, which is fp16 on a
  CPU too (comfy/model_management.py text_encoder_dtype), and MoGe's first step is an antialiased
  bilinear resize (comfy/ldm/moge/modules.py DINOv2Encoder.forward) that PyTorch's CPU kernels do
  not offer in fp16 ("compute_index_ranges_weights" not implemented for 'Half'). On the CPU the
  model is therefore held in fp32; on a GPU nothing changes.
- Tiled decoding without progress. ComfyUI's 3D (video) VAE decode passes no progress bar to
  `comfy.utils.tiled_scale_multidim`; the engine installs `count_tiles_as_progress` with its
  progress hook, so each decoded tile is a step.
"""

from __future__ import annotations


def install() -> None:
    """Apply every fix; harmless when called again."""
    _moge_in_fp32_on_cpu()


def _moge_in_fp32_on_cpu() -> None:
    import comfy.model_management as mm
    import comfy.model_patcher
    import torch
    from comfy.ldm.moge import model as moge

    built = moge.MoGeModel.__init__
    if getattr(built, "aio_fp32_on_cpu", False):
        return

    def __init__(self, state_dict: dict) -> None:
        built(self, state_dict)
        if mm.is_device_cpu(self.load_device) and self.dtype == torch.float16:
            self.model.float()
            self.dtype = torch.float32
            self.patcher = comfy.model_patcher.CoreModelPatcher(
                self.model, load_device=self.load_device, offload_device=self.patcher.offload_device
            )

    __init__.aio_fp32_on_cpu = True
    moge.MoGeModel.__init__ = __init__


def count_tiles_as_progress(utils) -> None:
    """Tiled decoding reports its tiles as steps: ComfyUI's 3D (video) VAE decode passes no
    progress bar to `tiled_scale_multidim`, so the longest stage after sampling would show no
    progress. Here one is made where none is given, counting the tiles the function will visit."""
    original = utils.tiled_scale_multidim
    if getattr(original, "_aio_counts_tiles", False):
        return

    def tiled_scale_multidim(samples, function, tile=(64, 64), overlap=8, *args, **kwargs):
        if kwargs.get("pbar") is None and len(args) < 6:  # pbar is its 10th parameter
            kwargs["pbar"] = utils.ProgressBar(tile_count(samples.shape, tile, overlap))
        return original(samples, function, tile, overlap, *args, **kwargs)

    tiled_scale_multidim._aio_counts_tiles = True
    utils.tiled_scale_multidim = tiled_scale_multidim


def tile_count(shape, tile, overlap) -> int:
    """How many tiles `comfy.utils.tiled_scale_multidim` decodes for a batch of this shape."""
    dims = len(tile)
    overlap = list(overlap) if isinstance(overlap, (tuple, list)) else [overlap] * dims
    sizes = list(shape[2:])
    if all(sizes[d] <= tile[d] for d in range(dims)):
        return int(shape[0])
    per = 1
    for d in range(dims):
        per *= (
            len(range(0, sizes[d] - overlap[d], tile[d] - overlap[d])) if sizes[d] > tile[d] else 1
        )
    return int(shape[0]) * per
