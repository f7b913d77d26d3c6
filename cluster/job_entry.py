"""The entrypoints of submitted jobs.

`python -m cluster.job_entry module:workflow --inputs F --batch ID` runs on the cluster
(the head, as the job's driver) inside the shipped working dir. It joins the cluster (Ray
sets RAY_ADDRESS for job drivers), deploys the fleet when given one, and runs each input
line through the workflow with the engine's default store, as batch ID (the job's
submission id): every input is recorded there before any run starts.

`python -m cluster.job_entry results ID` is the reader `cluster.jobs.result` submits: it
prints batch ID's runs, as the store records them, on one line marked with the nonce from
$SLMFLOW_RESULTS_NONCE. It imports none of the user's code (results are decoded without
importing their classes), so nothing but this module writes to its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from cluster.jobs import RESULTS_MARKER, RESULTS_NONCE_ENV, RunResult
from orchestrator.imports import import_ref


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
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return import_ref(target)


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except TypeError:
        return repr(value)
    return value


async def _run_all(wf: Any, rows: list[dict[str, Any]], concurrency: int, batch: str | None) -> list[RunResult]:
    # The workflow's store is the engine's default (SQLite under SLMFLOW_HOME on this node),
    # so every run stays inspectable and resumable on the cluster after the job ends.
    records = await wf.arun_many(rows, concurrency=concurrency, batch=batch)
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
@click.option("--batch", default=None, help="name of the batch of runs in the store (the job's submission id)")
def main(target: str, inputs_arg: str, fleet_arg: str | None, concurrency: int, batch: str | None) -> None:
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
    results = asyncio.run(_run_all(wf, rows, concurrency, batch))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    # For people reading the log; `slmflow jobs result` reads the run store, not this.
    click.echo(
        f"slmflow job: {len(results)} runs of {target} in {time.monotonic() - t0:.1f}s, "
        f"batch {batch}: {json.dumps(counts)}"
    )
    if len(results) != counts.get("succeeded", 0):
        sys.exit(1)


def _decode_plain(text: str | None) -> Any:
    """A stored value as plain JSON, importing nothing: the reader must run no user code.

    The store tags what plain JSON cannot hold; a pydantic model's tag carries its data as
    JSON already, so that is what comes back (the same view `model_dump(mode="json")` gives).
    """
    if text is None:
        return None

    def hook(obj: dict[str, Any]) -> Any:
        if len(obj) <= 2:
            if "__tuple__" in obj and len(obj) == 1:
                return obj["__tuple__"]
            if "__pydantic__" in obj and "data" in obj:
                return obj["data"]
            if "__pickle__" in obj and len(obj) == 1:
                return "<a pickled Python object: read it on the head with `slmflow runs show`>"
            for tag in ("__datetime__", "__date__"):
                if tag in obj and len(obj) == 1:
                    return obj[tag]
        return obj

    return json.loads(text, object_hook=hook)


def read_batch(batch: str) -> list[RunResult]:
    """Batch `batch`'s runs, in input order, straight from the default store's SQLite file."""
    import sqlite3

    from orchestrator.store import default_store

    path = default_store().path
    # Read-only and by column name: the values are decoded here, without the store's decoder,
    # which imports the classes of pydantic results (user code that could print anything).
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    try:
        rows = conn.execute(
            "SELECT batch_index, run_id, status, result, error FROM runs WHERE batch=? ORDER BY batch_index",
            (batch,),
        ).fetchall()
    finally:
        conn.close()
    return [
        RunResult(index=index, run_id=run_id, status=status, result=_decode_plain(result), error=error)
        for index, run_id, status, result, error in rows
    ]


@click.command()
@click.argument("batch")
def results(batch: str) -> None:
    """Print batch BATCH's runs as one line marked with $SLMFLOW_RESULTS_NONCE."""
    nonce = os.environ.get(RESULTS_NONCE_ENV)
    if not nonce:
        raise click.UsageError(f"{RESULTS_NONCE_ENV} is not set: this command is run by `slmflow jobs result`")
    runs = read_batch(batch)
    payload = json.dumps({"batch": batch, "runs": [r.model_dump(mode="json") for r in runs]}, default=str)
    click.echo(f"{RESULTS_MARKER} {nonce} {payload}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["results"]:
        results(sys.argv[2:])
    else:
        main()
