"""The entrypoint of a submitted job: `python -m cluster.job_entry module:workflow --inputs F`.

Runs on the cluster (the head, as the job's driver) inside the shipped working dir. It
joins the cluster (Ray sets RAY_ADDRESS for job drivers), deploys the fleet when given one,
runs each input line through the workflow with the engine's default store, and prints one
machine-readable line per run for `cluster.jobs.result` to read back.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from cluster.jobs import RESULT_MARKER, SUMMARY_MARKER, RunResult


def _read_arg_file(arg: str, suffix: str) -> Path:
    if arg.startswith("env:"):
        # Shipped inline by `submit` because it lived outside the working dir.
        data = os.environ[arg[4:]]
        fd, name = tempfile.mkstemp(suffix=suffix)
        with os.fdopen(fd, "w") as f:
            f.write(data)
        return Path(name)
    path = Path(arg)
    if not path.is_file():
        listing = ", ".join(sorted(os.listdir("."))[:20])
        raise click.UsageError(f"{arg} not found in the job's working dir {os.getcwd()} (holds: {listing})")
    return path


def _load_inputs(path: Path) -> list[dict[str, Any]]:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"inputs line {lineno}: not JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise click.UsageError(f"inputs line {lineno}: expected a JSON object of workflow inputs")
        rows.append(row)
    return rows


def _load_workflow(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


async def _run_all(wf: Any, rows: list[dict[str, Any]], concurrency: int) -> list[RunResult]:
    # The workflow's store is the engine's default (SQLite under SLMFLOW_HOME on this node),
    # so every run stays inspectable and resumable on the cluster after the job ends.
    records = await wf.arun_many(rows, concurrency=concurrency)
    return [
        RunResult(
            index=i,
            run_id=rec.run_id,
            status=str(rec.status),
            result=_jsonable(rec.result),
            error=rec.error,
        )
        for i, rec in enumerate(records)
    ]


@click.command()
@click.argument("target")
@click.option("--inputs", "inputs_arg", required=True)
@click.option("--fleet", "fleet_arg", default=None)
@click.option("--concurrency", default=16, type=int)
def main(target: str, inputs_arg: str, fleet_arg: str | None, concurrency: int) -> None:
    from cluster.connect import connect

    t0 = time.monotonic()
    info = connect()
    click.echo(f"slmflow job: joined {info.address} ({info.nodes} nodes, {info.resources})")
    if fleet_arg is not None:
        from agents import deploy, load_fleet

        fleet_path = _read_arg_file(fleet_arg, ".yaml")
        deploy(load_fleet(fleet_path))
        click.echo(f"slmflow job: fleet {fleet_arg} deployed")
    rows = _load_inputs(_read_arg_file(inputs_arg, ".jsonl"))
    wf = _load_workflow(target)
    results = asyncio.run(_run_all(wf, rows, concurrency))
    counts: dict[str, int] = {}
    for r in results:
        click.echo(RESULT_MARKER + r.model_dump_json())
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = {
        "workflow": target,
        "runs": len(results),
        "by_status": counts,
        "seconds": round(time.monotonic() - t0, 3),
    }
    click.echo(SUMMARY_MARKER + json.dumps(summary))
    if len(results) != counts.get("succeeded", 0):
        sys.exit(1)


if __name__ == "__main__":
    main()
