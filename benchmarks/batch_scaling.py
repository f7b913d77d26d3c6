"""What a decode step of several sequences costs, for each way of serving the shipped SmolLM2 GGUF.

Side by side in one run, one llama.cpp thread, 8 slots: tokens/s of 1, 4 and 8 concurrent
greedy continuations of 64 tokens each, and the median latency of one 8-token request alone.
llama.cpp computes a batch of Q4_0 rows through kernels that repack the weights for the
CPU's vector units; Q4_1 has none, so its batches gain little over one row. The weights:
the shipped Q4_1 on its own kernels, the same weights split into Q4_0 blocks and their
offsets (``split_q4_1``, exact), and the lossy Q4_0 copy (``requantize: q4_0``).

    .venv/bin/python benchmarks/batch_scaling.py [--threads 1] [--rounds 2] [--weights q4_1 split q4_0]"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from llama_engine import STORY, WEIGHT_NAMES, WEIGHTS

CONCURRENCY = (1, 4, 8)


def rate(engine: Any, n: int) -> float:
    """Output tokens/s of ``n`` 64-token continuations sent at once."""
    from agents.engines.base import Job

    done: list[int] = [0] * n

    def one(i: int) -> None:
        [r] = engine.generate([Job(prompt=f"{STORY} (#{n}-{i})", max_new_tokens=64)])
        done[i] = r.tokens_out

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def measure(weights: str, threads: int) -> dict[str, float]:
    from agents.engines import load_engine
    from agents.engines.base import Job
    from agents.spec import load_fleet

    smol = load_fleet().get("smollm2")
    # Slots for all 8 at once (the fleet has 4, plus 2 for short requests only).
    batching = smol.batching.model_copy(update={"max_batch_size": max(CONCURRENCY), "express_slots": 0})
    smol = smol.model_copy(update={"threads": threads, "batching": batching, **WEIGHTS[weights]})
    engine = load_engine(smol, threads=threads)
    try:
        engine.generate([Job(prompt=STORY, max_new_tokens=8)])  # warm-up
        out = {f"x{n}": rate(engine, n) for n in CONCURRENCY}
        alone = []
        for i in range(5):
            t0 = time.perf_counter()
            engine.generate([Job(prompt=f"{STORY} (alone {i})", max_new_tokens=8)])
            alone.append(time.perf_counter() - t0)
        out["alone_ms"] = statistics.median(alone) * 1000
    finally:
        engine.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every weights")
    parser.add_argument("--weights", nargs="+", choices=list(WEIGHTS), default=list(WEIGHTS))
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.threads} llama.cpp thread(s)")
    print("| weights | " + " | ".join(f"{n} at once, tok/s" for n in CONCURRENCY)
          + " | 4 at once / 1 | 8 at once / 1 | 8 tokens alone |")
    print("|---" * (len(CONCURRENCY) + 4) + "|")
    for _ in range(args.rounds):
        for weights in args.weights:
            m = measure(weights, args.threads)
            print(f"| {WEIGHT_NAMES[weights]} | " + " | ".join(f"{m[f'x{n}']:.1f}" for n in CONCURRENCY)
                  + f" | {m['x4'] / m['x1']:.2f}x | {m['x8'] / m['x1']:.2f}x | {m['alone_ms']:.0f} ms |", flush=True)

if __name__ == "__main__":
    main()
