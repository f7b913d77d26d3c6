"""The ingress binds beyond loopback only with an API key or an explicit opt-in, however the host is chosen."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from agents._bind import check_bind, is_loopback
from agents.errors import SpecError


@pytest.fixture(autouse=True)
def _no_key_no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLMFLOW_API_KEY", "SLMFLOW_HTTP_HOST", "SLMFLOW_ALLOW_INSECURE_BIND"):
        monkeypatch.delenv(name, raising=False)


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.5", "example.com"))


def test_check_bind_refuses_without_key_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SpecError, match="SLMFLOW_ALLOW_INSECURE_BIND=1"):
        check_bind("0.0.0.0", None)
    check_bind("0.0.0.0", "a-key")
    check_bind("0.0.0.0", None, allow_insecure=True)
    check_bind("127.0.0.1", None)
    monkeypatch.setenv("SLMFLOW_ALLOW_INSECURE_BIND", "1")
    check_bind("0.0.0.0", None)
    monkeypatch.setenv("SLMFLOW_ALLOW_INSECURE_BIND", "maybe")
    with pytest.raises(SpecError, match="not a boolean"):
        check_bind("0.0.0.0", None)


def test_env_host_and_host_argument_are_refused_alike(monkeypatch: pytest.MonkeyPatch, tiny_fleet, tmp_path: Path) -> None:
    from agents.fleet import build_serve_config, deploy

    # deploy() refuses before it touches Ray or Serve.
    with pytest.raises(SpecError, match="refusing to bind"):
        deploy(tiny_fleet, host="0.0.0.0")
    with pytest.raises(SpecError, match="refusing to bind"):
        build_serve_config(tiny_fleet, host="0.0.0.0")
    monkeypatch.setenv("SLMFLOW_HTTP_HOST", "0.0.0.0")
    with pytest.raises(SpecError, match=r"refusing to bind the HTTP ingress to 0\.0\.0\.0"):
        deploy(tiny_fleet)
    with pytest.raises(SpecError, match="refusing to bind"):
        build_serve_config(tiny_fleet)
    # With a key, or an explicit opt-in, the same config builds.
    assert build_serve_config(tiny_fleet, api_key="k")["http_options"]["host"] == "0.0.0.0"
    assert build_serve_config(tiny_fleet, allow_insecure_bind=True)["http_options"]["host"] == "0.0.0.0"


def test_cli_refuses_env_host_and_flag_alike(monkeypatch: pytest.MonkeyPatch, tiny_fleet, tmp_path: Path) -> None:
    from agents.cli import agents

    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(tiny_fleet.to_yaml())
    runner = CliRunner()
    # An address nothing listens on: a refusal must come before any attempt to join a cluster.
    args = ["deploy", str(fleet_file), "--address", "127.0.0.1:1"]
    for extra, env in ((["--host", "0.0.0.0"], {}), ([], {"SLMFLOW_HTTP_HOST": "0.0.0.0"})):
        result = runner.invoke(agents, args + extra, env=env)
        assert result.exit_code == 1 and "refusing to bind" in result.output, result.output
    out = tmp_path / "serve.yaml"
    result = runner.invoke(agents, ["build", str(fleet_file), "-o", str(out), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "--allow-insecure-bind" in result.output and not out.exists()
    result = runner.invoke(agents, ["build", str(fleet_file), "-o", str(out), "--host", "0.0.0.0",
                                    "--allow-insecure-bind"])
    assert result.exit_code == 0 and out.exists(), result.output
