"""tools/preload_list.py: the README preload_from_hub block comes from the graphs + manifest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

import model_manifest
import models
import modes
from tools import preload_list

ROOT = Path(__file__).resolve().parent.parent


def _block(variant="fp8", limit=preload_list.LIMIT) -> list[str]:
    return yaml.safe_load(preload_list.render(variant, limit))["preload_from_hub"]


def _needed(variant="fp8") -> dict[tuple[str, str], model_manifest.ModelFile]:
    return {
        (n.file.repo, n.file.path): n.file
        for mode in modes.MODES
        for n in models.needs_for_mode(mode, None, variant)
    }


def test_block_is_valid_yaml_within_the_entry_limit():
    entries = _block()
    assert 0 < len(entries) <= 10 and all(isinstance(e, str) for e in entries)


def test_block_lists_each_needed_ungated_file_once_under_its_repo():
    listed = [(e.split(" ")[0], path) for e in _block() for path in e.split(" ")[1].split(",")]
    expected = [key for key, f in _needed().items() if f.gated is False]
    assert sorted(listed) == sorted(expected)


def test_gated_or_unconfirmed_files_are_left_to_runtime_and_said_so():
    text = preload_list.render()
    for (repo, path), f in _needed().items():
        if f.gated is not False:
            assert repo not in yaml.safe_load(text)["preload_from_hub"]
            assert f"# not preloaded: {repo} {path}" in text


def test_spaces_block_preloads_fp8_weights_not_bf16():
    paths = " ".join(_block("fp8"))
    assert "ltx-2.3-22b-dev-fp8.safetensors" in paths and "22b-dev.safetensors" not in paths


def test_repos_past_the_limit_are_reported_not_dropped_silently():
    entries = _block(limit=2)
    text = preload_list.render(limit=2)
    assert len(entries) == 2 and "past the 2-entry limit" in text


def test_command_line_prints_the_block():
    out = subprocess.run(
        [sys.executable, "tools/preload_list.py"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0 and "preload_from_hub:" in out.stdout
