"""L3: the modes as MCP tools, driven by the real `mcp` client package.

Against the real app on 127.0.0.1, with only the GPU task, the weight download and the engine
check replaced by doubles (app_helpers). Every tool runs with its files passed both ways Gradio
documents for MCP: a base64 data URL, and the URL of a file POSTed to `/gradio_api/upload` (what
`gradio upload-mcp` returns for this app).
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import re
import uuid
from pathlib import Path

import av
import httpx
import pytest

import api_docs
import modes
import owners
import uploads_ui
from testkit import mediagen
from testkit.app_helpers import media_inputs, required_values, running_app

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mcp") is None,
    reason="the gradio[mcp] extra is not installed here (pip install 'gradio[mcp]' to run it)",
)

PROMPT = "a lighthouse on a cliff at dusk, waves crashing, gulls calling"
MIME = {".png": "image/png", ".wav": "audio/wav", ".mp4": "video/mp4"}
MEDIA_MODES = [m for m, mode in modes.MODES.items() if any(f.kind in modes.MEDIA_KINDS for f in
               mode.fields)]  # fmt: skip
WAYS = ("data URL", "uploaded file URL")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A deployment others can reach (the strict case): each sender uses only its own uploads.
    A local single-user install is the one test that says otherwise."""
    with running_app(tmp_path_factory.mktemp("mcp-app"), {owners.SHARED_ENV: "1"}) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh_engine(served):
    served.engine.reset()
    yield


@pytest.fixture
def fetches(monkeypatch) -> list[str]:
    """Every URL the server set out to download (none should be)."""
    import gradio.processing_utils

    seen: list[str] = []

    async def refuse(url: str, cache_dir: str) -> str:
        seen.append(url)
        raise AssertionError(f"the server fetched {url}")

    monkeypatch.setattr(gradio.processing_utils, "async_ssrf_protected_download", refuse)
    return seen


# -- an MCP client, as an agent runs one --------------------------------------------------------


async def _session(url: str, headers: dict | None, transport: str, work):
    from contextlib import AsyncExitStack

    from mcp import ClientSession

    async with AsyncExitStack() as stack:
        if transport == "sse":
            from mcp.client.sse import sse_client

            opened = sse_client(f"{url}gradio_api/mcp/sse", headers=headers)
        else:
            opened = _streamable_http(f"{url}gradio_api/mcp/", headers, stack)
        streams = await stack.enter_async_context(opened)
        session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
        await session.initialize()
        return await work(session)


def _streamable_http(url: str, headers: dict | None, stack):
    from mcp.client import streamable_http

    if not hasattr(streamable_http, "streamable_http_client"):  # an older mcp
        return streamable_http.streamablehttp_client(url, headers=headers)
    from mcp.shared._httpx_utils import create_mcp_http_client

    client = create_mcp_http_client(headers=headers)
    stack.push_async_callback(client.aclose)
    return streamable_http.streamable_http_client(url, http_client=client)


def tools(url: str) -> dict:
    async def listed(session):
        return {tool.name: tool for tool in (await session.list_tools()).tools}

    return asyncio.run(_session(url, None, "http", listed))


def call_tool(url: str, name: str, arguments: dict, *, progress: bool = False,
              headers: dict | None = None, transport: str = "http",
              said: list | None = None):  # fmt: skip
    """The tool's CallToolResult; `progress`: asked with a progress token, as some agents do
    (`said` collects the notifications' messages)."""
    said = [] if said is None else said

    async def on_progress(done, total, message):
        said.append(message or "")

    async def called(session):
        return await session.call_tool(
            name, arguments, progress_callback=on_progress if progress else None
        )

    return asyncio.run(_session(url, headers, transport, called))


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if c.type == "text")


def data_url(path: Path) -> str:
    return f"data:{MIME[path.suffix]};base64," + base64.b64encode(path.read_bytes()).decode()


def uploaded_url(url: str, path: Path, headers: dict | None = None, host: str | None = None):
    """The URL `gradio upload-mcp` returns for `path` uploaded to this app (through `host`)."""
    from gradio_client.utils import encode_file_path

    answer = httpx.post(
        f"{url}gradio_api/upload",
        files={"files": (path.name, path.read_bytes())},
        headers=headers,
        timeout=30,
    )
    answer.raise_for_status()
    base = url.rstrip("/") if host is None else url.rstrip("/").replace("127.0.0.1", host)
    return f"{base}/gradio_api/file={encode_file_path(answer.json()[0])}"


def arguments(url: str, mode: str, folder: Path, way: str) -> tuple[dict, dict[str, Path]]:
    files = media_inputs(mode, folder)
    passed = {
        name: data_url(path) if way == "data URL" else uploaded_url(url, path)
        for name, path in files.items()
    }
    return {**passed, "prompt": PROMPT, "preset": "fast", **required_values(mode)}, files


# -- what the tools say ------------------------------------------------------------------------


def test_mcp_offers_exactly_the_modes_as_tools(served):
    listed = tools(served.url)
    assert set(listed) == set(modes.MODES)
    assert {"image", "prompt"} <= set(listed["i2v"].inputSchema["required"])


def test_mcp_parameter_descriptions_are_the_api_descriptions(served):
    for name, tool in tools(served.url).items():
        props = tool.inputSchema["properties"]
        for f in modes.MODES[name].fields:
            assert props[f.name]["description"] == api_docs.describe(f), (name, f.name)


def test_mcp_tool_description_says_how_to_pass_a_file(served):
    for name, tool in tools(served.url).items():
        said = tool.description
        assert (api_docs.MCP_FILES in said) is (name in MEDIA_MODES), name
        if name in MEDIA_MODES:
            assert "data:" in said and "/gradio_api/upload" in said, name
            assert "/gradio_api/file=" in said and "gradio upload-mcp" in said, name


def test_mcp_descriptions_name_no_tool_the_server_lacks(served):
    listed = tools(served.url)
    for tool in listed.values():
        text = json.dumps([tool.description, tool.inputSchema])
        assert "upload_file_to_gradio" not in text and "tool, if present" not in text


def test_mcp_tools_declare_the_structure_of_their_result(served):
    for tool in tools(served.url).values():
        assert tool.outputSchema == api_docs.result_schema()


# -- every tool, both ways of passing a file ----------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("mode", MEDIA_MODES)
def test_mcp_tool_runs_on_exactly_the_files_passed(served, tmp_path, mode, way):
    given, files = arguments(served.url, mode, tmp_path, way)
    before = len(served.engine.calls)

    result = call_tool(served.url, mode, given)

    assert not result.isError, text_of(result)
    assert len(served.engine.calls) == before + 1
    job = served.store().get(result.structuredContent["parameters"]["job_id"])
    assert {name: job.inputs[name].read_bytes() for name in files} == {
        name: path.read_bytes() for name, path in files.items()
    }


def test_mcp_text_to_video_runs_without_files(served):
    result = call_tool(served.url, "t2v", {"prompt": PROMPT, "preset": "fast"})
    assert not result.isError, text_of(result)
    assert result.structuredContent["parameters"]["mode"] == "t2v"


@pytest.mark.parametrize("progress", [False, True], ids=["plain", "with progress"])
def test_mcp_result_is_the_video_url_and_parameters_used(served, progress):
    result = call_tool(
        served.url, "t2v", {"prompt": PROMPT, "preset": "fast", "frames": 100}, progress=progress
    )

    assert not result.isError, text_of(result)
    got = result.structuredContent
    assert set(got) == {"video", "parameters"}
    assert got["parameters"]["frames"] == served.engine.calls[-1]["frames"] == 97
    assert json.loads(text_of(result)) == got  # the text is the same JSON, not a Python repr


def test_mcp_progress_notifications_say_the_stage_percentage_and_time_left(served):
    served.engine.live, served.engine.step_delay = True, 0.3
    said: list[str] = []
    result = call_tool(
        served.url, "t2v", {"prompt": PROMPT, "preset": "fast"}, progress=True, said=said
    )
    assert not result.isError, text_of(result)
    timed = r"Sampling pass 1 · step \d/4 · \d+% · (about \d+ s left|almost done): Step \d+ of 100"
    assert any(re.search(timed, message) for message in said), said


def test_mcp_result_video_url_serves_the_playable_mp4(served, tmp_path):
    result = call_tool(served.url, "t2v", {"prompt": PROMPT, "preset": "fast"})
    video = result.structuredContent["video"]
    assert video.startswith(served.url)

    answer = httpx.get(video, timeout=30)

    assert answer.status_code == 200
    (tmp_path / "got.mp4").write_bytes(answer.content)
    with av.open(str(tmp_path / "got.mp4")) as container:
        assert container.streams.video and container.streams.audio


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_mcp_uploaded_file_url_is_read_from_disk_not_fetched(served, tmp_path, fetches, host):
    image = mediagen.make_png(tmp_path / "first.png", 96, 64)
    given = {"image": uploaded_url(served.url, image, host=host), "prompt": PROMPT}

    result = call_tool(served.url, "i2v", given)

    assert not result.isError, text_of(result)
    assert fetches == []


def test_on_a_local_install_gradio_upload_mcps_own_client_is_the_same_user(
    served, tmp_path, fetches, monkeypatch
):
    # `gradio upload-mcp` is a program of its own, whose client is not the agent's (a desktop
    # agent's MCP client names another browser): on a local single-user install every upload
    # this server received is that one user's.
    image = mediagen.make_png(tmp_path / "by-upload-mcp.png", 96, 64, (200, 200, 10))
    given = {
        "image": uploaded_url(served.url, image, headers={"user-agent": "upload-mcp/1.0"}),
        "prompt": PROMPT,
    }
    # Shared, the file is not this caller's.
    refused = call_tool(served.url, "i2v", given)
    assert refused.isError and "not uploaded by you" in text_of(refused)
    monkeypatch.setenv(owners.SHARED_ENV, "0")
    result = call_tool(served.url, "i2v", given)
    assert not result.isError, text_of(result)
    assert fetches == []


def test_mcp_caller_with_a_key_uses_what_it_uploaded_with_that_key(served, tmp_path):
    key = {"x-aio-key": uuid.uuid4().hex}
    image = mediagen.make_png(tmp_path / "keyed.png", 96, 64, (10, 200, 90))
    url = uploaded_url(served.url, image, headers={**key, "user-agent": "an upload script"})

    result = call_tool(served.url, "i2v", {"image": url, "prompt": PROMPT}, headers=key)

    assert not result.isError, text_of(result)


def test_mcp_over_sse_runs_a_tool_with_a_data_url(served, tmp_path):
    given, _ = arguments(served.url, "i2v", tmp_path, "data URL")
    result = call_tool(served.url, "i2v", given, transport="sse")
    assert not result.isError, text_of(result)
    assert result.structuredContent["parameters"]["mode"] == "i2v"


# -- refusals: the app's one line, naming the field, before any GPU time ------------------------


def _someone_elses_file(url, folder):
    image = mediagen.make_png(folder / "theirs.png", 96, 64, (90, 10, 200))
    theirs = uploaded_url(url, image, headers={"user-agent": "someone else's browser"})
    return "i2v", {"image": theirs, "prompt": PROMPT}, "image", "not uploaded by you"


def _someone_elses_key(url, folder):
    image = mediagen.make_png(folder / "keyed.png", 96, 64, (90, 200, 10))
    theirs = uploaded_url(url, image, headers={"x-aio-key": uuid.uuid4().hex})
    return "i2v", {"image": theirs, "prompt": PROMPT}, "image", "not uploaded by you"


def _foreign_url(url, folder):
    return (
        "a2v",
        {"audio": "http://example.com/speech.wav", "prompt": PROMPT},
        "audio",
        ("a URL of another server"),
    )


def _this_servers_file_not_uploaded(url, folder):
    given = f"{url.rstrip('/')}/gradio_api/file=/etc/hostname"
    return "i2v", {"image": given, "prompt": PROMPT}, "image", "not uploaded to it"


def _server_path(url, folder):
    return (
        "style",
        {"video": "/etc/hostname", "prompt": PROMPT},
        "video",
        ("not uploaded to this server"),
    )


def _broken_data_url(url, folder):
    return "i2v", {"image": "data:image/png;base64,%%%", "prompt": PROMPT}, "image", "base64"


def _text_as_image(url, folder):
    given = data_url(mediagen.make_text(folder / "notes.png"))
    return "i2v", {"image": given, "prompt": PROMPT}, "image", "not a readable image"


def _too_many_frames(url, folder):
    frames = modes.MODES["t2v"].field("frames")
    return "t2v", {"prompt": PROMPT, "frames": 10_000}, "frames", frames.range_text()


def _prompt_left_out(url, folder):
    return "t2v", {"preset": "fast"}, "prompt", "Prompt"


REFUSED = {
    "another sender's file": _someone_elses_file,
    "another key's file": _someone_elses_key,
    "a URL elsewhere": _foreign_url,
    "this server's URL of a file not uploaded": _this_servers_file_not_uploaded,
    "a path on the server": _server_path,
    "a broken data URL": _broken_data_url,
    "a text file as image": _text_as_image,
    "a number out of range": _too_many_frames,
    "a required value left out": _prompt_left_out,
}


@pytest.mark.parametrize("progress", [False, True], ids=["plain", "with progress"])
@pytest.mark.parametrize("case", list(REFUSED))
def test_mcp_refusal_is_the_apps_one_line_naming_the_field(served, tmp_path, fetches, case,
                                                            progress):  # fmt: skip
    mode, given, field_name, detail = REFUSED[case](served.url, tmp_path)
    before = (len(served.engine.calls), served.engine.ensured)

    result = call_tool(served.url, mode, given, progress=progress)

    said = text_of(result)
    assert result.isError
    assert said.startswith(f"[bad_input] Check your input: {field_name}: "), said
    assert detail in said and "\n" not in said and "Traceback" not in said
    assert (len(served.engine.calls), served.engine.ensured) == before
    assert fetches == []


def test_mcp_refusal_at_the_door_is_recorded_in_history(served):
    before = {job.id for job in served.store().jobs(limit=-1)}
    call_tool(served.url, "i2v", {"image": "https://example.com/a.png", "prompt": PROMPT})
    new = [job for job in served.store().jobs(limit=-1) if job.id not in before]
    assert [(j.mode, j.status, j.error_kind, j.params, j.inputs) for j in new] == [
        ("i2v", "failed", "bad_input", {}, {})
    ]


def test_mcp_a_server_file_marked_as_gradios_is_never_read(served, monkeypatch):
    remembered: list = []
    monkeypatch.setattr(uploads_ui, "remember", lambda paths, fp: remembered.extend(paths))
    marked = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}

    result = call_tool(served.url, "i2v", {"image": marked, "prompt": marked})

    assert result.isError and "image:" in text_of(result)
    assert remembered == []  # the in-process client uploaded nothing


# -- who a call of the MCP server counts as ----------------------------------------------------


def test_a_vouched_request_counts_as_the_caller_it_was_vouched_for():
    caller = owners.fingerprint({"user-agent": "an agent"}, "203.0.113.9")
    headers = {uploads_ui.SENDER_HEADER: uploads_ui.vouch(caller), "user-agent": "gradio_client"}
    assert uploads_ui.sender(headers, "127.0.0.1") == caller


def test_a_forged_sender_header_counts_for_nothing():
    someone = owners.fingerprint({"user-agent": "their browser"}, "203.0.113.9")
    headers = {uploads_ui.SENDER_HEADER: f"{someone}.{'0' * 64}", "user-agent": "me"}
    assert uploads_ui.sender(headers, "198.51.100.7") == owners.fingerprint(headers, "198.51.100.7")


def test_mcp_a_history_job_id_is_a_file_and_an_unknown_one_is_refused(served):
    made = call_tool(served.url, "t2v", {"prompt": PROMPT, "preset": "fast"})
    job_id = made.structuredContent["parameters"]["job_id"]

    result = call_tool(served.url, "i2v", {"image": f"job:{job_id}", "prompt": PROMPT})

    assert not result.isError, text_of(result)
    assert result.structuredContent["parameters"]["source_job"] == {"image": job_id}
    refused = call_tool(served.url, "i2v", {"image": "job:20990101-nope", "prompt": PROMPT})
    said = text_of(refused)
    assert refused.isError and "\n" not in said
    assert said.startswith("[bad_input] Check your input: image: no finished job 20990101-nope")
