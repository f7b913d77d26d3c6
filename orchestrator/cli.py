"""`slmflow run | runs | resume | graph`: run workflows and inspect durable runs.

Exit codes scripts can rely on:
  0  every run succeeded
  1  a run ended failed, partial or cancelled (its record says why), or the run store could not
     be written (read-only, full: the message says which runs, if any, to resume once it can)
  2  usage or definition error: bad target, bad inputs, unknown run, resume refused
  3  the run is busy: its owner process still runs it, or another `resume` claimed it first
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_BUSY = 0, 1, 2, 3


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(EXIT_USAGE)


def _quiet_logs() -> None:
    from orchestrator.logging import configure_logging

    # Progress goes to the terminal; logs only when something goes wrong unless asked for.
    configure_logging(level=os.environ.get("SLMFLOW_LOG_LEVEL", "WARNING"))


def load_workflow(target: str) -> Any:
    """'module:name', 'module' (exactly one workflow in it) or 'path/to/file.py[:name]'."""
    from orchestrator.workflow import Workflow

    module_ref, _, attr = target.partition(":")
    if (module_ref.endswith(".py") and ":" in target[len(module_ref) :]) or target.endswith(".py"):
        path = Path(module_ref)
        if not path.is_file():
            _fail(f"no such file {module_ref!r}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if isinstance(value, Workflow) and value.target and value.target.startswith(f"{path.stem}:"):
                # `resume` runs elsewhere, where the module is not importable by its bare name:
                # record the file instead.
                value.target = f"{path.resolve()}:{value.target.partition(':')[2]}"
    else:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_ref)
        except ModuleNotFoundError as exc:
            if exc.name and module_ref.startswith(exc.name):
                _fail(f"cannot import module {module_ref!r} (run from the directory that holds it, or set PYTHONPATH)")
            raise
    if attr:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                _fail(f"module {module_ref!r} has no attribute {attr!r}")
        if not isinstance(obj, Workflow):
            _fail(f"{target!r} is a {type(obj).__name__}, not a @workflow")
        return obj
    found = {name: v for name, v in vars(module).items() if isinstance(v, Workflow)}
    if len(found) != 1:
        names = ", ".join(sorted(found)) or "none"
        _fail(f"module {module_ref!r} holds {len(found)} workflows ({names}); name one as {module_ref}:NAME")
    return next(iter(found.values()))


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parse_inputs(pairs: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            _fail(f"--input expects key=value, got {pair!r}")
        values[key] = _parse_value(value)
    return values


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    batch = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                _fail(f"{path}:{lineno}: not JSON: {exc}")
            if not isinstance(item, dict):
                _fail(f"{path}:{lineno}: each line must be a JSON object of inputs")
            batch.append(item)
    return batch


def _outcome(record: Any, index: bool = False) -> dict[str, Any]:
    from orchestrator.serialization import to_jsonable

    out = {
        "run_id": record.run_id,
        "status": str(record.status),
        "result": to_jsonable(record.result),
        "error": record.error,
    }
    if index and record.batch_index is not None:
        out["index"] = record.batch_index  # lines come as runs end: this says which input
    return out


def _emit(record: Any, index: bool = False) -> None:
    """One result line, flushed at once: a batch killed half way keeps every finished line."""
    click.echo(json.dumps(_outcome(record, index)))
    sys.stdout.flush()
    if not record.succeeded:
        click.echo(f"run {record.run_id} {record.status}: {record.error}", err=True)
        if (record.error or "").startswith("StoreError"):
            click.echo(f"once the run store can be written, `slmflow resume {record.run_id}` finishes it", err=True)


async def _run_with_progress(
    wf: Any, batch: list[dict[str, Any]], concurrency: int, show: bool, batch_id: str | None
) -> list[Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from orchestrator.events import EventKind

    single = len(batch) == 1
    total = sum(1 for n in wf.nodes if n.kind != "input") if single else len(batch)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[failed]}"),
        console=Console(stderr=True), transient=True, disable=not show,
    )  # fmt: skip
    failed = 0
    with progress:
        task = progress.add_task(f"{wf.name}: {'steps' if single else 'runs'}", total=total, failed="")

        def on_event(event: Any) -> None:
            nonlocal failed
            if single:
                is_item = event.step is not None and event.step.endswith("]")
                done = event.kind in (EventKind.STEP_FINISHED, EventKind.STEP_SKIPPED) and not is_item
            else:
                done = event.kind is EventKind.RUN_FINISHED
            if done:
                bad = event.status in ("failed",) or (not single and event.status != "succeeded")
                failed += int(bad)
                progress.update(task, advance=1, failed=f"[red]{failed} failed" if failed else "")

        emit = functools.partial(_emit, index=not single)
        return await wf.arun_many(batch, concurrency=concurrency, on_event=on_event, on_done=emit, batch=batch_id)


@click.command("run")
@click.argument("target")
@click.option("--input", "-i", "pairs", multiple=True, metavar="KEY=VALUE",
              help="A workflow input; VALUE is parsed as JSON when it is JSON, else taken as text.")
@click.option("--inputs", "inputs_file", type=click.Path(exists=True, dir_okay=False),
              help="A JSONL file: one JSON object of inputs per line, one run each.")
@click.option("--concurrency", "-c", default=16, show_default=True, help="Runs at once with --inputs.")
@click.option("--no-store", is_flag=True, help="Keep nothing on disk (runs cannot be resumed).")
@click.option("--deadline", type=float, help="Seconds a run may take before it is cancelled.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def run(target: str, pairs: tuple[str, ...], inputs_file: str | None, concurrency: int, no_store: bool,
        deadline: float | None, no_progress: bool) -> None:  # fmt: skip
    """Run the workflow TARGET ('module:workflow', or 'module' holding exactly one).

    Prints one JSON object per run on stdout: run_id, status, result, error.
    Exit status: 0 all succeeded, 1 some run did not, 2 usage or definition error.
    """
    from orchestrator.errors import DefinitionError, StoreError, UnstorableValueError

    _quiet_logs()
    if pairs and inputs_file:
        _fail("use --input or --inputs, not both")
    try:
        wf = load_workflow(target)
    except (DefinitionError, UnstorableValueError) as exc:
        _fail(f"bad workflow definition in {target!r}: {exc}")
    options: dict[str, Any] = {}
    if no_store:
        options["store"] = None
    if deadline is not None:
        options["deadline"] = deadline
    if options:
        wf = wf.with_options(**options)
    batch = _read_jsonl(inputs_file) if inputs_file else [_parse_inputs(pairs)]
    show = not no_progress and sys.stderr.isatty()
    batch_id = None
    try:
        store = wf.store
    except StoreError as exc:
        click.echo(f"error: {exc}\nno run was started: nothing ran and nothing was recorded", err=True)
        raise SystemExit(EXIT_RUN_FAILED) from None
    if store is not None:
        from orchestrator.workflow import new_run_id

        batch_id = new_run_id()  # named here too so that a store failure can say what to resume
    if inputs_file and batch_id is not None:
        click.echo(
            f"batch {batch_id}: {len(batch)} inputs recorded before any run starts; if interrupted, "
            f"finish it with `slmflow resume --batch {batch_id}`",
            err=True,
        )
    try:
        records = asyncio.run(_run_with_progress(wf, batch, concurrency, show, batch_id))
    except DefinitionError as exc:
        _fail(str(exc))
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo(_unrecorded(store, batch_id), err=True)
        raise SystemExit(EXIT_RUN_FAILED) from None
    raise SystemExit(EXIT_OK if all(r.succeeded for r in records) else EXIT_RUN_FAILED)


def _unrecorded(store: Any, batch_id: str | None) -> str:
    """After the store refused a write: what of this command's runs it holds, and how to finish them."""
    try:
        runs = store.batch_runs(batch_id) if batch_id else []
    except Exception as exc:  # the store may not even read any more
        return f"its runs cannot be listed from the store either ({exc})"
    if not runs:
        return "no run was started: nothing ran and nothing was recorded"
    unfinished = [r for r in runs if str(r.status) in ("pending", "running")]
    if not unfinished:
        return "every run of this command is recorded as ended (the lines above say how)"
    what = f"`slmflow resume {unfinished[0].run_id}`" if len(runs) == 1 else f"`slmflow resume --batch {batch_id}`"
    return (
        f"{len(unfinished)} of {len(runs)} run(s) are recorded unfinished (shown interrupted once this "
        f"process exits): nothing finished is lost; once the store can be written, finish them with {what}"
    )


@click.group("runs")
def runs() -> None:
    """List and inspect recorded runs (the SQLite store under $SLMFLOW_HOME)."""


@runs.command("list")
@click.option("--limit", "-n", default=20, show_default=True)
@click.option(
    "--status",
    type=click.Choice(["pending", "running", "interrupted", "succeeded", "partial", "failed", "cancelled"]),
    help="'interrupted': recorded running, but the process that ran it is gone.",
)
@click.option("--workflow", "-w", help="Only runs of this workflow name.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def runs_list(limit: int, status: str | None, workflow: str | None, as_json: bool) -> None:
    """The most recent runs, newest first."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.records import RunStatus
    from orchestrator.store import default_store

    store = default_store()
    if status == "interrupted":
        records = [
            r for s in (RunStatus.RUNNING, RunStatus.PENDING)
            for r in store.list_runs(limit=limit, status=s, workflow=workflow) if r.interrupted
        ]  # fmt: skip
        records = sorted(records, key=lambda r: r.created_at, reverse=True)[:limit]
    else:
        records = store.list_runs(limit=limit, status=RunStatus(status) if status else None, workflow=workflow)
        if status in ("running", "pending"):
            records = [r for r in records if not r.interrupted]
    if as_json:
        for r in records:
            click.echo(r.model_dump_json(exclude={"steps", "result"}))
        return
    table = Table(title=f"runs in {store.path}")
    # Ids are copied into `runs show` and `resume`, and runs started together share a long
    # prefix (time first): never cut or wrap them; the error column gives way instead.
    table.add_column("run id", no_wrap=True, min_width=20)
    table.add_column("workflow", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("error", overflow="fold")
    for r in records:
        seconds = f"{(r.ended_at - r.started_at).total_seconds():.3f}" if r.ended_at and r.started_at else ""
        started = r.started_at.strftime("%m-%d %H:%M:%S") if r.started_at else ""
        table.add_row(r.run_id, r.workflow, _colour(_shown_status(r)), started, seconds, (r.error or "")[:80])
    console = Console()
    console.print(table)
    interrupted = [r for r in records if r.interrupted]
    if interrupted:
        batches = sorted({r.batch for r in interrupted if r.batch})
        console.print(
            f"{len(interrupted)} interrupted run(s): the process that ran them is gone. Finish one with "
            f"`slmflow resume RUN_ID`"
            + (f", a whole batch with `slmflow resume --batch {batches[0]}`" if batches else "")
        )


def _shown_status(record: Any) -> str:
    return "interrupted" if record.interrupted else str(record.status)


def _colour(status: str) -> str:
    colour = {
        "succeeded": "green", "failed": "red", "partial": "yellow", "cancelled": "magenta", "interrupted": "red",
    }.get(status)  # fmt: skip
    return f"[{colour}]{status}[/{colour}]" if colour else status


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="The whole record as JSON.")
def runs_show(run_id: str, as_json: bool) -> None:
    """A run's steps: status, attempts, times and errors."""
    from rich.console import Console
    from rich.table import Table

    from orchestrator.owners import HOST
    from orchestrator.serialization import to_jsonable
    from orchestrator.store import default_store

    try:
        record = default_store().get_run(run_id)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    if as_json:
        data = record.model_dump(mode="json", exclude={"result"})
        data["result"] = to_jsonable(record.result)
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()
    console.print(f"run [bold]{record.run_id}[/bold] of [bold]{record.workflow}[/bold]: {_colour(_shown_status(record))}")
    if record.interrupted:
        console.print(
            f"the process that ran it (pid {record.owner_pid} on {record.owner_host}) is gone; "
            f"finish it with `slmflow resume {record.run_id}`"
        )
    elif str(record.status) == "running" and record.owner_host not in (None, HOST):
        console.print(
            f"recorded running by pid {record.owner_pid} on host {record.owner_host}, which cannot be "
            f"checked from here; if that process is gone, `slmflow resume --force {record.run_id}`"
        )
    if record.error:
        console.print(f"error: {record.error}")
    for warning in record.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    table = Table()
    for col in ("step", "status", "attempts", "started", "seconds", "error / note"):
        table.add_column(col)
    for s in record.steps:
        note = f"{s.error_type}: {s.error_message}" if s.error_type else (s.skip_reason or "")
        if s.fallback_used:
            note = f"fallback used; {note}" if note else "fallback used"
        started = s.started_at.strftime("%H:%M:%S.%f")[:-3] if s.started_at else ""
        seconds = f"{s.duration_s:.3f}" if s.duration_s is not None else ""
        table.add_row(s.step, _colour(str(s.status)), str(s.attempts), started, seconds, note[:100])
    console.print(table)


@click.command("resume")
@click.argument("run_id", required=False)
@click.option("--batch", "batch", metavar="BATCH", help="Finish every unfinished run of a batch (`run --inputs`).")
@click.option("--force", is_flag=True, help="Resume even if the run's recorded process looks alive.")
@click.option("--allow-changed-code", is_flag=True, help="Resume even though a step's code changed since the run.")
@click.option("--concurrency", "-c", default=16, show_default=True, help="Runs at once with --batch.")
def resume(run_id: str | None, batch: str | None, force: bool, allow_changed_code: bool, concurrency: int) -> None:
    """Finish run RUN_ID (crashed, cancelled or failed) without re-running finished steps.

    Of several resumes of one run at once, exactly one runs it; the others exit 3.
    """
    from orchestrator.errors import ResumeError, RunBusyError
    from orchestrator.workflow import resume_batch, start_resume

    _quiet_logs()
    if (run_id is None) == (batch is None):
        _fail("give a RUN_ID or --batch BATCH (one of them)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())

    if batch is not None:
        busy: list[str] = []

        def on_busy(rid: str, exc: Exception) -> None:
            busy.append(rid)
            click.echo(f"run {rid} skipped: {exc}", err=True)

        try:
            records = asyncio.run(
                resume_batch(
                    batch, force=force, allow_changed_code=allow_changed_code, concurrency=concurrency,
                    on_done=functools.partial(_emit, index=True), on_busy=on_busy,
                )
            )  # fmt: skip
        except ResumeError as exc:
            _fail(str(exc))
        if busy:
            raise SystemExit(EXIT_BUSY)
        raise SystemExit(EXIT_OK if all(r.succeeded for r in records) else EXIT_RUN_FAILED)

    async def go() -> Any:
        handle = await start_resume(run_id, force=force, allow_changed_code=allow_changed_code)  # type: ignore[arg-type]
        return await handle.wait()

    try:
        record = asyncio.run(go())
    except RunBusyError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_BUSY) from None
    except ResumeError as exc:
        _fail(str(exc))
    _emit(record)
    raise SystemExit(EXIT_OK if record.succeeded else EXIT_RUN_FAILED)


@click.command("graph")
@click.argument("target")
def graph(target: str) -> None:
    """Print the DAG of workflow TARGET as Mermaid text."""
    from orchestrator.errors import DefinitionError, UnstorableValueError

    try:
        wf = load_workflow(target)
    except (DefinitionError, UnstorableValueError) as exc:
        _fail(f"bad workflow definition in {target!r}: {exc}")
    click.echo(wf.mermaid(), nl=False)
