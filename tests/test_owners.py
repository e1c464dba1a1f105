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


# -- who connected: forwarded headers only from trusted proxies ----------------------------------


@pytest.fixture
def no_space(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv(owners.PROXIES_ENV, raising=False)


UA = {"user-agent": "the same browser"}


def test_without_a_trusted_proxy_a_forwarded_header_chooses_nothing(no_space):
    peer = "203.0.113.9"
    assert owners.client_address({"X-Forwarded-For": "198.51.100.1"}, peer) == peer
    honest = owners.fingerprint(UA, peer)
    spoofing = owners.fingerprint({**UA, "x-forwarded-for": "198.51.100.1"}, peer)
    assert spoofing == honest
    # Naming A's address from elsewhere does not make B into A.
    a = owners.fingerprint(UA, "198.51.100.1")
    assert owners.fingerprint({**UA, "x-forwarded-for": "198.51.100.1"}, "192.0.2.77") != a


def test_behind_a_trusted_proxy_the_address_it_saw_counts_never_what_the_caller_wrote(
    no_space, monkeypatch
):
    monkeypatch.setenv(owners.PROXIES_ENV, "10.0.0.5")
    # The proxy appends the address it saw; whatever the caller wrote stays on the left.
    said = {"x-forwarded-for": "198.51.100.1, 203.0.113.9"}
    assert owners.client_address(said, "10.0.0.5") == "203.0.113.9"
    assert owners.fingerprint({**UA, **said}, "10.0.0.5") == owners.fingerprint(
        {**UA, "x-forwarded-for": "203.0.113.9"}, "10.0.0.5"
    )
    # A peer that is not the proxy is believed for itself only.
    assert owners.client_address(said, "192.0.2.10") == "192.0.2.10"
    # No header from the proxy: the proxy itself is all that is known.
    assert owners.client_address({}, "10.0.0.5") == "10.0.0.5"


def test_every_forwarded_line_counts_so_the_proxys_own_line_is_read(no_space, monkeypatch):
    """A caller writes one X-Forwarded-For; a proxy may add its entry as a second line rather
    than append to the first. Read as an ASGI scope or starlette `Headers`, both count: the
    caller's line cannot hide the proxy's."""
    from starlette.datastructures import Headers

    monkeypatch.setenv(owners.PROXIES_ENV, "10.0.0.5")
    raw = [
        (b"user-agent", b"ua"),
        (b"x-forwarded-for", b"198.51.100.1"),  # what the caller wrote
        (b"x-forwarded-for", b"203.0.113.9"),  # what the proxy saw
    ]
    assert owners.plain_headers(raw)["x-forwarded-for"] == "198.51.100.1, 203.0.113.9"
    assert owners.client_address(raw, "10.0.0.5") == "203.0.113.9"
    assert owners.client_address(Headers(raw=raw), "10.0.0.5") == "203.0.113.9"
    assert owners.fingerprint(raw, "10.0.0.5") == owners.fingerprint(
        {"user-agent": "ua", "x-forwarded-for": "203.0.113.9"}, "10.0.0.5"
    )
    # Bytes that are not UTF-8 are read, not a crash.
    assert owners.plain_headers([(b"X-Odd", b"\xff\xfe")]) == {"x-odd": "\xff\xfe"}


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_hop(no_space, monkeypatch):
    monkeypatch.setenv(owners.PROXIES_ENV, "10.0.0.0/8, 2001:db8::/32")
    said = {"x-forwarded-for": "198.51.100.1, 203.0.113.9, 10.3.3.3, 10.2.2.2"}
    assert owners.client_address(said, "10.1.1.1") == "203.0.113.9"
    assert owners.client_address({"x-forwarded-for": "2001:db9::1"}, "2001:db8::7") == "2001:db9::1"


def test_on_a_space_the_private_networks_of_the_hugging_face_proxy_are_trusted(
    no_space, monkeypatch
):
    monkeypatch.setenv("SPACE_ID", "someone/ltx")
    assert owners.client_address({"x-forwarded-for": "1.2.3.4, 203.0.113.9"}, "10.16.3.80") == (
        "203.0.113.9"
    )
    monkeypatch.setenv(owners.PROXIES_ENV, "")  # set, empty: trust none, even there
    assert owners.client_address({"x-forwarded-for": "203.0.113.9"}, "10.16.3.80") == "10.16.3.80"


def test_unreadable_proxy_entries_are_ignored_and_named(no_space, monkeypatch):
    monkeypatch.setenv(owners.PROXIES_ENV, "10.0.0.5, proxy.example, 300.1.1.1, private")
    assert owners.bad_proxies() == ["proxy.example", "300.1.1.1"]
    assert owners.client_address({"x-forwarded-for": "203.0.113.9"}, "10.0.0.5") == "203.0.113.9"
    assert owners.client_address({"x-forwarded-for": "203.0.113.9"}, "192.168.1.2") == (
        "203.0.113.9"
    )


def test_with_share_true_the_tunnel_on_loopback_is_the_trusted_proxy(no_space, monkeypatch):
    monkeypatch.setenv("GRADIO_SHARE", "True")
    said = {"x-forwarded-for": "198.51.100.1, 203.0.113.9"}
    assert owners.client_address(said, "127.0.0.1") == "203.0.113.9"
    assert owners.client_address(said, "192.0.2.4") == "192.0.2.4"
