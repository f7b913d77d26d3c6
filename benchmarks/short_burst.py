"""What slows short requests: the 16 mixed requests of `llama_engine.py`, offline (no Serve).

For each engine configuration, side by side in one run: the p50 of an 8-token request alone;
under the 16 mixed requests (8 to 128 new tokens) sent at once; and with only the short
requests of those 16 sent at once. When the last two agree, long requests no longer slow
short ones (no head-of-line blocking) and what is left is the short ones' own batching.

    .venv/bin/python benchmarks/short_burst.py [--threads 1] [--configs 2:0 4:1] [--weights q4_1 split q4_0]

A configuration is EXPRESS_SLOTS:EXPRESS_THREADS (0 threads: no lane).
"""

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

from llama_engine import LENGTHS, STORY, WEIGHT_NAMES, WEIGHTS

SHORT = 8


def burst(engine: Any, lengths: list[int], tag: str) -> list[float]:
    """Seconds each 8-token request of ``lengths`` took when all were sent at once."""
    from agents.engines.base import Job

    took: dict[int, float] = {}

    def one(i: int, n: int) -> None:
        t0 = time.perf_counter()
        engine.generate([Job(prompt=f"{STORY} ({tag} #{i})", max_new_tokens=n)])
        took[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=one, args=(i, n)) for i, n in enumerate(lengths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [took[i] for i, n in enumerate(lengths) if n == SHORT]


def measure(threads: int, express: int, lane: int, weights: str) -> dict[str, float]:
    from agents.engines import load_engine
    from agents.engines.base import Job
    from agents.spec import load_fleet

    smol = load_fleet().get("smollm2")
    batching = smol.batching.model_copy(update={"express_slots": express, "express_threads": lane})
    engine = load_engine(smol.model_copy(update={"threads": threads, "batching": batching, **WEIGHTS[weights]}),
                         threads=threads)
    try:
        engine.generate([Job(prompt=STORY, max_new_tokens=SHORT)])  # warm-up
        alone = []
        for i in range(6):
            t0 = time.perf_counter()
            engine.generate([Job(prompt=f"{STORY} (alone {i})", max_new_tokens=SHORT)])
            alone.append(time.perf_counter() - t0)
        shorts = [n for n in LENGTHS if n <= batching.express_max_new_tokens]
        # Each burst once to warm every slot's cache with its prompts' shared start, then
        # measured: prefill of a cold slot (~170 tok/s) would otherwise weigh on the first.
        burst(engine, LENGTHS, "mixed")
        burst(engine, shorts, "short")
        mixed = burst(engine, LENGTHS, "mixed")
        shorts_only = burst(engine, shorts, "short")
    finally:
        engine.close()
    return {"alone": statistics.median(alone), "mixed": statistics.median(mixed),
            "shorts_only": statistics.median(shorts_only)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--configs", nargs="+", default=["2:0", "4:1"], help="EXPRESS_SLOTS:EXPRESS_THREADS")
    parser.add_argument("--weights", nargs="+", default=list(WEIGHTS), choices=list(WEIGHTS),
                        help="the shipped Q4_1 on its own kernels, split, and/or the Q4_0 copy")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.threads} engine thread(s), 4 regular slots")
    print("| weights | express slots | lane threads | 8-token p50 alone | under the 16 mixed | the short ones alone, at once |")
    print("|---|---|---|---|---|---|")
    for cfg, weights in ((c, w) for c in args.configs for w in args.weights):
        express, lane = (int(x) for x in cfg.split(":"))
        m = measure(args.threads, express, lane, weights)
        print(f"| {WEIGHT_NAMES[weights]} | {express} | {lane or 'none'} | {m['alone'] * 1000:.0f} ms | {m['mixed'] * 1000:.0f} ms "
              f"({m['mixed'] / m['alone']:.2f}x) | {m['shorts_only'] * 1000:.0f} ms ({m['shorts_only'] / m['alone']:.2f}x) |",
              flush=True)


if __name__ == "__main__":
    main()
