"""The main job: a local Ray, the default fleet, email triage over a sample inbox, a report.

    slmflow demo [--limit 10] [--reference-price 0.03] [--report demo.html]

Everything it starts (an embedded Ray, the fleet application) it shuts down at the end;
a fleet that was already deployed on a cluster it joined is left as it was.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from orchestrator import EventKind, RunRecord, UsageRecord, default_store
from orchestrator.logging import get_logger
from workflows.report import (
    REFERENCE_USD_PER_1K,
    AgentStats,
    CostComparison,
    agent_stats,
    cost_comparison,
    write_report,
)

INBOX = Path(__file__).parent / "data" / "email_triage.jsonl"
_log = get_logger(component="demo")


class DemoOptions(BaseModel):
    inbox: Path = INBOX
    limit: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=16, ge=1)
    reference_usd_per_1k: float = Field(default=REFERENCE_USD_PER_1K, gt=0)
    report: Path | None = None
    keep: bool = False


class DemoResult(BaseModel):
    runs: list[RunRecord]
    usage: list[UsageRecord]
    agents: list[AgentStats]
    cost: CostComparison
    report: Path
    wall_s: float
    deploy_s: float
    workflow_s: float


def load_inbox(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
    return rows[:limit] if limit else rows


def run_demo(options: DemoOptions, progress: Any = None) -> DemoResult:
    """Connect, deploy, triage the inbox, account and report; `progress(event)` sees engine events."""
    import ray

    from agents.fleet import delete, deploy, deployed_agents
    from agents.spec import load_fleet
    from cluster import connect
    from workflows.email_triage import email_triage

    started = time.perf_counter()
    was_connected = ray.is_initialized()
    info = connect(num_cpus=max(os.cpu_count() or 2, 4)) if not (was_connected or os.environ.get("RAY_ADDRESS")) \
        else connect()
    fleet = load_fleet()
    deployed_before = set(deployed_agents())
    try:
        t = time.perf_counter()
        # A fleet already serving every agent (say, on a shared cluster) is used as it is: redeploying
        # the default fleet over it would remove the other agents of the application.
        if not set(fleet.names) <= deployed_before:
            deploy(fleet)
        deploy_s = time.perf_counter() - t
        emails = load_inbox(options.inbox, options.limit)
        t = time.perf_counter()
        runs = email_triage.run_many(emails, concurrency=options.concurrency, on_event=progress)
        workflow_s = time.perf_counter() - t
        store = default_store()
        usage = [u for r in runs for u in store.list_usage(run_id=r.run_id)]
        report = options.report or Path(os.environ.get("SLMFLOW_HOME", Path.home() / ".slmflow")) / "reports" / (
            f"demo-{time.strftime('%Y%m%d-%H%M%S')}.html")
        threads = cpu_threads(fleet)
        write_report(report, title=f"slmflow demo: email triage of {len(runs)} emails", mermaid=email_triage.mermaid(),
                     runs=runs, usage=usage, reference_usd_per_1k=options.reference_usd_per_1k, wall_s=workflow_s,
                     threads=threads)
        return DemoResult(runs=runs, usage=usage, agents=agent_stats(usage),
                          cost=cost_comparison(usage, options.reference_usd_per_1k, threads), report=report.resolve(),
                          wall_s=time.perf_counter() - started, deploy_s=deploy_s, workflow_s=workflow_s)
    finally:
        if not options.keep:
            _shutdown(info.started_here and not was_connected, fleet_was_ours=not deployed_before, delete=delete)


def cpu_threads(fleet: Any) -> dict[str, int]:
    """Engine threads of each CPU-only agent (as `agents.runtime` picks them), for CPU-seconds.

    GPU agents are left out: their compute time is not CPU time.
    """
    return {a.name: a.threads or max(1, int(a.resources.num_cpus))
            for a in fleet.agents if a.resources.num_gpus is None}


def _shutdown(ray_was_ours: bool, fleet_was_ours: bool, delete: Any) -> None:
    import ray

    from agents.client import forget_handles

    forget_handles()
    if fleet_was_ours:
        try:
            delete()
        except Exception as exc:  # shutting down must not hide the demo's own outcome
            _log.warning("fleet delete failed", error=str(exc))
    if ray_was_ours:
        from ray import serve

        serve.shutdown()
        ray.shutdown()


def is_progress_event(kind: EventKind) -> bool:
    return kind in (EventKind.STEP_FINISHED, EventKind.STEP_SKIPPED)
