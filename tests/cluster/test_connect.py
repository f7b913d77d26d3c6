"""connect(): clear, fast errors for addresses nobody answers on; Ray's token lookup order."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from cluster import ClusterConnectError, connect, find_auth_token
from cluster.auth import MissingTokenError
from tests.fixtures.multinode import free_port


def test_refused_address_fails_fast_and_names_it() -> None:
    port = free_port()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(ClusterConnectError, match=rf"127\.0\.0\.1:{port}.*connection refused"):
        connect(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 5


def test_silent_address_times_out_within_probe_timeout() -> None:
    # A listening socket whose backlog is full never completes a handshake: a black hole.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", port))
                fillers.append(s)
            t0 = time.monotonic()
            with pytest.raises(ClusterConnectError, match=rf"127\.0\.0\.1:{port}"):
                connect(f"127.0.0.1:{port}", probe_timeout=1.0)
            # Either refused or a timeout; never Ray's endless "Failed to connect to GCS" wait.
            assert time.monotonic() - t0 < 10
        finally:
            for s in fillers:
                s.close()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("http://127.0.0.1:8265", "dashboard"),
        ("not-an-address", "expected 'auto', 'host:port'"),
        ("ray://127.0.0.1:1", "connection refused"),
        ("no-such-host.invalid:6379", "no-such-host.invalid"),
    ],
)
def test_bad_addresses_get_clear_messages(address: str, message: str) -> None:
    with pytest.raises(ClusterConnectError, match=message):
        connect(address)


def test_resources_cannot_be_set_when_joining() -> None:
    with pytest.raises(ValueError, match="cannot be set when joining"):
        connect("127.0.0.1:1", num_cpus=2)


def test_token_is_found_in_rays_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert find_auth_token() is None

    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    tok = find_auth_token()
    assert tok is not None and (tok.value, tok.source) == ("from-home", "~/.ray/auth_token")

    other = tmp_path / "tok"
    other.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(other))
    tok = find_auth_token()
    assert tok is not None and (tok.value, tok.source) == ("from-path", "RAY_AUTH_TOKEN_PATH")

    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    tok = find_auth_token()
    assert tok is not None and (tok.value, tok.source) == ("from-env", "RAY_AUTH_TOKEN")
    assert "from-env" not in repr(tok)  # never leaks into logs

    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(MissingTokenError, match="RAY_AUTH_TOKEN_PATH"):
        find_auth_token()


def test_connect_is_idempotent_when_connected(ray_cluster: None) -> None:
    first = connect()
    again = connect()
    assert first == again
    assert first.nodes >= 1 and first.resources["CPU"] >= 1


STALE_CONNECT = """
import time
t0 = time.monotonic()
from cluster import connect, disconnect
info = connect()
print("CONNECTED", info.started_here, info.nodes, round(time.monotonic() - t0, 1), flush=True)
disconnect()
"""


def test_a_stale_current_cluster_file_does_not_hang_connect() -> None:
    """`ray start` recorded a head that is gone: the embedded default still just works."""
    import os
    import shutil
    import subprocess
    import sys

    # Short (unix socket paths) and private: RAY_TMPDIR moves Ray's current-cluster file here,
    # so this test never touches /tmp/ray, which other Ray users on the machine share.
    tmp = Path(f"/tmp/slmc-{os.getpid()}")
    (tmp / "ray").mkdir(parents=True, exist_ok=True)
    port = free_port()  # nothing listens there: the head that wrote the file has stopped
    (tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_TMPDIR=str(tmp), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    try:
        out = subprocess.run(
            [sys.executable, "-c", STALE_CONNECT], env=env, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"connect() hung on the dead address 127.0.0.1:{port}: {exc.stderr!r}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "CONNECTED True 1" in out.stdout, out.stdout + out.stderr
    # The warning names the dead address, so the user learns why the cluster was not joined.
    assert f"127.0.0.1:{port}" in out.stdout + out.stderr

