"""Decoding that fits the GPU: decode_plan.py's mirror of ComfyUI's memory estimate, the tiling it
chooses, and every graph's "Decode video" node as patches.py fills it.

L1/L2 (no ComfyUI): the plan for every mode x preset x model family at the preset's largest sizes
and frame cap, on 24, 48 and 80 GB. L-comfy: the mirror equals ComfyUI v0.33.0's own
`VAE.memory_used_decode`, `VAEDecodeTiled.decode` and `tiled_scale_multidim` on the tiny set.
"""

from __future__ import annotations

import math
import re

import pytest

import comfy_fixes
import decode_plan
import modes
import prepare
import workflow
from decode_plan import LTX23, LTX25
from job_spec import Spec
from testkit.modes_helpers import graph_spec

GB = 1e9
MEMORIES_GB = (24, 48, 80)
ASPECTS = ((16, 9), (9, 16), (1, 1), (21, 9), (modes.MAX_ASPECT, 1), (1, modes.MAX_ASPECT))
# The official templates' VAEDecodeTiled inputs (tile_size, overlap, temporal_size,
# temporal_overlap): LTX-2.5's video_ltx2_5_*, LTX-2.3's video_ltx2_3_*.
TEMPLATE_25 = dict(tile_size=512, overlap=64, temporal_size=64, temporal_overlap=16)
TEMPLATE_23 = dict(tile_size=768, overlap=64, temporal_size=4096, temporal_overlap=4)
BEFORE = dict(tile_size=1024, overlap=64, temporal_size=4096, temporal_overlap=8)


def _preset(mode: modes.Mode, name: str, family: str) -> modes.Preset:
    """The preset as it runs on `family` (some families reach a preset another way)."""
    per_family = getattr(mode, "preset", None)
    return per_family(name, family) if per_family else mode.presets[name]


def largest_shapes(mode: modes.Mode, preset: modes.Preset) -> list[tuple[int, int, int]]:
    """(width, height, frames) at the preset's pixel count in every aspect, and its own size,
    each at its frame cap: the largest decodes the preset allows."""
    multiple = 32 if preset.stages == 1 and mode.name != "style" else 64
    sizes = {prepare.fit_size(w, h, preset.pixels, multiple) for w, h in ASPECTS}
    sizes.add((preset.width, preset.height))
    return [(w, h, preset.max_frames) for w, h in sorted(sizes)]


def graph_used(mode: modes.Mode, family: str, preset: modes.Preset, shape, memory_gb) -> Spec:
    return graph_spec(mode.name, preset.name, family, shape, memory_gb=memory_gb, job_id="plan")


GRAPHS = [
    (mode, family, preset)
    for mode, m in modes.MODES.items()
    for family in m.models
    for preset in m.presets
]


def _decode_inputs(prompt: dict) -> dict:
    inputs = workflow.find_node(prompt, "Decode video")[1]["inputs"]
    return {name: inputs[name] for name in decode_plan.Plan.INPUTS}


# ------------------------------------------------------------------- ComfyUI's figures, mirrored


def test_the_issues_figures_are_comfyuis_estimates():
    """Before: 1024 px tiles and every frame at once. The templates: far less."""
    assert decode_plan.peak_bytes(LTX25, 1920, 1088, 241, BEFORE) / GB == pytest.approx(55.3, 0.01)
    assert decode_plan.peak_bytes(LTX23, 1920, 1088, 241, BEFORE) / GB == pytest.approx(39.0, 0.01)
    assert decode_plan.peak_bytes(LTX25, 1920, 1088, 241, TEMPLATE_25) / GB < 3.7


def test_the_nodes_inputs_become_latent_tiles_as_vaedecodetiled_makes_them():
    assert decode_plan.node_tiles(**TEMPLATE_25) == {
        "tile_x": 16, "tile_y": 16, "overlap": 2, "tile_t": 8, "overlap_t": 2,
    }  # fmt: skip
    assert decode_plan.node_tiles(**TEMPLATE_23)["overlap_t"] == 1  # 4 frames: under one latent
    # A tile under four overlaps gets a quarter of itself; a run under two overlaps half of one.
    assert decode_plan.node_tiles(128, 64, 8, 8) == {
        "tile_x": 4, "tile_y": 4, "overlap": 1, "tile_t": 2, "overlap_t": 1,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("size", "tile", "overlap"), [(34, 16, 2), (60, 21, 2), (31, 4, 2), (8, 8, 2), (3, 128, 2)]
)
def test_the_tiles_along_an_axis_are_those_the_progress_counter_counts(size, tile, overlap):
    spans = decode_plan.spans(size, tile, overlap)
    assert len(spans) == comfy_fixes.tile_count((1, 128, size), (tile,), (overlap,))
    assert spans[0][0] == 0 and sum(spans[-1]) == size  # from the first latent to the last


# ------------------------------------------------------------------------------------ the plan


def test_the_readmes_example():
    plan = decode_plan.plan(LTX25, 1920, 1088, 241, 48 * GB)
    assert plan.describe() == "4x2 tiles of 576 px, 241 frames at once"
    assert round(plan.peak_bytes / GB, 1) == 17.5


def test_a_frame_that_fits_is_decoded_whole():
    plan = decode_plan.plan(LTX23, 768, 448, 121, 48 * GB)
    assert plan.tiles == (1, 1, 1) and plan.inputs["tile_size"] == decode_plan.WHOLE
    assert plan.describe() == "one tile, 121 frames at once"


def test_space_is_cut_before_time():
    for family in (LTX25, LTX23):
        for memory_gb in MEMORIES_GB:
            plan = decode_plan.plan(family, 1920, 1088, 241, memory_gb * GB)
            assert plan.tiles[0] == 1 and plan.temporal_size == decode_plan.WHOLE, plan


def test_time_is_cut_only_when_no_cut_in_space_alone_fits():
    plan = decode_plan.plan(LTX25, 1920, 1088, 241, 4 * GB)
    assert plan.fits and plan.tiles[0] > 1
    assert plan.temporal_size % 4 == 0 and plan.temporal_size >= decode_plan.MIN_TEMPORAL
    assert "frames at a time" in plan.describe()


def test_the_cheapest_fitting_tiling_wins():
    """No other tiling that fits decodes less (overlaps counted)."""
    plan = decode_plan.plan(LTX25, 1920, 1088, 241, 48 * GB)
    chosen = decode_plan.decoded_volume(1920, 1088, 241, plan.inputs)
    for side in range(decode_plan.MIN_TILE_PX, 1920 + 32, 32):
        other = {**plan.inputs, "tile_size": side}
        if decode_plan.peak_bytes(LTX25, 1920, 1088, 241, other) <= plan.budget_bytes:
            assert decode_plan.decoded_volume(1920, 1088, 241, other) >= chosen


def test_too_little_memory_gives_the_smallest_tiling_and_says_so():
    plan = decode_plan.plan(LTX25, 1920, 1088, 241, 0.1 * GB)
    assert not plan.fits
    assert plan.tile_size == decode_plan.MIN_TILE_PX
    assert plan.temporal_size == decode_plan.MIN_TEMPORAL
    assert "more than the 0.1 GB it may use" in plan.note()


def test_the_budget_is_the_documented_share():
    assert decode_plan.plan(LTX23, 768, 448, 9, 48 * GB).budget_bytes == 24 * GB


@pytest.mark.parametrize(("mode", "family", "preset"), GRAPHS, ids=["-".join(g) for g in GRAPHS])
def test_every_graphs_decode_fits_its_budget_with_template_seams(mode, family, preset):
    """The issue's "done when": at each preset's largest sizes and frame cap, on 24, 48 and 80 GB,
    ComfyUI's estimate of the graph's decode is within its budget, the tiles cover the frame, and
    each seam is as wide as the templates' (64 px; 16 frames where time is cut)."""
    m = modes.MODES[mode]
    p = _preset(m, preset, family)
    for shape in largest_shapes(m, p):
        for memory_gb in MEMORIES_GB:
            used = graph_used(m, family, p, shape, memory_gb)
            prompt = m.parameterize(used)
            assert workflow.has_node(prompt, "Transformer") == (family == LTX25)
            inputs = _decode_inputs(prompt)
            peak = decode_plan.peak_bytes(family, *shape, inputs)
            where = (shape, memory_gb, inputs, used.decode)
            assert peak <= decode_plan.budget_bytes(memory_gb * GB), where
            assert used.decode_note is None, where
            _assert_seams_and_cover(shape, inputs, where)


def _assert_seams_and_cover(shape, inputs, where) -> None:
    w, h, frames = shape
    tile = inputs["tile_size"]
    assert tile % 32 == 0 and decode_plan.MIN_TILE_PX <= tile <= decode_plan.WHOLE, where
    assert inputs["temporal_size"] % 4 == 0 and inputs["temporal_size"] >= 8, where
    n = decode_plan.node_tiles(**inputs)
    assert n["overlap"] * decode_plan.SPATIAL >= decode_plan.OVERLAP_PX, where
    _, _, t, lh, lw = decode_plan.latent_shape(w, h, frames)
    axes = [(t, max(2, n["tile_t"]), n["overlap_t"]), (lh, n["tile_x"], n["overlap"]),
            (lw, n["tile_y"], n["overlap"])]  # fmt: skip
    for axis, (size, length, lap) in enumerate(axes):
        spans = decode_plan.spans(size, length, lap)
        covered = set().union(*(range(start, start + n) for start, n in spans))
        assert covered == set(range(size)), where
        if axis == 0 and len(spans) > 1:  # time is cut: seams of 16 frames or more
            assert lap * decode_plan.TEMPORAL >= decode_plan.TEMPORAL_OVERLAP, where


def test_the_chosen_tiling_is_recorded_for_history():
    m = modes.MODES["t2v"]
    used = graph_used(m, LTX25, m.presets["quality"], (1920, 1088, 241), 48)
    m.parameterize(used)
    assert re.fullmatch(r"\d+x\d+ tiles of \d+ px, 241 frames at once", used.decode)


def test_without_a_figure_the_graph_plans_for_the_default_memory():
    m = modes.MODES["t2v"]
    used = graph_used(m, LTX23, m.presets["quality"], (1920, 1088, 241), None)
    default = decode_plan.plan(LTX23, 1920, 1088, 241, decode_plan.DEFAULT_MEMORY_GB * GB)
    assert _decode_inputs(m.parameterize(used)) == default.inputs


# --------------------------------------------------------------------------- L-comfy: the real one


@pytest.fixture(scope="module")
def comfy_vaes(real_engine, tiny_models):
    """ComfyUI's own VAE objects for the tiny set's LTX-2.3 checkpoint VAE and LTX-2.5 video VAE
    (only their estimates are asked)."""
    import comfy.sd
    import comfy.utils

    def load(path):
        return comfy.utils.load_torch_file(str(tiny_models / path), return_metadata=True)

    ckpt, meta = load("checkpoints/ltx-2.3-22b-dev.safetensors")
    vae23 = {k.removeprefix("vae."): v for k, v in ckpt.items() if k.startswith("vae.")}
    sd25, meta25 = load("vae/ltx-2.5-video-vae-bf16.safetensors")
    return {
        LTX23: comfy.sd.VAE(sd=vae23, metadata=meta),
        LTX25: comfy.sd.VAE(sd=sd25, metadata=meta25),
    }


SHAPES = [(1, 128, 31, 34, 60), (1, 128, 16, 22, 40), (1, 128, 2, 8, 10), (1, 128, 8, 16, 16)]


@pytest.mark.comfy
@pytest.mark.parametrize("family", [LTX23, LTX25])
def test_the_estimate_is_comfyuis_own(family, comfy_vaes):
    import torch

    vae = comfy_vaes[family]
    assert vae.spacial_compression_decode() == decode_plan.SPATIAL
    assert vae.temporal_compression_decode() == decode_plan.TEMPORAL
    for shape in SHAPES:
        assert vae.memory_used_decode(shape, torch.bfloat16) == decode_plan.memory_used_decode(
            family, shape
        )
        for tiles in [(16, 16, 8), (24, 24, 512), (999, 999, 2)]:
            assert vae._tile_bounded_shape(shape, *tiles) == decode_plan.tile_bounded_shape(
                shape, *tiles
            )


class RecordingVAE:
    """Stands in for a video VAE of LTX's compressions; records what the node asks of it."""

    def __init__(self) -> None:
        self.asked: dict = {}

    def temporal_compression_decode(self) -> int:
        return decode_plan.TEMPORAL

    def spacial_compression_decode(self) -> int:
        return decode_plan.SPATIAL

    def decode_tiled(self, latent, **kwargs):
        import torch

        self.asked = kwargs
        return torch.zeros((1, 9, 8, 8, 3))


NODE_INPUTS = [TEMPLATE_25, TEMPLATE_23, BEFORE, dict(tile_size=128, overlap=64,
               temporal_size=8, temporal_overlap=8), dict(tile_size=672, overlap=64,
               temporal_size=4096, temporal_overlap=16), dict(tile_size=256, overlap=64,
               temporal_size=32, temporal_overlap=16)]  # fmt: skip


@pytest.mark.comfy
@pytest.mark.parametrize("inputs", NODE_INPUTS, ids=lambda i: "-".join(map(str, i.values())))
def test_the_node_conversion_is_vaedecodetileds_own(inputs, real_engine):
    import nodes
    import torch

    vae = RecordingVAE()
    nodes.VAEDecodeTiled().decode(vae, {"samples": torch.zeros((1, 128, 4, 4, 4))}, **inputs)
    assert vae.asked == decode_plan.node_tiles(**inputs)


@pytest.mark.comfy
@pytest.mark.parametrize(("shape", "tile", "overlap"), [((31, 34, 60), (8, 16, 16), (2, 2, 2)),
                         ((31, 34, 60), (512, 21, 21), (2, 2, 2)), ((5, 8, 10), (2, 4, 4),
                         (1, 1, 1))])  # fmt: skip
def test_the_tiles_are_those_comfyui_decodes(shape, tile, overlap, real_engine):
    """Each axis's (start, length) as `tiled_scale_multidim` really narrows the latent."""
    import comfy.utils
    import torch

    grids = torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in shape), indexing="ij")
    samples = torch.stack(grids).unsqueeze(0)  # channel d holds each voxel's position on axis d
    seen: list[set] = [set(), set(), set()]

    def record(s):
        for d in range(3):
            along = s[0, d].amin(dim=tuple(i for i in range(3) if i != d))
            seen[d].add((int(along[0]), along.numel()))
        return torch.zeros((1, 3, *s.shape[2:]))

    engines_hook = comfy.utils.PROGRESS_BAR_HOOK  # this call runs outside any prompt
    comfy.utils.set_progress_bar_global_hook(None)
    try:
        comfy.utils.tiled_scale_multidim(
            samples, record, tile=tile, overlap=overlap, upscale_amount=1, out_channels=3
        )
    finally:
        comfy.utils.set_progress_bar_global_hook(engines_hook)
    for d in range(3):
        assert seen[d] == set(decode_plan.spans(shape[d], tile[d], overlap[d]))
    assert math.prod(map(len, seen)) == comfy_fixes.tile_count(samples.shape, tile, overlap)
