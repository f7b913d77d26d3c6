"""Accounting of agent calls in the run store, for local fleet agents and remote ones alike."""

from __future__ import annotations

from agents.protocol import TaskKind, Usage
from orchestrator import UsageRecord, current_step
from orchestrator.logging import get_logger

log = get_logger(component="agents.usage")


def record_call(name: str, task: TaskKind, usage: Usage | None, error: str | None, *, escalated: bool = False) -> None:
    """Store one call's usage, tagged with the run and step, when it is made inside a step."""
    ctx = current_step()
    if ctx is None:
        return
    usage = usage or Usage()
    try:
        ctx.record_usage(
            UsageRecord(
                run_id=ctx.run_id,
                step=ctx.step,
                agent=name,
                task=task.value,
                model=usage.model,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                queue_ms=usage.queue_ms,
                compute_ms=usage.compute_ms,
                replica_id=usage.replica_id,
                cost_usd=usage.cost_usd,
                escalated=escalated,
                error=error,
            )
        )
    except Exception as exc:  # accounting must never fail the call it accounts for
        log.warning("usage not recorded", agent=name, task=task.value, error=str(exc))
