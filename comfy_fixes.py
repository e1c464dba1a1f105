"""Fixes the app applies to the pinned ComfyUI (v0.33.0) once it is imported, each for a device
the app supports where the pin's code does not run.

- MoGe on the CPU. ComfyUI builds its MoGe model in the text encoders' dtype, which is fp16 on a
  CPU too (comfy/model_management.py text_encoder_dtype), and MoGe's first step is an antialiased
  bilinear resize (comfy/ldm/moge/modules.py DINOv2Encoder.forward) that PyTorch's CPU kernels do
  not offer in fp16 ("compute_index_ranges_weights" not implemented for 'Half'). On the CPU the
  model is therefore held in fp32; on a GPU nothing changes.
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
