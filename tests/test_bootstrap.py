"""Bootstrap against real git repositories made in tmp dirs (file:// URLs, fetch by SHA)."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest

import bootstrap
import pins
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
    # Where GitHub cannot be reached, the way around it is named.
    assert "--archives DIR" in problem and "LTX_AIO_PIN_ARCHIVES=DIR" in problem
    assert gone.archive_name in problem
    assert not (root / "custom_nodes" / "Pack").exists()
    assert list((root / "custom_nodes").iterdir()) == []


def test_bootstrap_failed_core_stops_before_packs(tmp_path, upstreams):
    gone = Pin("Core", (tmp_path / "nowhere").as_uri(), "1" * 40, "", "")
    spy = SpyRunner()
    result = bootstrap.ensure(tmp_path / "comfyui", [gone, upstreams["pack"]], runner=spy)
    assert result["phase"] == "failed"
    assert len(result["problems"]) == 1
    assert not any(upstreams["pack"].url in cmd for cmd in spy.calls)


def test_a_failed_install_is_said_on_the_console_once(tmp_path, caplog, monkeypatch):
    import readiness

    gone = Pin("Core", (tmp_path / "nowhere").as_uri(), "1" * 40, "", "")
    monkeypatch.setattr(bootstrap, "_state", dict(bootstrap._state))  # this test's install only
    with caplog.at_level(logging.INFO):
        result = bootstrap.ensure(tmp_path / "comfyui", [gone], runner=SpyRunner())
        # What the app logs when the install is done (app.main's on_done), with the rest.
        readiness.log_lines()
    [problem] = result["problems"]
    assert caplog.text.count(problem.split(". ")[0]) == 1, caplog.text


def test_bootstrap_missing_git_is_a_problem_not_a_crash(tmp_path, upstreams):
    def no_git(cmd, **kwargs):
        raise FileNotFoundError("git")

    result = bootstrap.ensure(tmp_path / "c", [upstreams["core"]], runner=no_git)
    assert result["phase"] == "failed"
    assert "install git" in result["problems"][0]


def test_needed_pins_follow_the_graphs_node_classes():
    modules = {
        "DWPreprocessor": "custom_nodes.comfyui_controlnet_aux",
        "SaveVideo": "comfy_extras.nodes_video",
    }
    names = [p.name for p in pins.needed_pins(["SaveVideo"], modules)]
    assert names == ["ComfyUI", "ComfyUI-GGUF"]
    names = [p.name for p in pins.needed_pins(["DWPreprocessor"], modules)]
    assert names == ["ComfyUI", "comfyui_controlnet_aux", "ComfyUI-GGUF"]


def test_pins_are_comfyui_v0_33_and_only_the_packs_a_graph_needs():
    shas = {p.name: p.sha for p in pins.PINS}
    assert shas["ComfyUI"] == "2f35f4a08176d993cded35dac3332be4f7287f41"  # v0.33.0
    assert set(shas) == {"ComfyUI", "comfyui_controlnet_aux", "ComfyUI-GGUF"}
    assert all(len(sha) == 40 for sha in shas.values())


def test_a_pack_no_pin_names_any_more_is_set_aside_and_the_users_own_stay(tmp_path, archives):
    root = tmp_path / "comfyui"
    old = Pin("Old", "https://github.com/example/Old", "c" * 40, "custom_nodes/Old", "x")
    make_archive(archives, old, {"__init__.py": "raise ImportError('old')\n"})
    write_sums(archives)
    assert bootstrap.ensure(root, [FAKE_CORE, old], archives=archives)["phase"] == "ready"
    (root / "custom_nodes" / "Mine").mkdir()  # the user's own pack, not ours
    result = bootstrap.ensure(root, [FAKE_CORE], archives=archives)
    assert result["phase"] == "ready", result["problems"]
    assert not (root / "custom_nodes" / "Old").exists()
    assert (root / "custom_nodes" / "Old.aio-retired.disabled" / "__init__.py").exists()
    assert (root / "custom_nodes" / "Mine").is_dir()


def test_comfy_dir_env_override_and_spaces(tmp_path, monkeypatch):
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "x"))
    assert pins.comfy_dir() == (tmp_path / "x").resolve()
    monkeypatch.delenv("LTX_AIO_COMFYUI_DIR")
    monkeypatch.setenv("SPACE_ID", "me/space")
    assert pins.comfy_dir() == Path.home() / "comfyui"
    monkeypatch.delenv("SPACE_ID")
    assert pins.comfy_dir() == pins.REPO_DIR / "comfyui"


def test_without_a_schema_snapshot_every_pack_is_installed(tmp_path):
    modules = pins.class_modules(tmp_path / "missing.json")
    assert modules == {}
    assert pins.needed_pins(["LTXVBaseSampler"], modules) == list(pins.PINS)


# -- installing from GitHub source archives (DESIGN §8)


def make_archive(folder: Path, pin: Pin, files: dict[str, str], top: str | None = None) -> Path:
    """A .tar.gz laid out as GitHub serves /archive/<sha>.tar.gz: one folder <repo>-<sha>/."""
    import io
    import tarfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / pin.archive_name
    top = top or pin.archive_name.removesuffix(".tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for name, text in {"": None, **files}.items():
            info = tarfile.TarInfo(f"{top}/{name}".rstrip("/"))
            if text is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            data = text.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_sums(folder: Path) -> None:
    import hashlib

    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}"
        for p in sorted(folder.glob("*.tar.gz"))
    ]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def no_git(cmd, **kwargs):
    raise FileNotFoundError("git")


FAKE_CORE = Pin("ComfyUI", "https://github.com/example/ComfyUI", "a" * 40, "", "")
FAKE_PACK = Pin("Pack", "https://github.com/example/Pack", "b" * 40, "custom_nodes/Pack", "x")


@pytest.fixture
def archives(tmp_path):
    folder = tmp_path / "pins"
    make_archive(folder, FAKE_CORE, {"main.py": "print('core')\n", "comfy/__init__.py": ""})
    make_archive(folder, FAKE_PACK, {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n"})
    write_sums(folder)
    return folder


def test_pins_install_from_an_archive_folder_without_git_or_network(tmp_path, archives):
    root = tmp_path / "comfyui"

    def refuse_network(*args, **kwargs):
        raise AssertionError("no network with an archive folder")

    result = bootstrap.ensure(
        root, [FAKE_CORE, FAKE_PACK], runner=no_git, archives=archives, opener=refuse_network
    )
    assert result["phase"] == "ready", result["problems"]
    assert (root / "main.py").read_text() == "print('core')\n"
    assert (root / "custom_nodes" / "Pack" / "__init__.py").exists()
    record = json.loads((root / ".aio-pin.json").read_text())
    assert (record["sha"], record["source"]) == (FAKE_CORE.sha, "archive")
    assert pins.is_installed(FAKE_CORE, root)
    assert not list(root.parent.glob("*.aio-*"))  # no work dir left behind


def test_the_archive_folder_comes_from_the_environment_and_the_cli(tmp_path, archives, monkeypatch):
    monkeypatch.setenv("LTX_AIO_PIN_ARCHIVES", str(archives))
    assert bootstrap.archives_dir() == archives.resolve()
    monkeypatch.delenv("LTX_AIO_PIN_ARCHIVES")
    monkeypatch.setenv("LTX_AIO_COMFYUI_DIR", str(tmp_path / "cli"))
    monkeypatch.setattr(bootstrap, "needed_pins", lambda: [FAKE_CORE])
    assert bootstrap.main(["--archives", str(archives)]) == 0
    assert (tmp_path / "cli" / "main.py").is_file()


def test_an_archive_that_does_not_match_its_checksum_is_refused(tmp_path, archives):
    archive = archives / FAKE_CORE.archive_name
    make_archive(archives, FAKE_CORE, {"main.py": "print('tampered')\n"})  # sums not rewritten
    result = bootstrap.ensure(tmp_path / "comfyui", [FAKE_CORE], runner=no_git, archives=archives)
    assert result["phase"] == "failed"
    [problem] = result["problems"]
    assert archive.name in problem and "SHA256SUMS" in problem and "download it again" in problem
    assert not (tmp_path / "comfyui").exists()


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-40]), "not a readable .tar.gz"),
        (lambda p: p.write_bytes(b"<html>rate limited</html>"), "not a readable .tar.gz"),
    ],
    ids=["truncated", "not-gzip"],
)
def test_a_corrupt_archive_is_refused_and_the_installed_pin_is_kept(
    tmp_path, archives, damage, said
):
    root = tmp_path / "comfyui"
    assert bootstrap.ensure(root, [FAKE_CORE], archives=archives)["phase"] == "ready"
    (root / "output").mkdir()
    (root / "output" / "made.mp4").write_text("video")
    newer = Pin("ComfyUI", FAKE_CORE.url, "c" * 40, "", "")
    damage(make_archive(archives, newer, {"main.py": "print('newer')\n"}))
    result = bootstrap.ensure(root, [newer], runner=no_git, archives=archives)
    assert result["phase"] == "failed"
    assert said in result["problems"][0] and newer.archive_url in result["problems"][0]
    assert (root / "main.py").read_text() == "print('core')\n"
    assert (root / "output" / "made.mp4").read_text() == "video"
    assert pins.is_installed(FAKE_CORE, root)


def test_an_archive_of_another_commit_is_refused(tmp_path, archives):
    make_archive(archives, FAKE_CORE, {"main.py": "x"}, top="ComfyUI-" + "d" * 40)
    write_sums(archives)  # a consistent folder: only the commit inside is wrong
    result = bootstrap.ensure(tmp_path / "c", [FAKE_CORE], archives=archives)
    assert result["phase"] == "failed"
    assert "another commit" in result["problems"][0]


def test_an_archive_with_an_entry_outside_its_folder_is_refused(tmp_path, archives):
    import io
    import tarfile

    path = archives / FAKE_PACK.archive_name
    top = path.name.removesuffix(".tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for name in (top, f"{top}/../../escaped.py"):
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    write_sums(archives)
    result = bootstrap.ensure(tmp_path / "c", [FAKE_PACK], archives=archives)
    assert result["phase"] == "failed" and "unsafe entry" in result["problems"][0]
    assert not (tmp_path / "escaped.py").exists()


def test_a_missing_archive_says_where_to_get_it(tmp_path):
    result = bootstrap.ensure(tmp_path / "c", [FAKE_CORE], archives=tmp_path / "empty")
    [problem] = result["problems"]
    assert FAKE_CORE.archive_name in problem and FAKE_CORE.archive_url in problem


@pytest.fixture
def archive_server(tmp_path):
    """A loopback HTTP server laid out like github.com/<owner>/<repo>/archive/<sha>.tar.gz."""
    import functools
    import http.server
    import threading

    site = tmp_path / "site"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_without_git_the_pin_comes_from_githubs_archive_url(tmp_path, archive_server):
    site, base = archive_server
    pin = Pin("Pack", f"{base}/example/Pack", "e" * 40, "custom_nodes/Pack", "x")
    built = make_archive(tmp_path / "build", pin, {"__init__.py": "NODE_CLASS_MAPPINGS = {}\n"})
    served = site / "example" / "Pack" / "archive" / f"{pin.sha}.tar.gz"
    served.parent.mkdir(parents=True)
    built.rename(served)
    root = tmp_path / "comfyui"
    result = bootstrap.ensure(root, [pin], runner=no_git, archives=None)
    assert result["phase"] == "ready", result["problems"]
    assert (root / "custom_nodes" / "Pack" / "__init__.py").exists()
    assert (
        json.loads((root / "custom_nodes" / "Pack" / ".aio-pin.json").read_text())["sha"] == pin.sha
    )
    assert not list((root / "custom_nodes").glob("*.part")) and not list(
        (root / "custom_nodes").glob("*.tar.gz")
    )


def test_when_git_and_the_archive_download_both_fail_both_are_named(tmp_path, archive_server):
    _, base = archive_server
    pin = Pin("Pack", f"{base}/example/Gone", "f" * 40, "custom_nodes/Pack", "x")
    result = bootstrap.ensure(tmp_path / "comfyui", [pin], runner=no_git, archives=None)
    [problem] = result["problems"]
    assert "git is not installed" in problem and pin.archive_url in problem
    assert "--archives" in problem
    assert not (tmp_path / "comfyui" / "custom_nodes" / "Pack").exists()


def test_shared_pin_archives_match_the_pins_when_present():
    """The archives CI installs from (../shared/pins) are exactly our pins."""
    folder = pins.REPO_DIR.parent / "shared" / "pins"
    if not folder.is_dir():
        pytest.skip("no ../shared/pins beside the checkout (CI and developer machines have it)")
    sums = bootstrap._listed_sums(folder)
    for pin in pins.needed_pins():
        assert pin.archive_name in sums, f"{pin.archive_name} missing from {folder}"
