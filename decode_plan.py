"""How the "Decode video" node (ComfyUI's VAEDecodeTiled) cuts a video so that decoding it fits
the memory a job may use: ComfyUI v0.33.0's own estimate of one tile's peak memory, mirrored here
without torch, and the cheapest tiling whose peak fits a share of that memory."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

LTX25, LTX23 = "ltx-2.5", "ltx-2.3"

# comfy/sd.py (v0.33.0), VAE.__init__, `memory_used_decode` of a latent (B, C, T, H, W):
# ltx-2.3's VAE ("lightricks ltxv" branch) 1200 * T * H * W * (8 * 8 * 8) * dtype_size;
# ltx-2.5's diffusion decoder ("decoder.conv_in_x_t.weight" branch) 1700 * ... the same. That
# decoder also sets `disable_offload = True`: its weights load whole, beside the tile.
BYTES_PER_VOXEL = {LTX23: 1200 * 8 * 8 * 8, LTX25: 1700 * 8 * 8 * 8}
DTYPE_SIZE = 2  # bf16, both decoders' working dtype on a GPU (`working_dtypes` there)
SPATIAL = 32  # pixels per latent pixel (`upscale_ratio` (..., 32, 32))
TEMPORAL = 8  # frames per latent frame: `upscale_ratio[0]` is a * 8 - 7

# The share of the memory a decode may plan for: the rest holds the decoder's weights, ComfyUI's
# reserve and the models it keeps loaded, and absorbs what the estimate misses.
BUDGET_SHARE = 0.5
# The memory assumed where no figure is given (tests, tools): a ZeroGPU `large` slice.
DEFAULT_MEMORY_GB = 48.0

# Seams no worse than the official templates' (LTX-2.5: VAEDecodeTiled 512/64/64/16; LTX-2.3:
# 768/64/4096/4): 64 px blended across each spatial cut, 16 frames across each cut in time.
OVERLAP_PX = 64
TEMPORAL_OVERLAP = 16
# The smallest tile that keeps a 64 px overlap (VAEDecodeTiled quarters the overlap of a tile
# under 4 overlaps); ComfyUI's own fallback decodes in tiles of this size.
MIN_TILE_PX = 4 * OVERLAP_PX
MIN_TEMPORAL = 32  # frames a run: shorter runs spend half of each on the overlap
WHOLE = 4096  # VAEDecodeTiled's largest tile_size / temporal_size: all of it in one


def latent_shape(width: int, height: int, frames: int) -> tuple[int, int, int, int, int]:
    """The latent (B, C, T, H, W) EmptyLTXVLatentVideo makes for a video of this size."""
    return (1, 128, (max(1, frames) - 1) // TEMPORAL + 1, height // SPATIAL, width // SPATIAL)


def memory_used_decode(family: str, shape, dtype_size: int = DTYPE_SIZE) -> int:
    """ComfyUI's estimate of the bytes decoding latent `shape` (B, C, T, H, W) takes."""
    return BYTES_PER_VOXEL[family] * shape[2] * shape[3] * shape[4] * dtype_size


def tile_bounded_shape(shape, tile_x=None, tile_y=None, tile_t=None) -> tuple:
    """comfy/sd.py (v0.33.0) `VAE._tile_bounded_shape` of a 5-D latent: the shape clamped to one
    tile, which `VAE.decode_tiled` estimates the peak of."""
    s = list(shape)
    if tile_t is not None:
        s[2] = min(s[2], tile_t)
    if tile_y is not None:
        s[3] = min(s[3], tile_y)
    if tile_x is not None:
        s[4] = min(s[4], tile_x)
    return tuple(s)


def node_tiles(tile_size: int, overlap: int, temporal_size: int, temporal_overlap: int) -> dict:
    """What nodes.py (v0.33.0) `VAEDecodeTiled.decode` passes to `vae.decode_tiled` for these
    inputs, on a VAE of 32x spatial and 8x temporal compression: latent tiles and overlaps."""
    if tile_size < overlap * 4:
        overlap = tile_size // 4
    if temporal_size < temporal_overlap * 2:
        temporal_overlap = temporal_overlap // 2
    tile_t = max(2, temporal_size // TEMPORAL)
    overlap_t = max(1, min(tile_t // 2, temporal_overlap // TEMPORAL))
    tile = tile_size // SPATIAL
    return {
        "tile_x": tile,
        "tile_y": tile,
        "overlap": overlap // SPATIAL,
        "tile_t": tile_t,
        "overlap_t": overlap_t,
    }


def spans(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, length) of each tile comfy/utils.py (v0.33.0) `tiled_scale_multidim` decodes along
    one latent axis of `size`: one every `tile - overlap`, the last one cut short."""
    if size <= tile:
        return [(0, size)]
    out = []
    for start in range(0, size - overlap, tile - overlap):
        pos = max(0, min(size - overlap, start))
        out.append((pos, min(tile, size - pos)))
    return out


def walk(size: int, tile: int, overlap: int) -> list[int]:
    """The lengths of those tiles."""
    return [length for _, length in spans(size, tile, overlap)]


def _axes(width: int, height: int, frames: int, inputs: dict) -> tuple[list, list, list]:
    """The latent lengths of the tiles along time, height and width for these node inputs (as
    `VAE.decode_tiled` passes them on: overlap_t at least 1, tile_t at least 2)."""
    _, _, t, h, w = latent_shape(width, height, frames)
    n = node_tiles(**inputs)
    return (
        walk(t, max(2, n["tile_t"]), max(1, n["overlap_t"])),
        walk(h, n["tile_x"], n["overlap"]),
        walk(w, n["tile_y"], n["overlap"]),
    )


def peak_bytes(
    family: str, width: int, height: int, frames: int, inputs: dict, dtype_size: int = DTYPE_SIZE
) -> int:
    """ComfyUI's estimated peak of the decode these "Decode video" inputs make: one tile's."""
    n = node_tiles(**inputs)
    shape = tile_bounded_shape(
        latent_shape(width, height, frames), n["tile_x"], n["tile_y"], n["tile_t"]
    )
    return memory_used_decode(family, shape, dtype_size)


def decoded_volume(width: int, height: int, frames: int, inputs: dict) -> int:
    """Pixels x frames decoded, each overlap counted as often as it is decoded: what a decode
    with these "Decode video" inputs costs."""
    times, rows, cols = _axes(width, height, frames, inputs)
    return (
        sum(max(0, TEMPORAL * t - (TEMPORAL - 1)) for t in times)
        * sum(SPATIAL * r for r in rows)
        * sum(SPATIAL * c for c in cols)
    )


@dataclass(frozen=True)
class Plan:
    """The four VAEDecodeTiled inputs of one decode, the tiles they make and what they need."""

    INPUTS = ("tile_size", "overlap", "temporal_size", "temporal_overlap")

    tile_size: int
    overlap: int
    temporal_size: int
    temporal_overlap: int
    tiles: tuple[int, int, int]  # tiles along time, height, width
    peak_bytes: int  # ComfyUI's estimate for one tile
    budget_bytes: int
    frames: int

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.budget_bytes

    @property
    def inputs(self) -> dict:
        return {name: getattr(self, name) for name in self.INPUTS}

    def describe(self) -> str:
        """E.g. "4x2 tiles of 672 px, 241 frames at once" (columns x rows)."""
        runs, rows, cols = self.tiles
        space = "one tile" if rows * cols == 1 else f"{cols}x{rows} tiles of {self.tile_size} px"
        if runs == 1:
            return f"{space}, {self.frames} frames at once"
        return f"{space}, {self.temporal_size} frames at a time ({runs} runs)"

    def note(self) -> str:
        """What a job says when even the smallest tiles need more than the budget."""
        return (
            f"decoding needs about {self.peak_bytes / 1e9:.1f} GB even in the smallest tiles "
            f"({self.describe()}), more than the {self.budget_bytes / 1e9:.1f} GB it may use "
            f"here: it may run out of memory; lower the size or the frames if it does"
        )


def budget_bytes(memory_bytes: float) -> int:
    return int(memory_bytes * BUDGET_SHARE)


# Pure and frozen: every graph built for the same size asks again (History, the estimator and
# /healthz's model list parameterize graphs many times over).
@functools.lru_cache(maxsize=512)
def plan(
    family: str,
    width: int,
    height: int,
    frames: int,
    memory_bytes: float,
    dtype_size: int = DTYPE_SIZE,
) -> Plan:
    """The cheapest tiling whose estimated peak fits the budget of `memory_bytes`: time is cut
    only when no cut in space alone fits (a seam in time shows as a jump), and then the least
    decoded volume, overlaps included, wins. When nothing fits, the smallest tiling (`fits` is
    False): the decode is tried anyway, never refused here. `dtype_size`: the bytes of the
    decoder's working dtype where it runs (4 where ComfyUI decodes in fp32: on a CPU, or a GPU
    without bf16)."""
    budget = budget_bytes(memory_bytes)
    _, _, t, h, w = latent_shape(width, height, frames)
    longer = max(h, w)
    sides = [longer] + list(range(min(MIN_TILE_PX // SPATIAL, longer), longer))
    runs = [t] + list(range(MIN_TEMPORAL // TEMPORAL, t))
    options = []
    for side in sides:
        for run in runs:
            inputs = {
                "tile_size": WHOLE if side >= longer else side * SPATIAL,
                "overlap": OVERLAP_PX,
                "temporal_size": WHOLE if run >= t else run * TEMPORAL,
                "temporal_overlap": TEMPORAL_OVERLAP,
            }
            times, rows, cols = _axes(width, height, frames, inputs)
            found = Plan(
                **inputs,
                tiles=(len(times), len(rows), len(cols)),
                peak_bytes=peak_bytes(family, width, height, frames, inputs, dtype_size),
                budget_bytes=budget,
                frames=frames,
            )
            options.append((found, decoded_volume(width, height, frames, inputs)))
    fitting = [(p, volume) for p, volume in options if p.fits]
    if not fitting:
        return min(options, key=lambda o: (o[0].peak_bytes, o[1]))[0]
    # Between equal costs: fewer tiles, then the smaller peak.
    return min(
        fitting,
        key=lambda o: (o[0].tiles[0] > 1, o[1], math.prod(o[0].tiles), o[0].peak_bytes),
    )[0]
