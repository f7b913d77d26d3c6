"""The LLM-to-SLM loop end to end on shipped data: `slmflow specialize-demo`.

    sample LLM log -> migrate analyze -> export a classification group -> train a specialist
    -> evaluate -> deploy it beside MiniLM -> shadow mode on "live" traffic -> readiness report
    -> promote -> live mode: the specialist answers, the LLM only on low confidence

The group's calls are split once by distinct text (seed fixed): 60% train the specialist,
the other 40% are replayed as the live traffic it has never seen. Quality "before" is what
the fleet could do without training: MiniLM zero-shot with label descriptions. No LLM is
reachable offline, so the LLM side is the log itself: `LoggedLLM` answers each live input
with the answer the LLM gave it in the log, at the logged cost. That is the ground truth the
specialist is distilled from, and against which agreement is measured.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel

from agents.protocol import ClassifyResponse, TaskKind, Usage
from orchestrator import step, workflow
from orchestrator.logging import get_logger
from workflows._fleet import AGENT_RETRY

SAMPLE_LOG = Path(__file__).parent / "data" / "llm_calls.jsonl"
SEED = 0
LIVE_FRACTION = 0.4
ENCODER = "minilm"
_log = get_logger(component="specialize-demo")

# Zero-shot label descriptions for the label sets the sample log's classification groups use;
# other labels describe themselves.
DESCRIPTIONS: dict[str, str] = {
    "positive": "positive review, the customer is happy and praises the product",
    "negative": "negative review, the customer is unhappy and complains",
    "neutral": "neutral review, neither good nor bad, average, okay",
    "account": "account access, profile, email change, deleting the account",
    "billing": "invoices, charges, prices, VAT and payments",
    "shipping": "delivery, parcels, couriers and orders in transit",
    "technical": "bugs, errors, crashes and login problems in the app or API",
}


class LoggedLLM:
    """The LLM being replaced, answering from its own log (offline stand-in for the endpoint).

    Every call is accounted like a remote agent's: usage in the run store with the logged
    tokens and cost, marked escalated when reached through an escalation.
    """

    def __init__(self, answers: dict[str, tuple[str, Usage]], name: str = "llm-log", escalated: bool = False) -> None:
        self.name = name
        self._answers = answers
        self.escalated = escalated

    def with_escalated(self, escalated: bool = True) -> LoggedLLM:
        return LoggedLLM(self._answers, self.name, escalated)

    async def classify(self, text: str, labels: list[str], **_: Any) -> ClassifyResponse:
        from agents.usage import record_call

        if text not in self._answers:
            raise KeyError(f"{text[:60]!r} is not in the LLM log")
        label, usage = self._answers[text]
        record_call(self.name, TaskKind.CLASSIFY, usage, None, escalated=self.escalated)
        return ClassifyResponse(label=label, scores={lab: float(lab == label) for lab in labels}, usage=usage)


_STATE: dict[str, Any] = {}


@step(retry=AGENT_RETRY, timeout=60)
async def zero_shot(text: str, labels: list[str]) -> str:
    from agents import agent

    descriptions = {lab: DESCRIPTIONS.get(lab, lab) for lab in labels}
    return (await agent(ENCODER).classify(text, labels=labels, label_descriptions=descriptions)).label


@workflow
def before(text: str, labels: list[str]):
    return zero_shot(text, labels)


@step(retry=AGENT_RETRY, timeout=60)
async def route(text: str, specialist: str, threshold: float, mode: str) -> dict[str, Any]:
    from workflows import shadow

    out = await shadow.classify(text, specialist=specialist, large=_STATE["llm"], threshold=threshold,
                                mode=mode)  # type: ignore[arg-type]
    return {"label": out.value.label, "served_by": out.served_by, "escalated": out.escalated,
            "confidence": out.confidence}


@workflow
def specialized(text: str, specialist: str, threshold: float, mode: str):
    return route(text, specialist, threshold, mode)


class Phase(BaseModel):
    accuracy: float
    calls: int
    llm_calls: int
    escalated: int
    cost_usd: float
    seconds: float


class LoopResult(BaseModel):
    group: str
    group_name: str
    specialist: str
    version: int
    labels: list[str]
    train_rows: int
    live_rows: int
    train_s: float
    eval_metrics: dict[str, Any]
    zero_shot_accuracy: float
    shadow: Phase
    shadow_report: dict[str, Any]
    promoted: bool
    live: Phase | None
    llm_cost_usd: float


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:40] or "specialist"


def _pick_group(analysis: Any, calls: list[Any], key: str | None, work: Path) -> tuple[Any, Path]:
    """The group to specialise: `key`, else the costliest candidate whose answers are labels."""
    from agents.specialists.data import DataError, load_examples
    from workflows.migration import export_group

    groups = [analysis.group(key)] if key else [g for g in analysis.groups if g.candidate and g.source == "log"]
    for g in groups:
        path = work / f"{g.id}.jsonl"
        export_group(analysis, calls, g.id, path)
        try:
            load_examples(path)
        except DataError as exc:
            if key:
                raise click.ClickException(f"group {key} cannot train a classifier: {exc}") from exc
            continue
        return g, path
    raise click.ClickException("no candidate group of the log has label-like answers to train a classifier on")


def _phase(runs: list[Any], gold: list[str], store: Any, seconds: float) -> Phase:
    usage = [u for r in runs for u in store.list_usage(run_id=r.run_id)]
    results = [r.result or {} for r in runs]
    return Phase(
        accuracy=sum(res.get("label") == g for res, g in zip(results, gold, strict=True)) / len(gold),
        calls=len(runs),
        llm_calls=sum(1 for u in usage if u.agent == "llm-log"),
        escalated=sum(1 for res in results if res.get("escalated")),
        cost_usd=sum(u.cost_usd for u in usage),
        seconds=seconds,
    )


def run_loop(*, log: Path = SAMPLE_LOG, group: str | None = None, name: str | None = None, threshold: float = 0.6,
             ready_agreement: float = 0.9, echo: Any = print, keep: bool = False) -> LoopResult:
    """The whole loop; `echo` gets one line per stage."""
    import ray

    from agents.fleet import delete, deploy, deployed_agents
    from agents.spec import FleetSpec, load_fleet
    from agents.specialists import Registry, train_classifier
    from agents.specialists.data import load_examples, split
    from agents.specialists.shadow import default_shadow_store
    from cluster import connect
    from orchestrator import default_store
    from orchestrator.store import slmflow_home
    from workflows.demo import _shutdown
    from workflows.migration import analyze, make_embedder, read_log

    work = slmflow_home() / "specialize-demo" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    calls = read_log(log)
    analysis = analyze(calls, make_embedder("local"))
    g, export = _pick_group(analysis, calls, group, work)
    echo(f"1. migrate analyze: {len(calls)} calls in {len(analysis.groups)} groups; "
         f"{g.id} '{g.name}' ({g.count} calls, {g.spend_share:.0%} of spend) has label answers")
    echo(f"2. migrate export {g.id} -> {export} (PII redacted)")
    data = load_examples(export)
    train_rows, live_rows = split(data.examples, test_fraction=LIVE_FRACTION, seed=SEED)
    parts = {"train": train_rows, "live": live_rows}
    for part, rows in parts.items():
        # Written as migrate export rows: the labels stay the LLM's answers (agreement, not accuracy).
        (work / f"{part}.jsonl").write_text("".join(json.dumps({"messages": [
            {"role": "user", "content": e.text}, {"role": "assistant", "content": e.label}]}) + "\n" for e in rows))
    name = name or _slug(g.name)
    result = train_classifier(name, base=ENCODER, data=work / "train.jsonl", eval_data=work / "live.jsonl",
                              label_descriptions={lab: DESCRIPTIONS.get(lab, lab) for lab in data.labels}, seed=SEED)
    m = result.metrics
    echo(f"3. train {name} v{result.version} on {len(train_rows)} calls in {m['train_s']:.1f} s; on the "
         f"{m['eval_rows']} held-out live calls: agreement with the LLM {m['agreement']:.1%} "
         f"(MiniLM zero-shot {m['zero_shot_accuracy']:.1%})")

    by_text = {c.messages[-1]["content"]: c for c in calls if c.id in set(g.call_ids) and c.messages}
    answers = {e.text: (e.label, Usage(model=by_text[e.text].model, tokens_in=by_text[e.text].tokens_in,
                                       tokens_out=by_text[e.text].tokens_out, cost_usd=by_text[e.text].cost_usd))
               for e in live_rows if e.text in by_text}
    live = [e for e in live_rows if e.text in answers]
    gold = [e.label for e in live]
    _STATE["llm"] = LoggedLLM(answers)

    was_connected = ray.is_initialized()
    info = connect(num_cpus=max(os.cpu_count() or 2, 4)) if not (was_connected or os.environ.get("RAY_ADDRESS")) \
        else connect()
    deployed_before = set(deployed_agents())
    encoder = load_fleet().get(ENCODER).model_dump(mode="json", exclude_unset=True)
    # Pinned to the version just trained: an earlier run may have promoted another one.
    specialist = {**encoder, "name": name, "model": f"specialist:{name}@v{result.version}",
                  "description": f"trained on {g.id} '{g.name}' of the LLM log"}
    fleet = FleetSpec(agents=[encoder, specialist])
    registry = Registry()
    try:
        if deployed_before and not set(fleet.names) <= deployed_before:
            raise click.ClickException(
                f"a fleet is already deployed ({', '.join(sorted(deployed_before))}); the demo deploys its own "
                "(minilm and the specialist) and would replace it. Run it on a fresh Ray (unset RAY_ADDRESS).")
        t = time.perf_counter()
        deploy(fleet)
        echo(f"4. deploy: {ENCODER} and {name} (model: specialist:{name}@v{result.version}) in "
             f"{time.perf_counter() - t:.1f} s")
        store = default_store()
        texts = [e.text for e in live]
        runs = before.run_many([{"text": t_, "labels": result.labels} for t_ in texts], concurrency=16)
        zs = sum((r.result == gold_) for r, gold_ in zip(runs, gold, strict=True)) / len(gold)
        echo(f"5. before: MiniLM zero-shot with label descriptions on {len(live)} live calls: {zs:.1%} agree with the LLM")

        t = time.perf_counter()
        runs = specialized.run_many(
            [{"text": t_, "specialist": name, "threshold": threshold, "mode": "shadow"} for t_ in texts],
            concurrency=16)
        shadow_phase = _phase(runs, gold, store, time.perf_counter() - t)
        report = default_shadow_store().report(name, version=result.version, threshold=ready_agreement,
                                               min_calls=len(live))
        echo(f"6. shadow mode: the LLM answered {shadow_phase.llm_calls} calls, {name} beside it; "
             f"`slmflow specialists report {name} --threshold {ready_agreement} --min-calls {len(live)}`: {report.verdict}")
        live_phase = None
        if report.ready:
            registry.promote(name, result.version)
            t = time.perf_counter()
            runs = specialized.run_many(
                [{"text": t_, "specialist": name, "threshold": threshold, "mode": "live"} for t_ in texts],
                concurrency=16)
            live_phase = _phase(runs, gold, store, time.perf_counter() - t)
            echo(f"7. promoted v{result.version}; live mode: {name} answered {len(live) - live_phase.escalated} calls, "
                 f"escalated {live_phase.escalated} under confidence {threshold} to the LLM; "
                 f"agreement with the LLM {live_phase.accuracy:.1%}")
        else:
            echo(f"7. not promoted: {report.verdict}")
        return LoopResult(
            group=g.id, group_name=g.name, specialist=name, version=result.version, labels=result.labels,
            train_rows=len(train_rows), live_rows=len(live), train_s=m["train_s"], eval_metrics=m,
            zero_shot_accuracy=zs, shadow=shadow_phase, shadow_report=report.model_dump(), promoted=report.ready,
            live=live_phase, llm_cost_usd=sum(u.cost_usd for _, u in answers.values()),
        )
    finally:
        if not keep:
            _shutdown(info.started_here and not was_connected, fleet_was_ours=not deployed_before, delete=delete)


@click.command("specialize-demo")
@click.option("--log", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=SAMPLE_LOG,
              show_default=False, help="OpenAI-style LLM call log (default: the shipped sample).")
@click.option("--group", default=None, help="Group to specialise (id like g3; default: the costliest label-like candidate).")
@click.option("--name", default=None, help="Specialist name (default: from the group's name).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.6, show_default=True,
              help="Live mode escalates to the LLM under this confidence.")
@click.option("--ready-agreement", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Shadow agreement needed before promotion.")
@click.option("--keep", is_flag=True, help="Leave Ray and the fleet running afterwards.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object on the last line.")
def specialize_demo(log: Path, group: str | None, name: str | None, threshold: float, ready_agreement: float,
                    keep: bool, as_json: bool) -> None:
    """The LLM-to-SLM loop on shipped data: analyze, export, train, evaluate, deploy, shadow, promote."""
    from workflows.cli import _quiet_logs

    _quiet_logs()
    t0 = time.perf_counter()
    result = run_loop(log=log, group=group, name=name, threshold=threshold, ready_agreement=ready_agreement,
                      echo=(lambda s: click.echo(s, err=True)) if as_json else click.echo, keep=keep)
    if as_json:
        click.echo(result.model_dump_json())
        return
    after = result.live
    click.echo(f"\nQuality on {result.live_rows} live calls the specialist never saw (agreement with the LLM's answers):")
    rows = [("before", "MiniLM zero-shot, label descriptions", f"{result.zero_shot_accuracy:.1%}"),
            ("shadow", f"{result.specialist} v{result.version} alone", f"{result.shadow_report['agreement']:.1%}")]
    if after is not None:
        rows.append(("after", f"{result.specialist} live, LLM on escalations",
                     f"{after.accuracy:.1%} ({after.escalated} of {after.calls} escalated)"))
    width = max(len(r[1]) for r in rows)
    for phase, who, score in rows:
        click.echo(f"  {phase:7} {who:{width}}  {score}")
    if after is not None:
        click.echo(f"LLM spend on these calls: ${result.llm_cost_usd:.4f} before, ${after.cost_usd:.6f} after "
                   "(escalations at the logged price plus the specialist's token price)")
    click.echo(f"done in {time.perf_counter() - t0:.0f} s; the specialist stays in the registry: "
               f"`slmflow specialists show {result.specialist}`")


__all__ = ["LoggedLLM", "LoopResult", "run_loop", "specialize_demo"]
