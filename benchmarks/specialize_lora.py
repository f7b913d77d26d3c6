"""Specialists for extraction and tool choice, before and after, on held-out test files.

(a) extraction: a LoRA adapter on SmolLM2 trained on `order_extraction.train.jsonl`, scored on
    `order_extraction.test.jsonl` (unseen templates, names, products) through the llama_cpp
    serving path, with and without the adapter: schema_valid, exact_fields, exact_match;
(b) tool choice (4 tools): MiniLM zero-shot over the tool descriptions vs a trained head
    over MiniLM (`tool_choice.*.jsonl`, the tool name as the label); with --tool-lora, also a
    LoRA tool_call adapter on SmolLM2 (tool accuracy and exact arguments).

Nothing is tuned on the test files: hyper-parameters are the CLI defaults.

    .venv/bin/python benchmarks/make_extraction_data.py && .venv/bin/python benchmarks/make_tool_data.py
    .venv/bin/python benchmarks/specialize_lora.py [--threads 2] [--tool-lora]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tool-lora", action="store_true")
    args = parser.parse_args()

    from agents.specialists.adapters import train_adapter
    from agents.specialists.registry import Registry
    from agents.specialists.train import train_classifier

    registry = Registry(tempfile.mkdtemp(prefix="slmflow-bench-specialists-"))
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {args.threads} threads")
    lines = ["| task | base model | specialist | train time |", "|---|---|---|---|"]

    t = time.perf_counter()
    ext = train_adapter("orders", task="extract", base="smollm2", data=DATA / "order_extraction.train.jsonl",
                        eval_data=DATA / "order_extraction.test.jsonl", threads=args.threads, registry=registry)
    m, b = ext.metrics, ext.metrics["base"]
    print(f"(a) extraction: {json.dumps(m)} ({time.perf_counter() - t:.0f} s)")
    lines.append(f"| extraction, {m['eval_rows']} held-out mails | schema-valid {b['schema_valid']:.0%}, exact fields "
                 f"{b['exact_fields']:.1%}, exact {b['exact_match']:.0%} | schema-valid {m['schema_valid']:.0%}, "
                 f"exact fields {m['exact_fields']:.1%}, exact {m['exact_match']:.0%} (LoRA) | {m['train_s']:.0f} s |")

    tmp = Path(tempfile.mkdtemp())
    tool_descriptions = {t["name"]: t["description"] for t in json.loads(
        (DATA / "tool_choice.train.jsonl").open().readline())["tools"]}
    head = train_classifier("tools", base="minilm", data=as_classify(DATA / "tool_choice.train.jsonl", tmp / "tr.jsonl"),
                            eval_data=as_classify(DATA / "tool_choice.test.jsonl", tmp / "te.jsonl"),
                            label_descriptions=tool_descriptions, threads=args.threads, registry=registry)
    hm = head.metrics
    print(f"(b) tool choice head: {json.dumps(hm)}")
    lines.append(f"| tool choice (4 tools), {hm['eval_rows']} held-out requests | MiniLM zero-shot over descriptions "
                 f"{hm['zero_shot_accuracy']:.1%} | {hm['accuracy']:.1%} (head over MiniLM) | {hm['train_s']:.0f} s |")
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
