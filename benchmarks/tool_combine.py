"""Tool choice by two specialists together: the MiniLM head where it is sure, the tool_call LoRA elsewhere.

The head over MiniLM and the tool_call LoRA on SmolLM2 miss on different sets ("Follow-up 5" in
RESULTS.md). Combined: the head's tool when its top score is at least THETA, else the LoRA's;
when the head overrides the LoRA, the LoRA is asked again with only that tool offered (a named
tool choice) to fill its arguments.

THETA is chosen on validation only: a head and a LoRA trained on train + train2 are scored on
all 200 rows of the hand-written train3, which neither saw. The grid and the tie rule were
fixed before the first run: THETA in GRID, the best validation tool accuracy; among ties the
largest THETA (the fewest overrides of the LoRA, the better single model there). The pair
trained on all three files is then scored once on every test set with that THETA, their wrong
answers on test3-6 going to a file.

    .venv/bin/python benchmarks/tool_combine.py --val-lora DIR --final-lora DIR [--threads 2]

DIR: a tool_call version folder written by `specialize_lora.py --tool-lora` (the CLI's recipe)
on train + train2 (--val-lora) and on train + train2 + train3 (--final-lora).

The rule, with THETA as chosen here, is packaged as `slmflow train --task tool_call --router
minilm` (``agents.specialists.router``). There the head decides before the LoRA decodes, and
narrows its grammar to the head's tool while the prompt lists every tool, rather than asking
again with one tool offered; `specialize_lora.py --router minilm` scores that.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from specialize_lora import (
    DATA,
    FRESH_TOOLS,
    HIDDEN,
    adapter_extractive,
    as_classify,
    classify_runner,
    scoring_runner,
)
from specialize_validate import TOOL_DESCRIPTIONS

GRID = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.01]  # 0: the head alone; 1.01: the LoRA alone
TRAIN = ["tool_choice.train.jsonl", "tool_choice.train2.jsonl"]
TRAIN3 = "tool_choice.train3.jsonl"


class Head:
    """A trained classify head, served from its version folder."""

    def __init__(self, version: Path, threads: int) -> None:
        self.runner = classify_runner(str(version), threads)

    def scores(self, texts: list[str]) -> list[tuple[str, float]]:
        """The label and top score for each text."""
        from agents.protocol import ClassifyRequest, TaskKind

        got = self.runner.run_batch(TaskKind.CLASSIFY, [ClassifyRequest(text=t) for t in texts])
        return [(g.label, max(g.scores.values())) for g in got]


class Lora:
    """The tool_call adapter of a version folder, served as `specialize_lora.py` scores it."""

    def __init__(self, version: Path, threads: int) -> None:
        self.extractive = adapter_extractive(version)
        self.runner = scoring_runner("tool_call", threads, version)

    def calls(self, requests: list[Any]) -> list[dict[str, Any] | None]:
        from agents.specialists.adapters import answers

        outs = answers(self.runner, "tool_call", requests, "adapter", self.extractive)
        return [{"name": o.name, "arguments": o.arguments} if hasattr(o, "arguments") else None for o in outs]

    def close(self) -> None:
        self.runner.engine.close()


def predict(path: Path, head: Head, lora: Lora, thetas: list[float]) -> dict[str, Any]:
    """Per THETA: tool accuracy and exact calls of the combination on ``path``; the rows' answers."""
    from agents.specialists.adapters import load_rows

    rows, _ = load_rows(path, "tool_call")
    gold = [r.target for r in rows]
    heads = head.scores([r.request.text for r in rows])
    first = lora.calls([r.request for r in rows])
    out: dict[str, Any] = {"rows": len(rows)}
    for theta in thetas:
        final = list(first)
        redo = [i for i, ((label, top), call) in enumerate(zip(heads, first, strict=True))
                if top >= theta and (call or {}).get("name") != label]
        if redo:
            named = [rows[i].request.model_copy(update={"tools": [t for t in rows[i].request.tools
                                                                 if t.name == heads[i][0]]}) for i in redo]
            for i, call in zip(redo, lora.calls(named), strict=True):
                final[i] = call
        out[str(theta)] = {
            "tool_accuracy": round(sum((f or {}).get("name") == g["name"] for f, g in zip(final, gold, strict=True))
                                   / len(rows), 4),
            "exact_call": round(sum(f == g for f, g in zip(final, gold, strict=True)) / len(rows), 4),
            "overrides": len(redo),
            "mistakes": [{"text": r.request.text, "gold": g, "got": f}
                         for r, f, g in zip(rows, final, gold, strict=True) if f != g],
        }
    return out


def train_head(files: list[str], tmp: Path, threads: int) -> Head:
    from agents.specialists.registry import Registry
    from agents.specialists.train import train_classifier

    # An eval file, so that every training row is trained on (without one, train_classifier holds
    # out a fifth of them). Its score is not used.
    res = train_classifier("tools", base="minilm", data=as_classify([DATA / f for f in files], tmp / "tr.jsonl"),
                           eval_data=as_classify(DATA / "tool_choice.test.jsonl", tmp / "te.jsonl"),
                           label_descriptions=TOOL_DESCRIPTIONS, threads=threads, zero_shot=False,
                           registry=Registry(tempfile.mkdtemp(prefix="slmflow-combine-")))
    return Head(Path(res.path), threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val-lora", type=Path, required=True)
    parser.add_argument("--final-lora", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hidden-out", default=tempfile.gettempdir() + "/slmflow-combine-hidden")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    hidden = Path(args.hidden_out)
    hidden.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()

    head = train_head(TRAIN, tmp, args.threads)
    lora = Lora(args.val_lora, args.threads)
    try:
        val = predict(DATA / TRAIN3, head, lora, GRID)
    finally:
        lora.close()
    for theta in GRID:
        m = val[str(theta)]
        print(f"validation (train3, {val['rows']} rows), theta {theta}: tool {m['tool_accuracy']:.1%}, "
              f"exact call {m['exact_call']:.1%}, overrides {m['overrides']}", flush=True)
    best = max(val[str(th)]["tool_accuracy"] for th in GRID)
    theta = max(th for th in GRID if val[str(th)]["tool_accuracy"] == best)
    print(f"chosen theta {theta} ({time.perf_counter() - t:.0f} s)", flush=True)

    head = train_head([*TRAIN, TRAIN3], tmp, args.threads)
    lora = Lora(args.final_lora, args.threads)
    lines = ["| set | head alone | LoRA alone | combined (tool / exact call / overrides) |", "|---|---|---|---|"]
    try:
        for fname in ["tool_choice.test.jsonl", *FRESH_TOOLS]:
            m = predict(DATA / fname, head, lora, [0.0, 1.01, theta])
            if any(h in fname for h in HIDDEN):
                (hidden / f"{fname}.json").write_text(json.dumps(m, indent=1))
            c = m[str(theta)]
            lines.append(f"| {fname} ({m['rows']}) | {m['0.0']['tool_accuracy']:.1%} | {m['1.01']['tool_accuracy']:.1%} | "
                         f"{c['tool_accuracy']:.1%} / {c['exact_call']:.1%} / {c['overrides']} |")
            print(lines[-1], flush=True)
    finally:
        lora.close()
    print("\n".join(lines))
    print(f"total {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
