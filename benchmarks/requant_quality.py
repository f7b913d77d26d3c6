"""What the Q4_0 copy costs in quality: an extraction specialist and the raw model, on both weights.

Scores a trained extraction version (``slmflow train --task extract``, e.g. from
`specialize_lora.py`) on the held-out order-extraction files through the llama_cpp engine,
once on the shipped GGUF's own weights and once on its Q4_0 copy (`requantize: q4_0`), and
the raw model (no adapter) on the old test file. Exact fields and schema-valid rate.

    .venv/bin/python benchmarks/requant_quality.py VERSION_DIR [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
DATA = Path(__file__).resolve().parents[1] / "workflows" / "data"
FILES = ["order_extraction.test.jsonl", "order_extraction.test2.jsonl", "order_extraction.test3.jsonl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", type=Path, help="a trained extraction version folder (adapter.gguf inside)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from specialize_lora import scoring_runner

    from agents.specialists.adapters import evaluate, load_rows
    from agents.specialists.registry import read_meta

    meta = read_meta(args.version)
    trained_on = (meta.hyperparameters.get("base_requantize") if meta else None) or "the file's own weights"
    print(f"adapter trained on {trained_on}")
    print("| served weights | " + " | ".join(f.split(".")[1] for f in FILES) + " | raw model, test |")
    print("|---" * (len(FILES) + 2) + "|")
    for requantize in (None, "q4_0"):
        runner = scoring_runner("extract", args.threads, args.version, requantize=requantize)
        t = time.perf_counter()
        cells = []
        try:
            for f in FILES:
                rows, _ = load_rows(DATA / f, "extract")
                m = evaluate(runner, "extract", rows, "adapter", True)
                cells.append(f"{m['exact_fields']:.1%} ({m['schema_valid']:.0%} valid)")
            rows, _ = load_rows(DATA / FILES[0], "extract")
            raw = evaluate(runner, "extract", rows, None, True)["exact_fields"]
        finally:
            runner.engine.close()
        print(f"| {'Q4_0 copy' if requantize else 'as shipped (Q4_1)'} | " + " | ".join(cells)
              + f" | {raw:.1%} | ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
