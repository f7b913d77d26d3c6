"""`slmflow train` and `slmflow specialists ...`: train, inspect, promote and roll back specialists.

Heavy imports (torch, scikit-learn, Ray) happen inside the commands that need them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

TASKS = ("classify", "extract", "tool_call", "chat")


def _quiet() -> None:
    from orchestrator.logging import configure_logging

    configure_logging(level=os.environ.get("SLMFLOW_LOG_LEVEL", "WARNING"))
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass


def _registry() -> Any:
    from agents.specialists import Registry

    return Registry()


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc.args[0]) if exc.args else str(exc))


@click.command("train")
@click.argument("name")
@click.option("--task", type=click.Choice(TASKS), default="classify", show_default=True,
              help="What the specialist does: classify trains a head over an encoder (minilm); extract, "
                   "tool_call and chat train a LoRA adapter on a GGUF causal base (smollm2).")
@click.option("--base", required=True, help="An agent of the fleet (e.g. minilm) or a model reference (path, package:...).")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path),
              help='JSONL of {"text","label"} rows, or a file `slmflow migrate export` wrote (the LLM\'s answers are the labels).')
@click.option("--eval", "eval_data", type=click.Path(path_type=Path), default=None,
              help="JSONL to evaluate on (default: a held-out split of --data, fixed by --seed).")
@click.option("--label-descriptions", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON object label -> description: one more training example per label, and the "
                   "zero-shot baseline the report compares with.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-out split and the folds.")
@click.option("--test-fraction", type=click.FloatRange(0.05, 0.9), default=0.2, show_default=True,
              help="Share of distinct texts held out when no --eval is given.")
@click.option("--fleet", "fleet_file", type=click.Path(dir_okay=False), default=None,
              help="Fleet file where --base names an agent (default: $SLMFLOW_FLEET or the shipped fleet).")
@click.option("--threads", type=int, default=0, help="torch CPU threads (0: torch's default).")
@click.option("--epochs", type=click.IntRange(1, 100), default=2, show_default=True, help="LoRA: passes over --data.")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="LoRA: learning rate.")
@click.option("--rank", type=click.IntRange(1, 256), default=8, show_default=True, help="LoRA: adapter rank.")
@click.option("--extractive/--no-extractive", default=None,
              help="extract/tool_call: hold free string fields to verbatim spans of the input when served "
                   "(default: on when every answer of --data copies its input).")
@click.option("--method", type=click.Choice(["head", "finetune"]), default="head", show_default=True,
              help="classify: a head over the frozen encoder, or first fine-tune the encoder's top layers on --data.")
@click.option("--refit", is_flag=True,
              help="classify without --eval: once the held-out split is scored, fit the saved head on every row "
                   "(the report describes the head fitted without the held-out rows).")
@click.option("--router", default=None, metavar="ENCODER",
              help="tool_call: also train a tool router over this encoder (e.g. minilm) on the same rows; served "
                   "with the adapter, it picks the tool where it is sure and the LoRA fills the arguments.")
@click.option("--router-theta", type=click.FloatRange(0.0, 1.0), default=None,
              help="tool_call with --router: the router's least top probability to decide the tool [default: 0.95].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object on the last line.")
def train(name: str, task: str, base: str, data: Path, eval_data: Path | None, label_descriptions: Path | None,
          seed: int, test_fraction: float, fleet_file: str | None, threads: int, epochs: int, lr: float, rank: int,
          extractive: bool | None, method: str, refit: bool, router: str | None, router_theta: float | None,
          as_json: bool) -> None:
    """Train specialist NAME on --data over --base; each run is a new version under $SLMFLOW_HOME/specialists."""
    _quiet()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from agents.errors import AgentError
    from agents.specialists.data import DataError
    from agents.specialists.registry import RegistryError
    from agents.specialists.train import TrainError, train_classifier

    if refit and task != "classify":
        raise click.ClickException(f"--refit goes with --task classify, not {task}")
    if task != "tool_call" and (router is not None or router_theta is not None):
        raise click.ClickException(f"--router and --router-theta go with --task tool_call, not {task}")
    descriptions = None
    if label_descriptions is not None:
        try:
            descriptions = json.loads(label_descriptions.read_text())
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"--label-descriptions {label_descriptions}: not a JSON object: {exc}") from exc
        if not isinstance(descriptions, dict) or not all(isinstance(v, str) for v in descriptions.values()):
            raise click.ClickException(f"--label-descriptions {label_descriptions}: expected {{label: description}}")
    fleet = None
    if fleet_file is not None:
        from agents.spec import load_fleet

        try:
            fleet = load_fleet(fleet_file)
        except AgentError as exc:
            raise _fail(exc) from exc
    console = Console(stderr=True)
    tasks: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=as_json) as progress:

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            if task == "classify":
                result = train_classifier(name, base=base, data=data, eval_data=eval_data, fleet=fleet,
                                          label_descriptions=descriptions, seed=seed, test_fraction=test_fraction,
                                          threads=threads, progress=on_progress, method=method, refit=refit)
            else:
                from agents.specialists.adapters import train_adapter

                result = train_adapter(name, task=task, base=base, data=data, eval_data=eval_data, fleet=fleet,
                                       seed=seed, test_fraction=test_fraction, epochs=epochs, lr=lr, rank=rank,
                                       threads=threads, progress=on_progress, extractive=extractive,
                                       router=router, router_theta=router_theta)
        except (DataError, TrainError, RegistryError, AgentError) as exc:
            raise _fail(exc) from exc
    m = result.metrics
    if not as_json and task != "classify":
        scores = ", ".join(f"{k} {m[k]:.1%}" for k in ("schema_valid", "exact_fields", "tool_accuracy", "exact_match")
                           if k in m)
        before = ", ".join(f"{k} {v:.1%}" for k, v in m.get("base", {}).items() if isinstance(v, float))
        click.echo(f"trained {result.name} v{result.version} (LoRA, {task}) in {m['train_s']:.1f} s -> {result.path}")
        how = "extractive, " if m.get("extractive") else ""
        click.echo(f"evaluated on {m['eval_rows']} rows ({m['eval_source']}) through llama.cpp ({how}under the grammar): {scores}"
                   + (f"; base model without the adapter: {before}" if before else ""))
        if "router" in m:
            r = m["router"]
            right = f", {r['decided_accuracy']:.1%} of them rightly" if r["decided_accuracy"] is not None else ""
            click.echo(f"the router (theta {r['theta']}) chose the tool for {r['decided']:.1%} of the rows{right}; "
                       f"the adapter alone: tool_accuracy {r['adapter_alone']['tool_accuracy']:.1%}, "
                       f"exact_match {r['adapter_alone']['exact_match']:.1%}")
        click.echo(f"serve it: `slmflow specialists promote {name}` and `adapters: [specialist:{name}]` on the base "
                   f"agent; call with adapter={name!r}")
    elif not as_json:
        click.echo(f"trained {result.name} v{result.version} ({len(result.labels)} labels: {', '.join(result.labels)}) "
                   f"in {m['train_s']:.1f} s -> {result.path}")
        click.echo(f"evaluated on {m['eval_rows']} rows ({m['eval_source']}): accuracy {m.get('accuracy', 0):.1%}"
                   + (f", agreement with the LLM {m['agreement']:.1%}" if "agreement" in m else "")
                   + (f"; {base} zero-shot {m['zero_shot_accuracy']:.1%}" if "zero_shot_accuracy" in m else ""))
        click.echo(f"serve it: `slmflow specialists promote {name}` and an agent with `model: specialist:{name}`")
    click.echo(json.dumps({"name": result.name, "version": result.version, "metrics": m}))


@click.group("specialists")
def specialists() -> None:
    """Trained specialists: versions, promotion, rollback and shadow-mode readiness."""


@specialists.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(as_json: bool) -> None:
    """Every specialist with its versions and the promoted one."""
    reg = _registry()
    rows = []
    for name in reg.names():
        meta = reg.meta(name)
        rows.append({"name": name, "versions": reg.versions(name), "promoted": reg.promoted(name), "task": meta.task,
                     "labels": len(meta.labels), "base": meta.base, "accuracy": meta.metrics.get("accuracy")})
    if as_json:
        click.echo(json.dumps(rows))
        return
    if not rows:
        click.echo(f"no specialists under {reg.root}; train one with `slmflow train NAME --base minilm --data FILE`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"specialists in {reg.root}")
    for col in ("name", "task", "versions", "promoted", "labels", "base", "accuracy"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["task"], ", ".join(f"v{v}" for v in r["versions"]),
                      f"v{r['promoted']}" if r["promoted"] else "-", str(r["labels"]), r["base"],
                      f"{r['accuracy']:.1%}" if r["accuracy"] is not None else "-")
    Console().print(table)


@specialists.command("show")
@click.argument("name")
@click.option("--version", type=int, default=None, help="Default: the promoted version, else the newest.")
@click.option("--json", "as_json", is_flag=True)
def show_cmd(name: str, version: int | None, as_json: bool) -> None:
    """One version's record: data hash, base, hyper-parameters, labels, eval report."""
    from agents.specialists.registry import RegistryError

    reg = _registry()
    try:
        meta = reg.meta(name, version)
        promoted = reg.promoted(name)
    except RegistryError as exc:
        raise _fail(exc) from exc
    if as_json:
        click.echo(meta.model_dump_json())
        return
    m = meta.metrics
    click.echo(f"{meta.tag}{' (promoted)' if promoted == meta.version else ''}: {meta.task} by {meta.method}, "
               f"trained {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(meta.created_at))}")
    click.echo(f"  folder:  {reg.version_dir(name, meta.version)}")
    click.echo(f"  base:    {meta.base} ({meta.base_model})")
    click.echo(f"  labels:  {', '.join(meta.labels)}")
    click.echo(f"  data:    {meta.data.path} ({meta.data.rows} rows, {meta.data.format}, sha256 {meta.data.sha256[:16]})")
    if meta.eval_data:
        click.echo(f"  eval:    {meta.eval_data.path} ({meta.eval_data.rows} rows, sha256 {meta.eval_data.sha256[:16]})")
    hp = _without_cv(meta.hyperparameters)
    if isinstance(hp.get("router"), dict):
        hp["router"] = _without_cv(hp["router"])
    click.echo(f"  params:  {json.dumps(hp)}")
    click.echo(f"  metrics: {_scores(meta)} on {m.get('eval_rows')} rows ({m.get('eval_source')})"
               + (f", agreement {m['agreement']}" if "agreement" in m else "")
               + (f", zero-shot {m['zero_shot_accuracy']}" if "zero_shot_accuracy" in m else "")
               + f", trained in {m.get('train_s')} s")
    if isinstance(m.get("router"), dict):
        r = m["router"]
        click.echo(f"  router:  theta {r['theta']}, chose the tool for {r['decided']} of the rows "
                   f"({r['decided_accuracy']} rightly); the adapter alone: {json.dumps(r['adapter_alone'])}")


def _without_cv(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters without the cross-validation tables (``show --json`` has them)."""
    return {k: v for k, v in params.items() if not k.startswith("cv_")}


def _scores(meta: Any) -> str:
    """The headline scores of a version: accuracy for a head, the task's scores for a LoRA."""
    keys = ("accuracy",) if meta.method != "lora" else ("schema_valid", "exact_fields", "tool_accuracy", "exact_match")
    return ", ".join(f"{k} {meta.metrics.get(k)}" for k in keys if k in meta.metrics or k == "accuracy")


def _after_promotion(name: str, meta: Any, fleet_file: str | None, address: str | None, redeploy_: bool) -> None:
    click.echo(f"{name}: serving v{meta.version} from now on ({_scores(meta)})")
    if not redeploy_:
        command = f"slmflow agents deploy {fleet_file or ''}".strip()
        click.echo(f"not redeployed (--no-redeploy); run `{command}` to serve it")
        return
    from agents.specialists.serving import redeploy

    outcome = redeploy(name, fleet_file, address=address)
    click.echo(outcome.message)


_redeploy_options = [
    click.option("--fleet", "fleet_file", type=click.Path(dir_okay=False), default=None,
                 help="Fleet file of the deployed application (default: $SLMFLOW_FLEET or the shipped fleet)."),
    click.option("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS, else `ray start`'s)."),
    click.option("--redeploy/--no-redeploy", "redeploy_", default=True, show_default=True,
                 help="Redeploy the agents serving this specialist when their fleet is the deployed one."),
]


def _with_redeploy(fn: Any) -> Any:
    for opt in reversed(_redeploy_options):
        fn = opt(fn)
    return fn


@specialists.command("promote")
@click.argument("name")
@click.option("--version", type=int, default=None, help="Default: the newest version.")
@_with_redeploy
def promote_cmd(name: str, version: int | None, fleet_file: str | None, address: str | None, redeploy_: bool) -> None:
    """Serve VERSION of NAME (default: the newest); redeploys the agents serving it, only them."""
    _quiet()
    from agents.specialists.registry import RegistryError

    try:
        meta = _registry().promote(name, version)
    except RegistryError as exc:
        raise _fail(exc) from exc
    _after_promotion(name, meta, fleet_file, address, redeploy_)


@specialists.command("rollback")
@click.argument("name")
@_with_redeploy
def rollback_cmd(name: str, fleet_file: str | None, address: str | None, redeploy_: bool) -> None:
    """Serve the version promoted before the current one again."""
    _quiet()
    from agents.specialists.registry import RegistryError

    try:
        meta = _registry().rollback(name)
    except RegistryError as exc:
        raise _fail(exc) from exc
    _after_promotion(name, meta, fleet_file, address, redeploy_)


@specialists.command("report")
@click.argument("name")
@click.option("--version", type=int, default=None, help="Default: the version recorded last.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Agreement with the LLM needed.")
@click.option("--min-calls", type=click.IntRange(min=1), default=50, show_default=True,
              help="Shadow calls needed before the agreement counts.")
@click.option("--json", "as_json", is_flag=True)
def report_cmd(name: str, version: int | None, threshold: float, min_calls: int, as_json: bool) -> None:
    """Shadow-mode agreement of NAME with the LLM, and whether it is ready to take over."""
    from agents.specialists.shadow import default_shadow_store

    rep = default_shadow_store().report(name, version=version, threshold=threshold, min_calls=min_calls)
    if as_json:
        click.echo(rep.model_dump_json())
        return
    tag = name + (f" v{rep.version}" if rep.version is not None else "")
    click.echo(f"{tag}: {rep.shadow_calls} shadow calls, {rep.compared} compared, {rep.agreed} agreed"
               + (f" ({rep.agreement:.1%})" if rep.agreement is not None else "")
               + f"; live calls {rep.live_calls}, escalated {rep.escalated}; errors {rep.errors}")
    if rep.disagreements:
        top = ", ".join(f"{k}: {v}" for k, v in list(rep.disagreements.items())[:5])
        click.echo(f"disagreements (specialist -> LLM): {top}")
    click.echo(rep.verdict)
