"""`slmflow demo` and `slmflow migrate`: the commands of the workflows package."""

from __future__ import annotations

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
    for col in ("group", "name", "calls", "spend", "p50 ms", "tok in/out", "SLM candidate", "projected $ / p50 ms"):
        table.add_column(col, justify="right" if col in ("calls", "spend", "p50 ms") else "left")
    for g in a.groups:
        table.add_row(
            g.id, g.name, str(g.count), f"{g.spend_share:.0%}", f"{g.p50_latency_ms:.0f}",
            f"{g.mean_tokens_in:.0f}/{g.mean_tokens_out:.0f}",
            ("[green]yes[/]" if g.candidate else "[yellow]no[/]") + "\n" + "; ".join(g.reasons),
            f"${g.projected_cost_usd:.4f} (-{g.saving_share:.0%})\n{g.projected_p50_latency_ms:.0f} ms",
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
