"""L1: who a request belongs to (owners.py), and History read through that owner only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import history
import owners

SECRET_A = "a" * 43
SECRET_B = "b" * 43


def request(headers=None, session="s1"):
    return SimpleNamespace(headers=headers or {}, session_hash=session)


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setenv("LTX_AIO_SHARED", "1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"GRADIO_SERVER_NAME": "0.0.0.0"}, True),
        ({"GRADIO_SERVER_NAME": "localhost"}, False),
        ({"SPACE_ID": "me/app"}, True),
        ({"GRADIO_SHARE": "True"}, True),
        ({"SPACE_ID": "me/app", "LTX_AIO_SHARED": "0"}, False),
        ({"LTX_AIO_SHARED": "1"}, True),
    ],
)
def test_shared_is_chosen_from_where_the_app_runs_and_can_be_forced(monkeypatch, env, expected):
    for name in ("SPACE_ID", "GRADIO_SHARE", "GRADIO_SERVER_NAME", "LTX_AIO_SHARED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert owners.shared() is expected


def test_a_local_install_has_one_owner_whatever_the_request_says(monkeypatch):
    monkeypatch.setenv("LTX_AIO_SHARED", "0")
    assert owners.of(request({"x-aio-key": "k"}), SECRET_A) == owners.LOCAL
    assert owners.scope(owners.LOCAL) is None  # every job


def test_owner_precedence_login_then_key_then_browser_then_session(shared):
    profile = SimpleNamespace(username="alice")
    assert owners.of(request({"x-aio-key": "k"}), SECRET_A, profile) == "hf:alice"
    by_key = owners.of(request({"x-aio-key": "k"}), SECRET_A)
    assert by_key.startswith("key:") and by_key == owners.of(request({"authorization": "Bearer k"}))
    assert "k" not in by_key.removeprefix("key:")  # only a hash of the key is kept
    assert owners.of(request(), SECRET_A).startswith("browser:")
    assert owners.of(request(), SECRET_A) != owners.of(request(), SECRET_B)
    assert owners.of(request(session="s1"), "short") == owners.of(request(session="s1"))
    assert owners.of(request(session="s1")) != owners.of(request(session="s2"))


def test_a_new_browser_secret_is_long_and_random():
    one, two = owners.new_secret(), owners.new_secret()
    assert one != two and owners.valid_secret(one)
    assert not owners.valid_secret("x" * 10) and not owners.valid_secret(None)


def test_history_reads_and_deletes_only_the_owners_jobs(tmp_path):
    store = history.Store(tmp_path)
    mine = store.create_job("t2v", {"prompt": "mine"}, owner="browser:a")
    theirs = store.create_job("t2v", {"prompt": "theirs"}, owner="browser:b")
    for job_id in (mine, theirs):
        store.mark_failed(job_id, "oom", "x")
    assert [j.id for j in store.jobs(owner="browser:a")] == [mine]
    assert store.count(owner="browser:a") == 1 and store.count() == 2
    assert store.get(theirs, "browser:a") is None and store.get(theirs).id == theirs
    assert store.delete(theirs, "browser:a") is False and store.get(theirs) is not None
    assert store.delete(mine, "browser:a") is True


def test_the_owner_survives_a_rebuild_from_the_job_folders(tmp_path):
    store = history.Store(tmp_path)
    job_id = store.create_job("t2v", {"prompt": "x"}, owner="key:abc")
    store.close()
    (tmp_path / "history.db").unlink()
    rebuilt = history.Store(tmp_path)
    assert rebuilt.get(job_id).owner == "key:abc"
    assert "1 job(s) were recovered" in rebuilt.notice


def test_a_signed_in_hugging_face_user_owns_their_jobs_until_the_login_expires(shared):
    import time

    def signed_in(expires_at):
        info = {"userinfo": {"preferred_username": "alice"}, "expires_at": expires_at}
        return SimpleNamespace(
            headers={},
            session_hash="s",
            request=SimpleNamespace(scope={"session": {"oauth_info": info}}),
        )

    assert owners.of(signed_in(time.time() + 60), SECRET_A) == "hf:alice"
    assert owners.of(signed_in(time.time() - 60), SECRET_A).startswith("browser:")
