"""Every stage that takes time shows progress: steps where a node counts them (sampling, tiled
decoding), seconds at work where it counts nothing (encoding the mp4, a one-tile decode).

L1: the progress lines from ComfyUI's events, on a clock the test moves; a planned decode's step
count is its plan's tiles. L-comfy: the tile count the engine gives a tiled decode is the number of
tiles ComfyUI really decodes.
"""

from __future__ import annotations

import math
import threading

import pytest

import comfy_fixes
import decode_plan
from comfy_events import ProgressLines, Ticker

PROMPT = {
    "5": {
        "class_type": "SamplerCustomAdvanced",
        "_meta": {"title": "Sample 1"},
        "inputs": {"sigmas": ["13", 0]},
    },
    "9": {"class_type": "SaveVideo", "_meta": {"title": "Save video"}},
    "13": {"class_type": "ManualSigmas", "inputs": {"sigmas": "1, .9, .8, .7, .6, .5, .4, .2, 0"}},
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines():
    said: list = []
    clock = Clock()
    return ProgressLines(PROMPT, lambda f, d: said.append((f, d)), clock=clock), said, clock


def test_steps_are_shown_with_the_stage_and_comfyuis_zero_of_one_is_not():
    lines, said, clock = _lines()
    lines.feed("executing", {"node": "5"})
    lines.feed("progress_state", {"nodes": {"5": {"state": "running", "value": 0, "max": 1}}})
    clock.now += 2
    lines.feed("progress_state", {"nodes": {"5": {"state": "running", "value": 2, "max": 8}}})
    assert len(said) == 2 and said[0][1].startswith("Sampling pass 1 · 0%")
    # 2 s for 2 steps: 6 s to go for the sampler, and the file's estimate scaled alike
    assert said[1][1].startswith("Sampling pass 1 · step 2/8 · ")
    assert said[1][1].endswith("s left")


def test_a_node_that_counts_nothing_still_moves_on_each_tick():
    lines, said, clock = _lines()
    lines.feed("executing", {"node": "9"})
    lines.tick()  # nothing has moved yet: nothing new
    clock.now += 1.2
    lines.tick()
    assert [d.split(" · ")[0] for _, d in said] == ["Encoding the file"] * 2
    assert said[1][0] > said[0][0]


def test_a_preview_is_shown_at_most_once_a_second_per_node():
    previews: list = []

    class Shows:
        def __call__(self, fraction, desc):
            pass

        def show_preview(self, jpeg):
            previews.append(jpeg)

    clock = Clock()
    lines = ProgressLines(PROMPT, Shows(), clock=clock)
    image = _png()
    lines.feed("executing", {"node": "5"})
    lines.preview(image)
    lines.preview(image)  # too soon: dropped
    clock.now += 1.5
    lines.feed("preview", {"image": image})  # a worker's, through the same door
    assert len(previews) == 2
    assert all(p[:2] == b"\xff\xd8" for p in previews)  # small JPEGs


def _png() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (640, 352), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def test_the_ticker_ticks_until_its_block_ends():
    ticked = threading.Event()

    class Lines:
        count = 0

        def tick(self):
            self.count += 1
            if self.count >= 3:
                ticked.set()

    lines = Lines()
    with Ticker(lambda: lines, every=0.01) as ticker:
        assert ticked.wait(30)
    assert not ticker.running  # stopped and joined: no tick after the block


@pytest.mark.parametrize(
    ("shape", "tile", "overlap", "tiles"),
    [
        ((1, 128, 4, 14, 24), (999, 32, 32), (1, 8, 8), 1),  # fits one tile
        ((1, 128, 6, 44, 80), (999, 16, 16), (1, 4, 4), 4 * 7),
        ((2, 4, 40, 70), (16, 16), 4, 2 * 3 * 6),
    ],
)
def test_tile_count_follows_comfyuis_own_walk(shape, tile, overlap, tiles):
    assert comfy_fixes.tile_count(shape, tile, overlap) == tiles


@pytest.mark.parametrize("memory_gb", [16, 48])
def test_a_planned_decode_counts_the_tiles_its_plan_makes(memory_gb):
    """The steps a decode shows are the tiles decode_plan cut it into."""
    plan = decode_plan.plan(decode_plan.LTX25, 1920, 1088, 241, memory_gb * 1e9)
    n = decode_plan.node_tiles(**plan.inputs)
    shape = decode_plan.latent_shape(1920, 1088, 241)
    tile, overlap = (
        (n["tile_t"], n["tile_x"], n["tile_y"]),
        (n["overlap_t"], n["overlap"], n["overlap"]),
    )
    assert comfy_fixes.tile_count(shape, tile, overlap) == math.prod(plan.tiles) > 1


@pytest.mark.comfy
def test_a_tiled_decode_reports_each_tile_as_a_step(real_engine):
    import comfy.utils
    import torch

    calls, steps = [], []
    engines_hook = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, *a, **k: steps.append(total))
    try:
        samples = torch.zeros((1, 3, 6, 44, 80))
        comfy.utils.tiled_scale_multidim(
            samples,
            lambda s: calls.append(s.shape) or s,
            tile=(999, 16, 16),
            overlap=(1, 4, 4),
            upscale_amount=1,
            out_channels=3,
        )
    finally:
        comfy.utils.set_progress_bar_global_hook(engines_hook)
    assert len(calls) == comfy_fixes.tile_count(samples.shape, (999, 16, 16), (1, 4, 4))
    assert steps and set(steps) == {len(calls)}
