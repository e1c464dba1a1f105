"""Bootstrap against real git repositories made in tmp dirs (file:// URLs, fetch by SHA)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import bootstrap
from bootstrap import Pin


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> str:
    """A repo whose HEAD holds `files`; returns its SHA. Any SHA may be fetched, as on GitHub."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        _git(path, "init", "-q")
        _git(path, "config", "user.email", "t@example.invalid")
        _git(path, "config", "user.name", "t")
        _git(path, "config", "uploadpack.allowAnySHA1InWant", "true")
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "c", "--allow-empty")
    return _git(path, "rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def keep_app_state():
    """ensure() also updates the process-wide state the app shows; leave it as it was."""
    saved = bootstrap.state()
    yield
    bootstrap._set(**saved)


class SpyRunner:
    """Runs git for real and remembers every command."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)
        return subprocess.run(cmd, **kwargs)


@pytest.fixture
def upstreams(tmp_path):
    core_repo = tmp_path / "up" / "core"
    pack_repo = tmp_path / "up" / "pack"
    core_sha = make_repo(core_repo, {"main.py": "print('core v1')\n"})
    pack_sha = make_repo(pack_repo, {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n"})
    core = Pin("Core", core_repo.as_uri(), core_sha, "", "")
    pack = Pin("Pack", pack_repo.as_uri(), pack_sha, "custom_nodes/Pack", "custom_nodes.Pack")
    return {"core": core, "pack": pack, "core_repo": core_repo, "pack_repo": pack_repo}


def test_bootstrap_installs_pins_at_their_commits(tmp_path, upstreams):
    root = tmp_path / "comfyui"
    result = bootstrap.ensure(root, [upstreams["core"], upstreams["pack"]])
    assert result["phase"] == "ready", result["problems"]
    assert (root / "main.py").read_text() == "print('core v1')\n"
    assert (root / "custom_nodes" / "Pack" / "__init__.py").exists()
    record = json.loads((root / "custom_nodes" / "Pack" / ".aio-pin.json").read_text())
    assert record == {
        "name": "Pack",
        "url": upstreams["pack"].url,
        "sha": upstreams["pack"].sha,
    }
    assert _git(root, "rev-parse", "HEAD") == upstreams["core"].sha


def test_bootstrap_fetches_a_pinned_commit_that_is_not_the_branch_head(tmp_path, upstreams):
    old_sha = upstreams["core"].sha
    make_repo(upstreams["core_repo"], {"main.py": "print('core v2')\n"})
    pin = Pin("Core", upstreams["core"].url, old_sha, "", "")
    root = tmp_path / "comfyui"
    assert bootstrap.ensure(root, [pin])["phase"] == "ready"
    assert (root / "main.py").read_text() == "print('core v1')\n"


def test_bootstrap_second_start_runs_no_git(tmp_path, upstreams):
    root = tmp_path / "comfyui"
    pins = [upstreams["core"], upstreams["pack"]]
    bootstrap.ensure(root, pins)
    spy = SpyRunner()
    result = bootstrap.ensure(root, pins, runner=spy)
    assert result["phase"] == "ready"
    assert spy.calls == []


def test_bootstrap_changed_pin_replaces_checkout_and_keeps_user_folders(tmp_path, upstreams):
    root = tmp_path / "comfyui"
    pins = [upstreams["core"], upstreams["pack"]]
    bootstrap.ensure(root, pins)
    (root / "output").mkdir()
    (root / "output" / "made.mp4").write_text("video")
    (root / "stale.py").write_text("left from v1")
    new_sha = make_repo(upstreams["core_repo"], {"main.py": "print('core v2')\n"})
    new_core = Pin("Core", upstreams["core"].url, new_sha, "", "")
    result = bootstrap.ensure(root, [new_core, upstreams["pack"]])
    assert result["phase"] == "ready", result["problems"]
    assert (root / "main.py").read_text() == "print('core v2')\n"
    assert not (root / "stale.py").exists()
    assert (root / "output" / "made.mp4").read_text() == "video"
    assert (root / "custom_nodes" / "Pack" / "__init__.py").exists()
    assert json.loads((root / ".aio-pin.json").read_text())["sha"] == new_sha


def _changed_core(upstreams) -> Pin:
    new_sha = make_repo(upstreams["core_repo"], {"main.py": "print('core v2')\n"})
    return Pin("Core", upstreams["core"].url, new_sha, "", "")


def test_a_failed_swap_puts_the_old_checkout_back_with_user_folders(
    tmp_path, upstreams, monkeypatch
):
    root = tmp_path / "comfyui"
    bootstrap.ensure(root, [upstreams["core"]])
    (root / "output").mkdir()
    (root / "output" / "made.mp4").write_text("video")
    real_rename = Path.rename

    def busy(self, target):  # a mount point cannot be renamed into place (EBUSY)
        if Path(target) == root and ".aio-new" in self.name:
            raise OSError(16, "Device or resource busy")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", busy)
    result = bootstrap.ensure(root, [_changed_core(upstreams)])
    assert result["phase"] == "failed"
    assert (root / "output" / "made.mp4").read_text() == "video"
    assert (root / "main.py").read_text() == "print('core v1')\n"


def test_a_swap_cut_short_by_a_crash_is_recovered_before_retrying(tmp_path, upstreams):
    root = tmp_path / "comfyui"
    bootstrap.ensure(root, [upstreams["core"]])
    (root / "output").mkdir()
    (root / "output" / "made.mp4").write_text("video")
    # The state a crash leaves between moving the user folders and renaming the new checkout.
    staging, retired = bootstrap._work_dirs(root)
    staging.mkdir()
    (root / "output").rename(staging / "output")
    root.rename(retired)
    result = bootstrap.ensure(root, [_changed_core(upstreams)])
    assert result["phase"] == "ready", result["problems"]
    assert (root / "output" / "made.mp4").read_text() == "video"
    assert (root / "main.py").read_text() == "print('core v2')\n"
    assert not staging.exists() and not retired.exists()


def test_work_dirs_are_folders_comfyui_skips():
    staging, retired = bootstrap._work_dirs(Path("/x/custom_nodes/Pack"))
    assert staging.name.endswith(".disabled") and retired.name.endswith(".disabled")


def test_bootstrap_unreachable_upstream_reports_problem_without_raising(tmp_path, upstreams):
    gone = Pin("Pack", (tmp_path / "nowhere").as_uri(), "0" * 40, "custom_nodes/Pack", "x")
    root = tmp_path / "comfyui"
    result = bootstrap.ensure(root, [upstreams["core"], gone])
    assert result["phase"] == "failed"
    assert result["installed"] == {"Core": upstreams["core"].sha}
    [problem] = result["problems"]
    assert "Pack" in problem and "could not be installed" in problem and "restart" in problem
    assert "git fetch failed" in problem
    assert not (root / "custom_nodes" / "Pack").exists()
    assert list((root / "custom_nodes").iterdir()) == []


def test_bootstrap_failed_core_stops_before_packs(tmp_path, upstreams):
    gone = Pin("Core", (tmp_path / "nowhere").as_uri(), "1" * 40, "", "")
    spy = SpyRunner()
    result = bootstrap.ensure(tmp_path / "comfyui", [gone, upstreams["pack"]], runner=spy)
    assert result["phase"] == "failed"
    assert len(result["problems"]) == 1
    assert not any(upstreams["pack"].url in cmd for cmd in spy.calls)


def test_bootstrap_missing_git_is_a_problem_not_a_crash(tmp_path, upstreams):
    def no_git(cmd, **kwargs):
        raise FileNotFoundError("git")

    result = bootstrap.ensure(tmp_path / "c", [upstreams["core"]], runner=no_git)
    assert result["phase"] == "failed"
    assert "install git" in result["problems"][0]


def test_needed_pins_follow_the_graphs_node_classes():
    modules = {
        "LTXVBaseSampler": "custom_nodes.ComfyUI-LTXVideo.easy_samplers",
        "DWPreprocessor": "custom_nodes.comfyui_controlnet_aux",
        "SaveVideo": "comfy_extras.nodes_video",
    }
    names = [p.name for p in bootstrap.needed_pins(["LTXVBaseSampler", "SaveVideo"], modules)]
    assert names == ["ComfyUI", "ComfyUI-LTXVideo", "ComfyUI-GGUF"]
    names = [p.name for p in bootstrap.needed_pins(["DWPreprocessor"], modules)]
    assert "comfyui_controlnet_aux" in names and "ComfyUI-LTXVideo" not in names


def test_pins_match_the_design_card():
    shas = {p.name: p.sha for p in bootstrap.PINS}
    assert shas["ComfyUI"] == "bb131be9e83d2f773c90f1d6f1e4b248a498c8c5"
    assert shas["ComfyUI-LTXVideo"] == "aceeae9635f6d493f2893ba3c411a1c36031788a"
    assert all(len(sha) == 40 for sha in shas.values())


def test_comfy_dir_env_override_and_spaces(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "x"))
    assert bootstrap.comfy_dir() == (tmp_path / "x").resolve()
    monkeypatch.delenv("LTX_AIO_COMFYUI_DIR")
    monkeypatch.setenv("SPACE_ID", "me/space")
    assert bootstrap.comfy_dir() == Path.home() / "comfyui"
    monkeypatch.delenv("SPACE_ID")
    assert bootstrap.comfy_dir() == bootstrap.REPO_DIR / "comfyui"


def test_without_a_schema_snapshot_every_pack_is_installed(tmp_path):
    modules = bootstrap.class_modules(tmp_path / "missing.json")
    assert modules == {}
    assert bootstrap.needed_pins(["LTXVBaseSampler"], modules) == list(bootstrap.PINS)
