"""Held-out quality of trained classify specialists against MiniLM zero-shot, on the project's own data.

    .venv/bin/python benchmarks/specialize.py [--json]

Datasets (all shipped in workflows/data/):
- support intents: workflows/data/support_intents.jsonl, 5 intents x 40 hand-written requests;
- ticket routing and sentiment: the sample LLM log's groups of those tasks
  (workflows/data/llm_calls.jsonl), written as `slmflow migrate export` writes them, so the
  labels are the LLM's answers and accuracy is agreement with the LLM (distillation).

Each dataset is split once by distinct text with a fixed seed (`agents.specialists.data.split`,
40% held out). The head's regularisation is picked by cross-validation inside the training
part; nothing is chosen by looking at the held-out part, which is scored once. "Before" is
MiniLM's zero-shot similarity classification with the label descriptions below (written
before any run, not tuned). Training time is the wall time of `train_classifier` (model load,
embeddings, cross-validation, fit, evaluation, writing the version) with torch on 2 threads.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "workflows" / "data"
SEED = 0
TEST_FRACTION = 0.4

DESCRIPTIONS: dict[str, dict[str, str]] = {
    "support_intents": {
        "order_status": "where is my order, delivery, shipping and tracking status of a package",
        "returns_refund": "return an item, exchange it, or get a refund for a product",
        "billing": "payments, charges, invoices, prices, subscription fees and receipts",
        "technical_issue": "a bug, crash, error or something in the app, website or device not working",
        "account": "login, password, profile, personal data, email address or closing the account",
    },
    "ticket_routing": {
        "account": "account access, profile, email change, deleting the account",
        "billing": "invoices, charges, prices, VAT and payments",
        "shipping": "delivery, parcels, couriers and orders in transit",
        "technical": "bugs, errors, crashes and login problems in the app or API",
    },
    "sentiment": {
        "positive": "positive review, the customer is happy and praises the product",
        "negative": "negative review, the customer is unhappy and complains",
        "neutral": "neutral review, neither good nor bad, average, okay",
    },
}


def _export_group(task: str, path: Path) -> int:
    """The sample log's calls of one task type, PII redacted, as `slmflow migrate export` writes them.

    The group is taken from the log's known task labels rather than from clustering, so the
    benchmark's data does not move with the clustering.
    """
    from workflows.migration import read_log

    labels = json.loads((DATA / "llm_calls.labels.json").read_text())
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for call in read_log(DATA / "llm_calls.jsonl"):
            if labels[call.id] == task:
                messages = [*call.messages, {"role": "assistant", "content": call.response}]
                out.write(json.dumps({"messages": messages}) + "\n")
                n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    os.environ["SLMFLOW_HOME"] = tempfile.mkdtemp(prefix="slmflow-bench-specialize-")
    import torch

    from agents.specialists import train_classifier
    from agents.specialists.data import load_examples, split

    torch.set_num_threads(2)
    work = Path(os.environ["SLMFLOW_HOME"])
    files = {"support_intents": DATA / "support_intents.jsonl"}
    for task in ("ticket_routing", "sentiment"):
        files[task] = work / f"{task}.jsonl"
        _export_group(task, files[task])

    rows = []
    for name, path in files.items():
        ds = load_examples(path)
        train, test = split(ds.examples, test_fraction=TEST_FRACTION, seed=SEED)
        train_file, test_file = work / f"{name}.train.jsonl", work / f"{name}.test.jsonl"
        for f, part in ((train_file, train), (test_file, test)):
            f.write_text("".join(json.dumps({"text": e.text, "label": e.label}) + "\n" for e in part))
        t0 = time.perf_counter()
        result = train_classifier(name.replace("_", "-"), base="minilm", data=train_file, eval_data=test_file,
                                  label_descriptions=DESCRIPTIONS[name], seed=SEED, threads=2)
        wall = time.perf_counter() - t0
        m = result.metrics
        rows.append({
            "dataset": name, "labels": len(result.labels), "train": len(train), "test": len(test),
            "distinct_test_texts": len({e.text for e in test}), "labels_from": ds.format,
            "zero_shot_accuracy": m["zero_shot_accuracy"], "specialist_accuracy": m["accuracy"],
            "train_s": round(wall, 1), "C": result.meta.hyperparameters["C"],
        })
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 2 threads",
        "seed": SEED, "test_fraction": TEST_FRACTION, "results": rows,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(report["machine"])
    print(f"{'dataset':18} {'labels':>6} {'train':>5} {'test':>4} {'zero-shot':>9} {'specialist':>10} {'train s':>7}")
    for r in rows:
        print(f"{r['dataset']:18} {r['labels']:>6} {r['train']:>5} {r['test']:>4} {r['zero_shot_accuracy']:>9.1%} "
              f"{r['specialist_accuracy']:>10.1%} {r['train_s']:>7.1f}")


if __name__ == "__main__":
    main()
