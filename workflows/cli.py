"""`slmflow demo` and `slmflow migrate`: the commands of the workflows package."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from workflows.migration import Analysis, Call

SAMPLE_LOG = Path(__file__).parent / "data" / "llm_calls.jsonl"


@click.group()
def migrate() -> None:
    """LLM-to-SLM migration: find task groups worth moving to a specialist, export their data."""
    _quiet_logs()


def _load(log: Path | None, from_store: bool, via: str, k: int | None, specialist_price: float,
          min_calls: int) -> tuple[Analysis, list[Call]]:
    from workflows.migration import (
        LogError,
        Specialist,
        Thresholds,
        analyze,
        make_embedder,
        read_log,
        read_store,
    )

    pii: Counter[str] = Counter()
    calls: list[Call] = []
    try:
        if log is not None or not from_store:
            path = log or SAMPLE_LOG
            if log is None:
                click.echo(f"(no --log given: analysing the shipped sample log {path})", err=True)
            calls.extend(read_log(path, pii_counts=pii))
        if from_store:
            calls.extend(read_store())
    except LogError as exc:
        raise click.ClickException(str(exc)) from exc
    if not calls:
        raise click.ClickException("no calls to analyse: the run store holds no agent usage yet (run a workflow first)")
    embedder = make_embedder(via) if any(c.group_hint is None for c in calls) else None
    analysis = analyze(calls, embedder, k=k, pii_counts=pii, specialist=Specialist(usd_per_1k_tokens=specialist_price),
                       thresholds=Thresholds(min_calls=min_calls))
    return analysis, calls


_common = [
    click.option("--log", "log", type=click.Path(path_type=Path), default=None,
                 help="JSONL of OpenAI-style request/response records (default: the shipped sample)."),
    click.option("--from-store", is_flag=True, help="Also analyse agent usage recorded in the run store."),
    click.option("--via", type=click.Choice(["auto", "local", "cluster"]), default="auto", show_default=True,
                 help="Embed through the deployed minilm agent (cluster) or in-process (local)."),
    click.option("--k", type=int, default=None, help="Number of groups (default: chosen by silhouette)."),
    click.option("--specialist-price", type=float, default=0.001, show_default=True,
                 help="Specialist SLM price, $ per 1K tokens, for the projection."),
    click.option("--min-calls", type=int, default=20, show_default=True,
                 help="A group needs this many calls to count as frequent."),
]


def _with_common(fn: Any) -> Any:
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@migrate.command("analyze")
@_with_common
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON.")
def analyze_cmd(log: Path | None, from_store: bool, via: str, k: int | None, specialist_price: float,
                min_calls: int, as_json: bool) -> None:
    """Redact PII, group calls into task types and report SLM candidates per group."""
    analysis, _ = _load(log, from_store, via, k, specialist_price, min_calls)
    if as_json:
        click.echo(analysis.model_dump_json(indent=1, exclude={"groups": {"__all__": {"call_ids"}}}))
        return
    _print_analysis(analysis)


def _print_analysis(a: Analysis) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"{a.total_calls} calls, ${a.total_cost_usd:.4f} spend, {len(a.groups)} groups"
                  + (f" (k by silhouette {a.silhouette:.2f})" if a.silhouette is not None else ""))
    for col in ("group", "name", "calls", "spend", "p50 ms", "tok in/out", "SLM candidate", "on specialist"):
        table.add_column(col, justify="right" if col in ("calls", "spend", "p50 ms") else "left",
                         overflow="fold")
    for g in a.groups:
        flags = ", ".join(r.split(" ")[0] for r in g.reasons)
        table.add_row(
            g.id, g.name, str(g.count), f"{g.spend_share:.0%}", f"{g.p50_latency_ms:.0f}",
            f"{g.mean_tokens_in:.0f}/{g.mean_tokens_out:.0f}",
            ("[green]yes[/]: " if g.candidate else "[yellow]no[/]: ") + flags,
            f"${g.projected_cost_usd:.4f} (-{g.saving_share:.0%}), {g.projected_p50_latency_ms:.0f} ms",
        )
    console.print(table)
    for g in a.groups:
        if g.example is not None:
            console.print(f"[bold]{g.id}[/] example: {g.example.prompt[:160]!r} -> {g.example.response[:80]!r}",
                          highlight=False, markup=True)
    console.print(f"PII redacted before analysis: {a.pii_redacted or 'none found'}")
    console.print(f"Candidates: ${a.candidate_cost_usd:.4f} of spend -> ${a.candidate_projected_cost_usd:.4f} "
                  "on specialists. Export one with: slmflow migrate export GROUP -o data.jsonl")


@migrate.command("export")
@click.argument("group")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="JSONL file to write.")
@_with_common
def export_cmd(group: str, output: Path, log: Path | None, from_store: bool, via: str, k: int | None,
               specialist_price: float, min_calls: int) -> None:
    """Write GROUP (id like g2, or its name) as a chat-format fine-tuning JSONL (PII redacted)."""
    from workflows.migration import export_group

    analysis, calls = _load(log, from_store, via, k, specialist_price, min_calls)
    try:
        n = export_group(analysis, calls, group, output)
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc.args[0]) if exc.args else str(exc)) from exc
    click.echo(f"wrote {n} examples of group {group} to {output}")


def _quiet_logs() -> None:
    """CLI output is the tables; engine/agent logs go to stderr only at WARNING unless asked."""
    from orchestrator.logging import configure_logging

    configure_logging(level=os.environ.get("SLMFLOW_LOG_LEVEL", "WARNING"))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import logging

    for name in ("ray", "ray.serve", "cluster"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


@click.command()
@click.option("--inbox", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSONL of emails (sender, subject, body); default: the shipped sample inbox of 30 emails.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Triage only the first N emails.")
@click.option("--concurrency", type=click.IntRange(min=1), default=16, show_default=True, help="Runs at once.")
@click.option("--reference-price", type=float, default=0.03, show_default=True,
              help="Reference LLM price in $ per 1K tokens to compare the run's cost with.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the HTML report (default: $SLMFLOW_HOME/reports/demo-<time>.html).")
@click.option("--keep", is_flag=True, help="Leave Ray and the fleet running afterwards.")
@click.option("--escalate-to", metavar="URL", default=None,
              help="OpenAI-compatible endpoint of a larger model for mails MiniLM is unsure about.")
@click.option("--escalate-model", default=None, help="Model name at --escalate-to.")
@click.option("--escalate-threshold", type=click.FloatRange(0, 1), default=0.75, show_default=True,
              help="Escalate classifications whose top score is under this.")
def demo(inbox: Path | None, limit: int | None, concurrency: int, reference_price: float, report: Path | None,
         keep: bool, escalate_to: str | None, escalate_model: str | None, escalate_threshold: float) -> None:
    """Start a local Ray, deploy the default fleet, triage a sample inbox, print costs, write a report."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workflows.demo import INBOX, DemoOptions, is_progress_event, load_inbox, run_demo

    _quiet_logs()
    console = Console()
    if escalate_to:
        if not escalate_model:
            raise click.UsageError("--escalate-to needs --escalate-model")
        # The workflow reads its escalation target from the environment (see workflows._fleet.EscalationConfig).
        os.environ.update(SLMFLOW_ESCALATE_URL=escalate_to, SLMFLOW_ESCALATE_MODEL=escalate_model,
                          SLMFLOW_ESCALATE_THRESHOLD=str(escalate_threshold))
    try:
        options = DemoOptions(inbox=inbox or INBOX, limit=limit, concurrency=concurrency,
                              reference_usd_per_1k=reference_price, report=report, keep=keep)
        n = len(load_inbox(options.inbox, options.limit))
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    from orchestrator import EventKind

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=console)
    with console.status("starting Ray and deploying the default fleet (smollm2, minilm)...") as status:
        state: dict[str, Any] = {}

        def on_event(event: Any) -> None:
            if "emails" not in state:
                status.stop()
                progress.start()
                state["emails"] = progress.add_task("emails triaged", total=n)
                state["steps"] = progress.add_task("steps done", total=None)
            if event.kind is EventKind.RUN_FINISHED:
                progress.advance(state["emails"])
            elif is_progress_event(event.kind):
                progress.advance(state["steps"])

        try:
            result = run_demo(options, progress=on_event)
        finally:
            progress.stop()
    _print_demo(console, result, n)


def _print_demo(console: Any, result: Any, n: int) -> None:
    from rich.table import Table

    statuses = Counter(str(r.status.value) for r in result.runs)
    console.print(f"\n[bold]Triaged {n} emails[/] in {result.workflow_s:.1f} s "
                  f"(deploy {result.deploy_s:.1f} s, total {result.wall_s:.1f} s): {dict(statuses)}")
    console.print("[bold]Some results[/] (real model outputs: MiniLM classifies, SmolLM2-135M extracts and drafts)")
    shown_spam = shown = 0
    for r in result.runs:
        out = r.result or {}
        is_spam = out.get("category") == "spam"
        if (is_spam and shown_spam >= 1) or (not is_spam and shown >= 3):
            continue
        shown_spam, shown = shown_spam + is_spam, shown + (not is_spam)
        fields = out.get("fields") or {}
        orders = ", ".join(fields.get("order_ids", [])) or "-"
        console.print(f"- [cyan]{str(r.inputs.get('subject', ''))[:60]}[/] -> {out.get('category')} "
                      f"({out.get('confidence')}), {out.get('action')}; orders: {orders}; "
                      f"intent: {fields.get('intent', '-')!r}, urgency: {fields.get('urgency', '-')}",
                      highlight=False)
        if out.get("reply"):
            console.print(f"    reply: {out['reply'][:200]!r}", highlight=False)
    table = Table(title="Per agent")
    table.add_column("agent", no_wrap=True)
    for col in ("calls", "p50 ms", "p95 ms", "tok in", "tok out", "cost $", "esc", "err"):
        table.add_column(col, justify="right", no_wrap=True)
    for s in result.agents:
        table.add_row(s.agent, str(s.calls), f"{s.p50_ms:.0f}", f"{s.p95_ms:.0f}", str(s.tokens_in), str(s.tokens_out),
                      f"{s.cost_usd:.2g}", str(s.escalated), str(s.errors))
    console.print(table)
    c = result.cost
    console.print(f"Measured: {c.measured_text()}.", highlight=False)
    console.print(f"Priced: {c.price_text()}.", highlight=False)
    console.print(f"Report: [bold]{result.report}[/]")
