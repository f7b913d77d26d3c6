"""Specialists for extraction and tool choice, before and after, on held-out test files.

(a) extraction: a LoRA adapter on SmolLM2 trained on `order_extraction.train.jsonl`, scored on
    `order_extraction.test.jsonl` (unseen templates, names, products) through the llama_cpp
    serving path, with and without the adapter: schema_valid, exact_fields, exact_match;
(b) tool choice (4 tools): MiniLM zero-shot over the tool descriptions vs a trained head
    over MiniLM (`tool_choice.*.jsonl`, the tool name as the label); with --tool-lora, also a
    LoRA tool_call adapter on SmolLM2 (tool accuracy and exact arguments).

Each specialist is also scored on the fresh `*.test2.jsonl` files (written before any tuning).
Nothing is tuned on the test files: configurations are chosen on validation splits of the
train files (`specialize_validate.py`) and are the CLI defaults, except `--method finetune`
for tool choice (better on validation, over the 60-s classifier budget, so not the default).

    .venv/bin/python benchmarks/make_extraction_data.py && .venv/bin/python benchmarks/make_tool_data.py
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --no-base --only-extract   # (a), 2 epochs
    nice -n 10 .venv/bin/python benchmarks/specialize_lora.py --skip-extract --method finetune   # (b)
    [--threads 2] [--tool-lora]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
DATA = Path(__file__).resolve().parents[1] / "workflows" / "data"


def as_classify(src: Path, dst: Path) -> Path:
    rows = [json.loads(line) for line in src.open()]
    dst.write_text("".join(json.dumps({"text": r["text"], "label": r["tool_call"]["name"]}) + "\n" for r in rows))
    return dst


def _progress(stage: str, done: int, total: int) -> None:
    if done == total or done % 5 == 0:
        print(f"{time.strftime('%H:%M:%S')} {stage} {done}/{total} load {os.getloadavg()[0]:.1f}", flush=True)


def score_adapter(version: Path, task: str, path: Path, threads: int, base: bool) -> dict:
    """Score a trained version's adapter on another held-out file, through the same serving path."""
    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec
    from agents.specialists.adapters import ADAPTER_FILE, evaluate, load_rows, resolve_gguf_base

    rows, _ = load_rows(path, task)
    model_ref, max_tokens = resolve_gguf_base("smollm2")
    spec = AgentSpec(name="score", model=model_ref, tasks=[task], engine="llama_cpp",
                     adapters=[str(version / ADAPTER_FILE)], max_input_tokens=max_tokens,
                     batching={"max_batch_size": 8}, generation={"max_new_tokens": 256})
    runner = ModelRunner(spec, threads=max(1, threads)).load()
    try:
        out = {"eval_rows": len(rows), **evaluate(runner, task, rows, "adapter")}
        if base:
            out["base"] = evaluate(runner, task, rows, None)
    finally:
        runner.engine.close()
    return out


def score_classifier(version: Path, path: Path, descriptions: dict[str, str], threads: int) -> dict:
    """Accuracy of a trained classify version on another file, served from its folder; and zero-shot MiniLM's."""
    from agents.protocol import ClassifyRequest, TaskKind
    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec
    from agents.specialists.train import resolve_base

    rows = [json.loads(line) for line in path.open()]
    labels = sorted({r["label"] for r in rows})
    out = {"rows": len(rows)}
    for key, model, extra in (("accuracy", str(version), {}),
                              ("zero_shot_accuracy", resolve_base("minilm")[0],
                               {"labels": labels, "label_descriptions": descriptions, "method": "similarity"})):
        runner = ModelRunner(AgentSpec(name="score", model=model, tasks=["classify", "embed"], device="cpu",
                                       classify_method="similarity"), threads=threads).load()
        got = runner.run_batch(TaskKind.CLASSIFY, [ClassifyRequest(text=r["text"], **extra) for r in rows])
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
    args = parser.parse_args()

    from agents.specialists.adapters import train_adapter
    from agents.specialists.registry import Registry
    from agents.specialists.train import train_classifier

    registry = Registry(tempfile.mkdtemp(prefix="slmflow-bench-specialists-"))
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {args.threads} threads")
    lines = ["| task | base model | specialist | train time |", "|---|---|---|---|"]

    t = time.perf_counter()
    if not args.skip_extract:
        ext = train_adapter("orders", task="extract", base="smollm2", data=DATA / "order_extraction.train.jsonl",
                            eval_data=DATA / "order_extraction.test.jsonl", threads=args.threads, registry=registry,
                            epochs=args.epochs, compare_base=not args.no_base, progress=_progress)
        m = ext.metrics
        b = m.get("base") or {"schema_valid": float("nan"), "exact_fields": float("nan"), "exact_match": float("nan")}
        print(f"(a) extraction, test: {json.dumps(m)} ({time.perf_counter() - t:.0f} s, load {os.getloadavg()[0]:.1f})",
              flush=True)
        lines.append(f"| extraction, {m['eval_rows']} held-out mails (test) | schema-valid {b['schema_valid']:.0%}, exact "
                     f"fields {b['exact_fields']:.1%}, exact {b['exact_match']:.0%} | schema-valid {m['schema_valid']:.0%}, "
                     f"exact fields {m['exact_fields']:.1%}, exact {m['exact_match']:.0%} (LoRA) | {m['train_s']:.0f} s |")
        m2 = score_adapter(Path(ext.path), "extract", DATA / "order_extraction.test2.jsonl", args.threads,
                           not args.no_base)
        print(f"(a) extraction, fresh test2: {json.dumps(m2)} (load {os.getloadavg()[0]:.1f})", flush=True)
        b2 = m2.get("base") or {"schema_valid": float("nan"), "exact_fields": float("nan"), "exact_match": float("nan")}
        lines.append(f"| extraction, {m2['eval_rows']} mails (fresh test2) | schema-valid "
                     f"{b2['schema_valid']:.0%}, exact fields {b2['exact_fields']:.1%} | schema-valid "
                     f"{m2['schema_valid']:.0%}, exact fields {m2['exact_fields']:.1%}, exact {m2['exact_match']:.0%} | |")

    if args.only_extract:
        print("\n".join(lines))
        return
    tmp = Path(tempfile.mkdtemp())
    tool_descriptions = {t["name"]: t["description"] for t in json.loads(
        (DATA / "tool_choice.train.jsonl").open().readline())["tools"]}
    head = train_classifier("tools", base="minilm", data=as_classify(DATA / "tool_choice.train.jsonl", tmp / "tr.jsonl"),
                            eval_data=as_classify(DATA / "tool_choice.test.jsonl", tmp / "te.jsonl"),
                            label_descriptions=tool_descriptions, threads=args.threads, registry=registry,
                            method=args.method)
    hm = head.metrics
    print(f"(b) tool choice ({args.method}), test: {json.dumps(hm)} (load {os.getloadavg()[0]:.1f})", flush=True)
    lines.append(f"| tool choice (4 tools), {hm['eval_rows']} held-out requests (test) | MiniLM zero-shot over "
                 f"descriptions {hm['zero_shot_accuracy']:.1%} | {hm['accuracy']:.1%} ({args.method}) | "
                 f"{hm['train_s']:.0f} s |")
    fresh = score_classifier(Path(head.path), as_classify(DATA / "tool_choice.test2.jsonl", tmp / "te2.jsonl"),
                             tool_descriptions, args.threads)
    print(f"(b) tool choice ({args.method}), fresh test2: {json.dumps(fresh)}", flush=True)
    lines.append(f"| tool choice, {fresh['rows']} requests (fresh test2) | MiniLM zero-shot over descriptions "
                 f"{fresh['zero_shot_accuracy']:.1%} | {fresh['accuracy']:.1%} ({args.method}) | |")
    if args.tool_lora:
        tc = train_adapter("tools", task="tool_call", base="smollm2", data=DATA / "tool_choice.train.jsonl",
                           eval_data=DATA / "tool_choice.test.jsonl", threads=args.threads, registry=registry)
        tm, tb = tc.metrics, tc.metrics["base"]
        print(f"(b) tool_call LoRA: {json.dumps(tm)}")
        lines.append(f"| tool_call (4 tools) | tool {tb['tool_accuracy']:.1%}, exact call {tb['exact_match']:.1%} | "
                     f"tool {tm['tool_accuracy']:.1%}, exact call {tm['exact_match']:.1%} (LoRA) | {tm['train_s']:.0f} s |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
