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
DATA = Path(__file__).resolve().parents[1] / "workflows" / "data"
FILES = ["order_extraction.test.jsonl", "order_extraction.test2.jsonl", "order_extraction.test3.jsonl"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", type=Path, help="a trained extraction version folder (adapter.gguf inside)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec
    from agents.specialists.adapters import ADAPTER_FILE, evaluate, load_rows, resolve_gguf_base
    from agents.specialists.registry import read_meta

    meta = read_meta(args.version)
    trained_on = (meta.hyperparameters.get("base_requantize") if meta else None) or "the file's own weights"
    base = resolve_gguf_base("smollm2")
    print(f"adapter trained on {trained_on}")
    print("| served weights | " + " | ".join(f.split(".")[1] for f in FILES) + " | raw model, test |")
    print("|---" * (len(FILES) + 2) + "|")
    for requantize in (None, "q4_0"):
        spec = AgentSpec(name="score", model=base.model, tasks=["extract"], engine="llama_cpp", requantize=requantize,
                         adapters=[str(args.version / ADAPTER_FILE)], max_input_tokens=base.max_input_tokens,
                         batching={"max_batch_size": 8}, generation={"max_new_tokens": 256})
        runner = ModelRunner(spec, threads=args.threads).load()
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
