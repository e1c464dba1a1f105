"""The README stays true: its Spaces header and its test command match what the code does."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "tools"))
import preload_list  # noqa: E402


def _front_matter() -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", README, re.S)
    assert match, "README must start with the Spaces YAML header"
    return yaml.safe_load(match.group(1))


def test_readme_header_is_a_gradio_6_space_on_python_312():
    header = _front_matter()
    assert header["sdk"] == "gradio"
    assert str(header["sdk_version"]).startswith("6.")
    assert str(header["python_version"]) == "3.12"
    assert header["app_file"] == "app.py"


def test_readme_preload_list_is_the_one_the_manifest_gives():
    entries, _, _ = preload_list.plan("fp8")
    assert _front_matter()["preload_from_hub"] == entries
    assert len(entries) <= 10


def test_ci_runs_exactly_the_readme_test_command():
    blocks = re.findall(r"## Run the tests\n+```bash\n(.*?)\n```", README, re.S)
    assert len(blocks) == 1
    command = blocks[0].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in [line.strip() for line in ci]


def test_every_setting_the_app_reads_is_in_the_readme():
    read = {
        name
        for path in ROOT.glob("*.py")
        for name in re.findall(r"\"(LTX_AIO_[A-Z_]+)\"", path.read_text())
    }
    assert read >= {"LTX_AIO_COMFYUI_DIR", "LTX_AIO_DATA_DIR", "LTX_AIO_MODEL_VARIANT"}
    table = README.split("### Settings", 1)[1].split("\n#", 1)[0]
    assert {name for name in read if f"`{name}`" not in table} == set()
