"""The Spaces preload mirror on real HF cache trees (made by the real client from a fake Hub)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hfcache
from testkit.models_fakehub import FakeHub

ROOT = Path(__file__).resolve().parent.parent
REPO = "org/weights"
FILES = {"model.safetensors": b"m" * 4096, "split_files/te/enc.safetensors": b"e" * 2048}


@pytest.fixture
def preload(tmp_path):
    """A hub cache laid out by huggingface_hub itself, like preload_from_hub leaves it."""
    from huggingface_hub import hf_hub_download

    hub = FakeHub().start()
    try:
        for path, data in FILES.items():
            hub.add(REPO, path, data)
            hf_hub_download(REPO, path, cache_dir=tmp_path / "ro", endpoint=hub.url, token=False)
    finally:
        hub.stop()
    return tmp_path / "ro"


def _entries(root: Path, kind) -> dict[Path, Path]:
    return {p.relative_to(root): p for p in root.rglob("*") if kind(p)}


def test_blobs_are_hard_linked_to_the_same_inode(preload, tmp_path):
    hfcache.mirror_preload_cache(preload, tmp_path / "rw")
    blobs = _entries(preload, lambda p: "blobs" in p.parts and p.is_file() and not p.is_symlink())
    assert len(blobs) == len(FILES)
    for rel, src in blobs.items():
        dst = tmp_path / "rw" / rel
        assert not dst.is_symlink() and os.stat(dst).st_ino == os.stat(src).st_ino


def test_snapshot_symlinks_keep_their_relative_targets_and_resolve_inside_the_mirror(
    preload, tmp_path
):
    hfcache.mirror_preload_cache(preload, tmp_path / "rw")
    links = _entries(preload, Path.is_symlink)
    assert len(links) == len(FILES)
    for rel, src in links.items():
        dst = tmp_path / "rw" / rel
        assert dst.is_symlink() and os.readlink(dst) == os.readlink(src)
        assert (tmp_path / "rw") in dst.resolve().parents
        assert dst.read_bytes() == src.read_bytes()


def test_refs_are_copied_as_regular_files(preload, tmp_path):
    hfcache.mirror_preload_cache(preload, tmp_path / "rw")
    refs = _entries(preload, lambda p: "refs" in p.parts and p.is_file())
    assert [r.name for r in refs] == ["main"]
    for rel, src in refs.items():
        dst = tmp_path / "rw" / rel
        assert dst.read_text() == src.read_text()
        assert not dst.is_symlink() and os.stat(dst).st_ino != os.stat(src).st_ino


def test_cross_device_blobs_fall_back_to_symlinks(preload, tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(hfcache.os, "link", no_link)
    counts = hfcache.mirror_preload_cache(preload, tmp_path / "rw")
    assert "linked" not in counts
    blobs = _entries(preload, lambda p: "blobs" in p.parts and p.is_file() and not p.is_symlink())
    for rel, src in blobs.items():
        dst = tmp_path / "rw" / rel
        assert dst.is_symlink() and dst.resolve() == src.resolve()


def test_mirror_is_idempotent_and_keeps_runtime_files(preload, tmp_path):
    rw = tmp_path / "rw"
    hfcache.mirror_preload_cache(preload, rw)
    ref = next(rw.rglob("refs/main"))
    ref.write_text("f" * 40)  # the library updated it at runtime
    counts = hfcache.mirror_preload_cache(preload, rw)
    assert set(counts) == {"kept"} and ref.read_text() == "f" * 40


def test_mirror_lets_the_client_read_preloaded_and_write_new_files(preload, tmp_path):
    from huggingface_hub import hf_hub_download

    rw = tmp_path / "rw"
    hfcache.mirror_preload_cache(preload, rw)
    before = sorted(p.relative_to(preload) for p in preload.rglob("*"))
    hub = FakeHub().start()
    try:
        for path, data in FILES.items():
            hub.add(REPO, path, data)
        hub.add(REPO, "new.bin", b"n" * 1000)
        got = hf_hub_download(REPO, "model.safetensors", cache_dir=rw, endpoint=hub.url)
        assert Path(got).read_bytes() == FILES["model.safetensors"] and hub.gets() == []
        new = hf_hub_download(REPO, "new.bin", cache_dir=rw, endpoint=hub.url, token=False)
    finally:
        hub.stop()
    assert rw in Path(new).parents and Path(new).read_bytes() == b"n" * 1000
    assert sorted(p.relative_to(preload) for p in preload.rglob("*")) == before


def test_activate_mirror_does_nothing_off_spaces(tmp_path, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert hfcache.activate_mirror(tmp_path / "ro", tmp_path / "home") is None
    assert not (tmp_path / "home").exists()


def test_activate_mirror_points_huggingface_hub_at_the_mirror_when_run_first(preload, tmp_path):
    code = (
        "import hfcache, sys\n"
        f"hub = hfcache.activate_mirror({str(preload)!r}, {str(tmp_path / 'home')!r})\n"
        "assert 'huggingface_hub' not in sys.modules\n"
        "import huggingface_hub.constants as c\n"
        "print(hub, c.HF_HUB_CACHE, c.HF_HOME, sep='|')\n"
    )
    env = {**os.environ, "SPACE_ID": "user/space"}
    env.pop("HF_HUB_CACHE", None)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    hub, cache, home = out.split("|")
    assert hub == cache == str(tmp_path / "home" / "hub") and home == str(tmp_path / "home")
    assert next(Path(cache).rglob("refs/main")).is_file()


def test_importing_models_does_not_import_huggingface_hub():
    code = "import sys, models, model_manifest, hfcache; print('huggingface_hub' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
