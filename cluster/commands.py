"""CLI commands of the cluster package: `submit`, `jobs ...`, `cluster up|down|status`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

ADDRESS_HELP = (
    "the Ray dashboard, e.g. http://HEAD:8265 (default: $RAY_JOB_ADDRESS, then $RAY_ADDRESS if http)"
)


def _address(address: str | None) -> str:
    if address:
        return address
    for name in ("RAY_JOB_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(name, "")
        if value.startswith(("http://", "https://")):
            return value
    raise click.UsageError("no dashboard address: pass --address http://HEAD:8265 or set RAY_JOB_ADDRESS")


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("workflow")
@click.option(
    "--inputs",
    "inputs",
    required=True,
    type=click.Path(path_type=Path),
    help="JSONL, one run's inputs per line",
)
@click.option("--address", default=None, help=ADDRESS_HELP)
@click.option(
    "--fleet", default=None, type=click.Path(path_type=Path), help="fleet YAML to deploy before the runs"
)
@click.option(
    "--working-dir",
    default=".",
    type=click.Path(path_type=Path),
    show_default=True,
    help="code shipped to the cluster",
)
@click.option("--concurrency", default=16, show_default=True, type=int)
@click.option(
    "--python", default="python", show_default=True, help="python on the cluster's PATH that has slmflow"
)
@click.option("--job-id", default=None, help="choose the submission id")
@click.option("--wait/--no-wait", default=False, help="wait for the job and print its results")
def submit(
    workflow: str,
    inputs: Path,
    address: str | None,
    fleet: Path | None,
    working_dir: Path,
    concurrency: int,
    python: str,
    job_id: str | None,
    wait: bool,
) -> None:
    """Submit WORKFLOW (module:attr) over the inputs as a Ray Job; prints the job id."""
    from pydantic import ValidationError

    from cluster import jobs

    addr = _address(address)
    try:
        opts = jobs.SubmitOptions(
            workflow=workflow,
            inputs=inputs,
            address=addr,
            fleet=fleet,
            working_dir=working_dir,
            concurrency=concurrency,
            python=python,
            job_id=job_id,
        )
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        submitted = jobs.submit(opts)
        click.echo(submitted)
        if wait:
            info = jobs.wait(submitted, addr)
            click.echo(f"{submitted}: {info.status}", err=True)
            click.echo(jobs.result(submitted, addr).model_dump_json(indent=2))
            if info.status != "SUCCEEDED":
                raise SystemExit(1)
    except jobs.JobError as exc:
        _fail(exc)


@click.group()
def jobs() -> None:
    """Follow workflow jobs on a Ray cluster."""


@jobs.command("status")
@click.argument("job_id")
@click.option("--address", default=None, help=ADDRESS_HELP)
def jobs_status(job_id: str, address: str | None) -> None:
    """Print the job's status (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from cluster import jobs as api

    try:
        info = api.status(job_id, _address(address))
    except api.JobError as exc:
        _fail(exc)
    click.echo(info.status)
    if info.message:
        click.echo(info.message, err=True)


@jobs.command("logs")
@click.argument("job_id")
@click.option("--address", default=None, help=ADDRESS_HELP)
def jobs_logs(job_id: str, address: str | None) -> None:
    """Print the job's driver logs."""
    from cluster import jobs as api

    try:
        click.echo(api.logs(job_id, _address(address)), nl=False)
    except api.JobError as exc:
        _fail(exc)


@jobs.command("result")
@click.argument("job_id")
@click.option("--address", default=None, help=ADDRESS_HELP)
@click.option("--wait/--no-wait", default=False, help="wait for the job to end first")
@click.option("--timeout", default=600.0, show_default=True)
def jobs_result(job_id: str, address: str | None, wait: bool, timeout: float) -> None:
    """Print the runs' results as JSON; exit 2 while the job is still running."""
    from cluster import jobs as api

    addr = _address(address)
    try:
        if wait:
            api.wait(job_id, addr, timeout=timeout)
        res = api.result(job_id, addr)
    except (api.JobError, TimeoutError) as exc:
        _fail(exc)
    click.echo(res.model_dump_json(indent=2))
    if res.status not in api.TERMINAL:
        raise SystemExit(2)
    if res.status != "SUCCEEDED":
        raise SystemExit(1)


@jobs.command("list")
@click.option("--address", default=None, help=ADDRESS_HELP)
def jobs_list(address: str | None) -> None:
    """List the cluster's jobs."""
    from cluster import jobs as api

    try:
        for info in api.job_id_list(_address(address)):
            if api.is_reader_job(info.job_id):  # `jobs result`'s own reader jobs
                continue
            click.echo(
                f"{info.job_id}\t{info.status}\t{info.metadata.get('workflow', info.entrypoint or '')}"
            )
    except api.JobError as exc:
        _fail(exc)


@jobs.command("stop")
@click.argument("job_id")
@click.option("--address", default=None, help=ADDRESS_HELP)
def jobs_stop(job_id: str, address: str | None) -> None:
    """Stop a running job."""
    from cluster import jobs as api

    try:
        click.echo("stopped" if api.stop(job_id, _address(address)) else "not running")
    except api.JobError as exc:
        _fail(exc)


@click.group()
def cluster() -> None:
    """Start, inspect and stop a local Ray head for slmflow."""


@cluster.command("up", context_settings={"ignore_unknown_options": True})
@click.option("--port", default=6379, show_default=True)
@click.option("--dashboard-port", default=8265, show_default=True)
@click.option("--num-cpus", type=int, default=None)
@click.option("--num-gpus", type=int, default=None, help="logical GPUs this node declares")
@click.option("--temp-dir", type=click.Path(path_type=Path), default=None, help="Ray's temp dir (default /tmp/ray)")
@click.argument("ray_args", nargs=-1, type=click.UNPROCESSED)
def cluster_up(
    port: int,
    dashboard_port: int,
    num_cpus: int | None,
    num_gpus: int | None,
    temp_dir: Path | None,
    ray_args: tuple[str, ...],
) -> None:
    """`ray start --head` with the dashboard on 127.0.0.1, remembered by pid for `down`.

    Arguments after `--` go to `ray start` as they are (e.g. `-- --node-manager-port=6380`).
    """
    from cluster import local

    try:
        head = local.up(
            port=port,
            dashboard_port=dashboard_port,
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            temp_dir=temp_dir,
            extra_args=list(ray_args),
        )
    except (RuntimeError, TimeoutError) as exc:
        _fail(exc)
    click.echo(f"head running (pid {head.pid})")
    click.echo(f"  connect:  RAY_ADDRESS={head.gcs_address}")
    click.echo(f"  submit:   slmflow submit ... --address {head.dashboard_url}")


@cluster.command("down")
def cluster_down() -> None:
    """Stop the head `cluster up` started (only that one; never `ray stop`)."""
    from cluster import local

    click.echo("stopped" if local.down() else "no head started by slmflow is running")


@cluster.command("status")
def cluster_status() -> None:
    """Show the head `cluster up` started and its nodes."""
    from cluster import local

    click.echo(json.dumps(local.describe(), indent=2, default=str))
