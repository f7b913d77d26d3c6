"""`slmflow agents ...`: deploy, inspect and remove the agent fleet on a Ray cluster.

Every command that takes a fleet file uses `$SLMFLOW_FLEET` or the default fleet
shipped with the package when none is given. Ray and Serve are imported inside the
commands so `slmflow --help` stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

_ADDRESS_HELP = "Ray cluster address (default: RAY_ADDRESS, else the cluster started with `ray start` here)."


def _connect(address: str | None) -> None:
    """Join a running cluster: an app deployed into a Ray that exits with this command would vanish."""
    from agents._ray import ensure_connected

    target = address or os.environ.get("RAY_ADDRESS") or "auto"
    try:
        ensure_connected(target)
    except Exception as exc:
        raise click.ClickException(
            f"cannot join a Ray cluster at {target!r}: {exc}\n"
            "Start one first (`ray start --head`), or pass --address / set RAY_ADDRESS."
        ) from exc


_INSECURE_HELP = "Allow binding beyond loopback without an API key (env SLMFLOW_ALLOW_INSECURE_BIND=1)."


def _check_bind(host: str | None, api_key: str | None, allow: bool) -> None:
    """The same refusal `deploy()` makes, for `--host` and SLMFLOW_HTTP_HOST alike, as a CLI error."""
    from agents._bind import check_bind
    from agents.errors import SpecError
    from agents.fleet import API_KEY_ENV, HTTP_HOST_ENV

    try:
        check_bind(host or os.environ.get(HTTP_HOST_ENV, "127.0.0.1"), api_key or os.environ.get(API_KEY_ENV), allow)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc


def _load(fleet_file: str | None):  # -> FleetSpec
    from agents.errors import SpecError
    from agents.spec import load_fleet

    try:
        return load_fleet(fleet_file)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("agents")
def agents() -> None:
    """The fleet of specialist SLMs served by Ray Serve."""


@agents.command("deploy")
@click.argument("fleet_file", required=False, type=click.Path(dir_okay=False))
@click.option("--address", default=None, help=_ADDRESS_HELP)
@click.option("--host", default=None, help="HTTP bind address of the OpenAI-compatible API (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="HTTP port (default 8000).")
@click.option("--api-key-env", default="SLMFLOW_API_KEY", show_default=True, help="Env var holding the API key.")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True, help="Seconds to wait for healthy.")
@click.option("--allow-insecure-bind", is_flag=True, help=_INSECURE_HELP)
def deploy_cmd(
    fleet_file: str | None,
    address: str | None,
    host: str | None,
    port: int | None,
    api_key_env: str,
    timeout_s: float,
    allow_insecure_bind: bool,
) -> None:
    """Deploy FLEET_FILE (default: the shipped fleet); only changed agents restart."""
    from agents.errors import AgentError
    from agents.fleet import deploy

    fleet = _load(fleet_file)
    key = os.environ.get(api_key_env) or None
    _check_bind(host, key, allow_insecure_bind)  # before joining a cluster
    _connect(address)
    try:
        status = deploy(
            fleet, host=host, port=port, api_key=key, timeout_s=timeout_s, allow_insecure_bind=allow_insecure_bind
        )
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_status(status)


@agents.command("status")
@click.option("--address", default=None, help=_ADDRESS_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status_cmd(address: str | None, as_json: bool) -> None:
    """Per agent: replicas, resources, queue depth, requests served, last error."""
    from agents.fleet import fleet_status

    _connect(address)
    status = fleet_status()
    if as_json:
        click.echo(status.model_dump_json(indent=2))
    else:
        _print_status(status)


@agents.command("delete")
@click.option("--address", default=None, help=_ADDRESS_HELP)
def delete_cmd(address: str | None) -> None:
    """Remove the fleet application."""
    from agents.fleet import delete

    _connect(address)
    click.echo("fleet deleted" if delete() else "no fleet was deployed")


@agents.command("build")
@click.argument("fleet_file", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", default="serve_config.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--host", default=None, help="HTTP bind address (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="HTTP port (default 8000).")
@click.option("--allow-insecure-bind", is_flag=True, help=_INSECURE_HELP)
@click.option("--gpu-memory", default=None, metavar="SIZE",
              help="Memory of one GPU on the target cluster (e.g. 80GiB): sizes agents with num_gpus: auto. "
                   "Required when the fleet has such agents (the config is built without a cluster to ask).")
def build_cmd(fleet_file: str | None, output: str, host: str | None, port: int | None, allow_insecure_bind: bool,
              gpu_memory: str | None) -> None:
    """Write a Serve config for FLEET_FILE that `serve deploy` accepts."""
    import yaml

    from agents.errors import SpecError
    from agents.fleet import build_serve_config
    from agents.spec import parse_memory

    fleet = _load(fleet_file)
    _check_bind(host, None, allow_insecure_bind)
    auto = [a for a in fleet.agents if a.resources.num_gpus == "auto"]
    gpu_bytes = None
    if gpu_memory is not None:
        try:
            gpu_bytes = parse_memory(gpu_memory)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--gpu-memory") from exc
    if auto and gpu_bytes is None:
        # Without the size the builder would silently give these agents no GPU at all.
        raise click.ClickException(
            f"{', '.join(a.name for a in auto)}: num_gpus is 'auto', which is sized from the memory of one GPU, "
            "and `agents build` has no cluster to ask. Give it, e.g. --gpu-memory 80GiB, or set num_gpus to a "
            "fraction in the fleet file.")
    config = build_serve_config(fleet, None, host=host, port=port, allow_insecure_bind=allow_insecure_bind)
    fractions = {}
    if gpu_bytes is not None:
        try:  # fail here, not in `serve deploy`: every auto agent must fit that GPU
            fractions = {a.name: a.gpu_fraction(gpu_bytes) for a in auto}
        except SpecError as exc:
            raise click.ClickException(str(exc)) from exc
        config["applications"][0]["args"]["gpu_memory_bytes"] = gpu_bytes
    Path(output).write_text(yaml.safe_dump(config, sort_keys=False))
    for name, fraction in fractions.items():
        click.echo(f"{name}: num_gpus {fraction} of a {gpu_memory} GPU")
    click.echo(f"wrote {Path(output)} (deploy it with: serve deploy {output})")


@agents.command("list")
@click.argument("fleet_file", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_cmd(fleet_file: str | None, as_json: bool) -> None:
    """The agents of FLEET_FILE (default fleet): model, tasks, resources, batching."""
    fleet = _load(fleet_file)
    rows = [
        {
            "name": a.name,
            "model": a.model,
            "tasks": [t.value for t in a.tasks],
            "num_cpus": a.resources.num_cpus,
            "num_gpus": a.resources.num_gpus,
            "max_batch_size": a.batching.max_batch_size,
            "replicas": f"{a.autoscaling.min_replicas}-{a.autoscaling.max_replicas}",
        }
        for a in fleet.agents
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("agent", "model", "tasks", "cpus", "gpus", "batch", "replicas")
    for r in rows:
        table.add_row(
            r["name"],
            r["model"],
            ", ".join(r["tasks"]),
            str(r["num_cpus"]),
            str(r["num_gpus"] or "-"),
            str(r["max_batch_size"]),
            r["replicas"],
        )
    Console().print(table)


def _print_status(status) -> None:  # status: FleetStatus
    from rich.console import Console
    from rich.table import Column, Table

    console = Console()
    console.print(f"application [bold]{status.app}[/]: {status.status} {status.message}".rstrip())
    if status.http_url:
        console.print(f"OpenAI-compatible API: {status.http_url}/v1")
    if not status.agents:
        return
    table = Table("status", "engine", "replicas", "resources/replica", "queue", "served", "prefix hit", "errors",
                  "last error")
    # Names are never wrapped or cut, however narrow the terminal: a user looks agents up by them.
    table.columns.insert(0, Column("agent", no_wrap=True, min_width=max(len(n) for n in status.agents)))
    for a in status.agents.values():
        table.add_row(
            a.name,
            a.status,
            a.engine or "-",
            f"{a.replicas_running}/{a.replicas_target}",
            ", ".join(f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}" for k, v in a.resources_per_replica.items()),
            "-" if a.queue_depth is None else str(a.queue_depth),
            "-" if a.requests_served is None else str(a.requests_served),
            "-" if a.prefix_cache_hit_rate is None else f"{a.prefix_cache_hit_rate:.0%}",
            "-" if a.errors is None else str(a.errors),
            (a.last_error or a.message or "")[:80],
        )
    console.print(table)


__all__ = ["agents"]
