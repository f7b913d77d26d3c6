"""Specialists for extraction and tool choice, before and after, on held-out test files.

(a) extraction: a LoRA adapter on SmolLM2 trained on `order_extraction.train.jsonl`, scored on
    `order_extraction.test.jsonl` (unseen templates, names, products) through the llama_cpp
    serving path, with and without the adapter: schema_valid, exact_fields, exact_match;
(b) tool choice (4 tools): MiniLM zero-shot over the tool descriptions vs a trained head
    over MiniLM (`tool_choice.*.jsonl`, the tool name as the label); with --tool-lora, also a
    LoRA tool_call adapter on SmolLM2 (tool accuracy and exact arguments).

Each specialist is also scored on the fresh `*.test2.jsonl` and `*.test3.jsonl` files (each written
before the tuning of its follow-up), and tool choice on `tool_choice.test4/5/6.jsonl` (100 hand-written requests each, by three
helpers blind to every other file). The wrong answers of test3 to test6 go to --test3-out, not
to the log.
Nothing is tuned on the test files: configurations are chosen on validation splits of the
train files (`specialize_validate.py`) and are the CLI defaults, except `--method finetune`
for tool choice (better on validation, over the 60-s classifier budget, so not the default).

    .venv/bin/python benchmarks/make_extraction_data.py && .venv/bin/python benchmarks/make_tool_data.py
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --no-base --only-extract \
        --train-file order_extraction.train2.jsonl   # (a), 2 epochs, the larger-pool train file
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --skip-extract \
        --tool-train-file tool_choice.train.jsonl tool_choice.train2.jsonl tool_choice.train3.jsonl   # (b), the head
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --skip-extract --no-head --tool-lora   # (b), LoRA
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --skip-extract --no-head --no-base --tool-lora \
        --router minilm --tool-train-file tool_choice.train.jsonl tool_choice.train2.jsonl \
        tool_choice.train3.jsonl   # (b), LoRA + router, as `slmflow train --router minilm`
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --base-only order_extraction.test3.jsonl
    [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
DATA = Path(__file__).resolve().parents[1] / "workflows" / "data"
FRESH_EXTRACT = ["order_extraction.test2.jsonl", "order_extraction.test3.jsonl"]
FRESH_TOOLS = ["tool_choice.test2.jsonl", "tool_choice.test3.jsonl", "tool_choice.test4.jsonl",
               "tool_choice.test5.jsonl", "tool_choice.test6.jsonl"]
HIDDEN = ("test3", "test4", "test5", "test6")  # sets whose wrong answers go to a file, never to the log


def as_classify(src: Path | list[Path], dst: Path) -> Path:
    rows = [json.loads(line) for path in ([src] if isinstance(src, Path) else src) for line in path.open()]
    dst.write_text("".join(json.dumps({"text": r["text"], "label": r["tool_call"]["name"]}) + "\n" for r in rows))
    return dst


def _progress(stage: str, done: int, total: int) -> None:
    if done == total or done % 5 == 0:
        print(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total} load {os.getloadavg()[0]:.1f}", flush=True)


def scoring_runner(task: str, threads: int, adapter: Path | None = None, **overrides: Any) -> Any:
    """SmolLM2 as the fleet serves it (on llama_cpp, its ``requantize`` unless ``overrides`` say
    otherwise), with the adapter of version folder ``adapter`` loaded: the path every score takes."""
    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec
    from agents.specialists.adapters import ADAPTER_FILE, resolve_gguf_base

    base = resolve_gguf_base("smollm2")
    fields = {"requantize": base.requantize, **overrides}
    spec = AgentSpec(name="score", model=base.model, tasks=[task], engine="llama_cpp",
                     adapters=[str(adapter / ADAPTER_FILE)] if adapter else [], max_input_tokens=base.max_input_tokens,
                     batching={"max_batch_size": 8}, generation={"max_new_tokens": 256}, **fields)
    return ModelRunner(spec, threads=max(1, threads)).load()


def adapter_extractive(version: Path) -> bool:
    """Whether the adapter of version folder ``version`` was trained (and so is served) extractive."""
    from agents.specialists.registry import read_meta

    meta = read_meta(version)
    return bool(meta and meta.hyperparameters.get("extractive"))


def classify_runner(model: str, threads: int) -> Any:
    """A CPU classify runner for ``model``: a trained classify version folder or a base encoder."""
    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec

    return ModelRunner(AgentSpec(name="score", model=model, tasks=["classify", "embed"], device="cpu",
                                 classify_method="similarity"), threads=threads).load()


def score_adapter(version: Path, task: str, path: Path, threads: int, base: bool) -> dict:
    """Score a trained version's adapter on another held-out file, through the same serving path."""
    from agents.specialists.adapters import evaluate, load_rows, router_report

    rows, _ = load_rows(path, task)
    extractive = adapter_extractive(version)
    runner = scoring_runner(task, threads, version)
    try:
        out = {"eval_rows": len(rows), "extractive": extractive, **evaluate(runner, task, rows, "adapter", extractive)}
        if runner.engine.routers:
            # Served with its router (as above), and the adapter alone beside it.
            out["router"] = router_report(runner, rows, extractive)
        if base:
            out["base"] = evaluate(runner, task, rows, None, extractive)
    finally:
        runner.engine.close()
    return out


def train_lora(name: str, task: str, train: list[str], test: str, fresh: list[str], args: argparse.Namespace,
               registry: object) -> tuple[object, dict[str, dict]]:
    """Train one LoRA specialist on the ``train`` files together; its metrics on ``test`` and on each ``fresh`` file."""
    from agents.specialists.adapters import train_adapter

    data = DATA / train[0]
    if len(train) > 1:
        data = Path(tempfile.mkdtemp()) / "train.jsonl"
        data.write_text("".join((DATA / f).read_text() for f in train))
    trained = train_adapter(name, task=task, base="smollm2", data=data, eval_data=DATA / test,
                            threads=args.threads, registry=registry, epochs=args.epochs,
                            compare_base=not args.no_base, progress=_progress,
                            router=args.router if task == "tool_call" else None)
    results = {test: trained.metrics}
    for fname in fresh:
        results[fname] = score_adapter(Path(trained.path), task, DATA / fname, args.threads, not args.no_base)
    return trained, results


def score_base(task: str, paths: list[Path], threads: int) -> dict:
    """The base model alone (no adapter) on held-out files, through the same serving path."""
    from agents.specialists.adapters import evaluate, load_rows

    runner = scoring_runner(task, threads)
    out = {}
    try:
        for path in paths:
            rows, _ = load_rows(path, task)
            out[path.name] = {"eval_rows": len(rows), **evaluate(runner, task, rows, None)}
    finally:
        runner.engine.close()
    return out


def score_classifier(version: Path, path: Path, descriptions: dict[str, str], threads: int) -> dict:
    """Accuracy of a trained classify version on another file, served from its folder; and zero-shot MiniLM's."""
    from agents.protocol import ClassifyRequest, TaskKind
    from agents.specialists.train import resolve_base

    rows = [json.loads(line) for line in path.open()]
    labels = sorted({r["label"] for r in rows})
    out = {"rows": len(rows)}
    for key, model, extra in (("accuracy", str(version), {}),
                              ("zero_shot_accuracy", resolve_base("minilm")[0],
                               {"labels": labels, "label_descriptions": descriptions, "method": "similarity"})):
        got = classify_runner(model, threads).run_batch(TaskKind.CLASSIFY, [ClassifyRequest(text=r["text"], **extra) for r in rows])
        out[key] = round(sum(g.label == r["label"] for g, r in zip(got, rows, strict=True)) / len(rows), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tool-lora", action="store_true")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--no-base", action="store_true", help="skip the base model's scores")
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--only-extract", action="store_true")
    parser.add_argument("--method", default="head", choices=["head", "finetune"], help="classify method for tools")
    parser.add_argument("--train-file", nargs="+", default=["order_extraction.train.jsonl"],
                        help="extraction training files in workflows/data, trained on together "
                             "(order_extraction.train2.jsonl: larger pools)")
    parser.add_argument("--tool-train-file", nargs="+", default=["tool_choice.train.jsonl"],
                        help="tool-choice training files in workflows/data, trained on together "
                             "(tool_choice.train2.jsonl: 83 more templates; train3: 200 hand-written requests; "
                             "both written blind to the test sets)")
    parser.add_argument("--no-head", action="store_true", help="skip the MiniLM tool-choice classifier")
    parser.add_argument("--router", default=None, metavar="ENCODER",
                        help="train the tool_call LoRA with a tool router over this encoder (minilm), as "
                             "`slmflow train --router` does; each set is scored served with it and without")
    parser.add_argument("--test3-out", default=tempfile.gettempdir() + "/slmflow-test3",
                        help="folder for test3's full reports (its wrong answers are kept out of the log)")
    parser.add_argument("--base-only", nargs="+", metavar="FILE", help="only score the base model (no adapter) "
                        "for extraction on these files of workflows/data, e.g. order_extraction.test3.jsonl")
    args = parser.parse_args()
    if args.base_only:
        t = time.perf_counter()
        res = score_base("extract", [DATA / f for f in args.base_only], args.threads)
        for name, m in res.items():
            print(f"base, {name}: {json.dumps({k: v for k, v in m.items() if k != 'mistakes'})}")
        print(f"{time.perf_counter() - t:.0f} s, load {os.getloadavg()[0]:.1f}")
        return

    from agents.specialists.registry import Registry
    from agents.specialists.train import train_classifier

    registry = Registry(tempfile.mkdtemp(prefix="slmflow-bench-specialists-"))
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {args.threads} threads")
    lines = ["| task | set | base model | specialist | train time |", "|---|---|---|---|---|"]
    hidden = Path(args.test3_out)
    hidden.mkdir(parents=True, exist_ok=True)

    def show(label: str, fname: str, m: dict) -> None:
        # These sets' wrong answers go to a file, not the log: nothing is chosen by looking at them.
        if any(h in fname for h in HIDDEN):
            (hidden / f"{label}.json").write_text(json.dumps(m, indent=1))
            m = {k: ({kk: vv for kk, vv in v.items() if kk != "mistakes"} if isinstance(v, dict) else v)
                 for k, v in m.items() if k != "mistakes"}
        print(f"{label}, {fname}: {json.dumps(m)} (load {os.getloadavg()[0]:.1f})", flush=True)

    nan = {"schema_valid": float("nan"), "exact_fields": float("nan"), "exact_match": float("nan"),
           "tool_accuracy": float("nan")}
    t = time.perf_counter()
    if not args.skip_extract:
        ext, results = train_lora("orders", "extract", args.train_file, "order_extraction.test.jsonl",
                                  FRESH_EXTRACT, args, registry)
        print(f"(a) extraction trained on {' + '.join(args.train_file)}: train_s {ext.metrics['train_s']} "
              f"({time.perf_counter() - t:.0f} s with the test scoring)")
        for fname, m in results.items():
            show("(a) extraction", fname, m)
            b = m.get("base") or nan
            lines.append(f"| extraction | {fname} ({m['eval_rows']}) | schema-valid {b['schema_valid']:.0%}, exact fields "
                         f"{b['exact_fields']:.1%} | schema-valid {m['schema_valid']:.0%}, exact fields "
                         f"{m['exact_fields']:.1%}, exact {m['exact_match']:.0%} | {ext.metrics['train_s']:.0f} s |")

    if args.only_extract:
        print("\n".join(lines))
        return
    tmp = Path(tempfile.mkdtemp())
    tool_descriptions = {t["name"]: t["description"] for t in json.loads(
        (DATA / "tool_choice.train.jsonl").open().readline())["tools"]}
    if not args.no_head:
        head = train_classifier("tools", base="minilm",
                                data=as_classify([DATA / f for f in args.tool_train_file], tmp / "tr.jsonl"),
                                eval_data=as_classify(DATA / "tool_choice.test.jsonl", tmp / "te.jsonl"),
                                label_descriptions=tool_descriptions, threads=args.threads, registry=registry,
                                method=args.method)
        hm = head.metrics
        print(f"(b) tool choice trained on {' + '.join(args.tool_train_file)}")
        show(f"(b) tool choice ({args.method})", "tool_choice.test.jsonl", hm)
        lines.append(f"| tool choice | test ({hm['eval_rows']}) | MiniLM zero-shot over descriptions "
                     f"{hm['zero_shot_accuracy']:.1%} | {hm['accuracy']:.1%} ({args.method}) | {hm['train_s']:.0f} s |")
        for fname in FRESH_TOOLS:
            fresh = score_classifier(Path(head.path), as_classify(DATA / fname, tmp / f"c-{fname}"),
                                     tool_descriptions, args.threads)
            show(f"(b) tool choice ({args.method})", fname, fresh)
            lines.append(f"| tool choice | {fname} ({fresh['rows']}) | MiniLM zero-shot over descriptions "
                         f"{fresh['zero_shot_accuracy']:.1%} | {fresh['accuracy']:.1%} ({args.method}) | |")
    if args.tool_lora:
        t = time.perf_counter()
        tc, results = train_lora("tools", "tool_call", args.tool_train_file, "tool_choice.test.jsonl",
                                 FRESH_TOOLS, args, registry)
        print(f"(b) tool_call LoRA trained on {' + '.join(args.tool_train_file)}: train_s {tc.metrics['train_s']} ({time.perf_counter() - t:.0f} s with the test scoring)")
        for fname, m in results.items():
            show("(b) tool_call LoRA", fname, m)
            b = m.get("base") or nan
            lines.append(f"| tool_call LoRA | {fname} ({m['eval_rows']}) | tool {b['tool_accuracy']:.1%}, exact call "
                         f"{b['exact_match']:.1%}, exact args {b['exact_fields']:.1%} | tool {m['tool_accuracy']:.1%}, "
                         f"exact call {m['exact_match']:.1%}, exact args {m['exact_fields']:.1%} | "
                         f"{tc.metrics['train_s']:.0f} s |")
            if "router" in m:
                r, a = m["router"], m["router"]["adapter_alone"]
                lines.append(f"| (the LoRA without its router) | {fname} | | tool {a['tool_accuracy']:.1%}, exact call "
                             f"{a['exact_match']:.1%}; the router decided {r['decided']:.0%} of the rows | |")
    print("\n".join(lines))

if __name__ == "__main__":
    main()
