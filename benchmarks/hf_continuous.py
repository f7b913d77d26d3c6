"""The transformers engine: static batches vs continuous batching, side by side in one run.

The default SmolLM2 GGUF, dequantised to fp32 (the transformers engine's copy), on CPU:

(a) 16 requests of mixed lengths (8 to 128 new tokens) submitted at once:
    - static: one ``generate`` call per batch of ``max_batch_size`` (what ``@serve.batch``
      did before), every request returns when its batch's longest member finishes;
    - continuous: the engine's decode loop (``agents.engines.hf_batcher``), each request
      returns when it finishes;
    Reported: tokens/s, and the 8-token requests' p50 latency against their unloaded p50.
(c) transformers' own continuous-batching API (``model.generate_batch``) against our loop on
    16 requests of 64 tokens each (its API takes one token limit for all; every request runs
    to the limit on both sides).
(b) greedy outputs: the continuous loop's text equals each request run alone.

    .venv/bin/python benchmarks/hf_continuous.py [--threads 2] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

STORY = "Once upon a time in a small village by the sea,"
LENGTHS = [8, 128, 16, 96, 8, 64, 32, 128, 8, 48, 16, 112, 8, 80, 24, 128]


def static(lm: Any, items: list[Any], batch: int) -> tuple[float, list[float]]:
    """Batches of ``batch`` in arrival order, one after another (one replica, one worker)."""
    from agents.tasks._generation import generate_batch

    t0 = time.perf_counter()
    lat: list[float] = [0.0] * len(items)
    tokens = 0
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        results = generate_batch(lm, chunk)
        done = time.perf_counter() - t0
        for i, r in enumerate(results):
            lat[start + i] = done
            tokens += r.tokens_out
    return tokens / (time.perf_counter() - t0), lat


def continuous(engine: Any, items: list[Any]) -> tuple[float, list[float], list[str]]:
    batcher = engine._batcher
    lat: list[float] = [0.0] * len(items)
    texts: list[str] = [""] * len(items)
    tokens = [0] * len(items)
    t0 = time.perf_counter()

    def one(i: int) -> None:
        r = batcher.run(items[i])
        lat[i] = time.perf_counter() - t0
        texts[i], tokens[i] = r.text, r.tokens_out

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(tokens) / (time.perf_counter() - t0), lat, texts


def hf_generate_batch(lm: Any, items: list[Any]) -> float | str:
    """transformers' own continuous batching (``generate_batch``); a reason where it fails.
    No end-of-sequence token: every request runs to the limit."""
    from transformers import GenerationConfig

    try:
        config = GenerationConfig(max_new_tokens=max(it.max_new_tokens for it in items), do_sample=False,
                                  eos_token_id=-1, pad_token_id=lm.tokenizer.pad_token_id or 0)
        t0 = time.perf_counter()
        out = lm.model.generate_batch(inputs=[it.input_ids for it in items], generation_config=config)
        wall = time.perf_counter() - t0
        tokens = sum(len(getattr(v, "generated_tokens", []) or []) for v in out.values())
        return tokens / wall
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:120]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="max_batch_size on both sides")
    parser.add_argument("--skip-hf-api", action="store_true")
    args = parser.parse_args()

    from agents import load_fleet
    from agents.engines.hf import TransformersEngine
    from agents.tasks._generation import GenItem

    spec = load_fleet().get("smollm2")
    spec = spec.model_copy(update={"engine": "transformers",
                                   "batching": spec.batching.model_copy(update={"max_batch_size": args.batch})})
    engine = TransformersEngine.load(spec, threads=args.threads, gpu_fraction=None)
    lm = engine.lm
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}, "
          f"batch {args.batch}, load {os.getloadavg()[0]:.1f}")

    def items() -> list[Any]:
        return [GenItem(input_ids=engine.prompt_ids(f"{STORY} (#{i})"), max_new_tokens=n)
                for i, n in enumerate(LENGTHS)]

    continuous(engine, items())  # warm-up: torch's CPU kernels for these shapes
    alone = []
    for i in range(4):
        t = time.perf_counter()
        engine._batcher.run(GenItem(input_ids=engine.prompt_ids(f"{STORY} (alone {i})"), max_new_tokens=8))
        alone.append(time.perf_counter() - t)
    unloaded = statistics.median(alone[1:])
    shorts = [i for i, n in enumerate(LENGTHS) if n == 8]

    rows = []
    for label, run in (("static", lambda: static(lm, items(), args.batch)),
                       ("continuous", lambda: continuous(engine, items())[:2])):
        tok_s, lat = run()
        p50 = statistics.median(lat[i] for i in shorts)
        rows.append((label, tok_s, p50))
        print(f"(a) {label}: {tok_s:.1f} tok/s; 8-token requests p50 {p50 * 1000:.0f} ms "
              f"({p50 / unloaded:.1f}x their unloaded {unloaded * 1000:.0f} ms); load {os.getloadavg()[0]:.1f}",
              flush=True)
    if not args.skip_hf_api:
        uniform = [GenItem(input_ids=engine.prompt_ids(f"{STORY} (u{i})"), max_new_tokens=64) for i in range(16)]
        eos = engine._batcher.eos
        engine._batcher.eos = set()  # run to the limit, as generate_batch does below
        ours, _, _ = continuous(engine, uniform)
        engine._batcher.eos = eos
        theirs = hf_generate_batch(lm, uniform)
        shown = f"{theirs:.1f} tok/s" if isinstance(theirs, float) else f"failed: {theirs}"
        print(f"(c) 16 x 64 tokens: our loop {ours:.1f} tok/s; transformers generate_batch {shown}", flush=True)

    from agents.tasks._generation import generate_batch

    check = items()[:6]
    _, _, texts = continuous(engine, check)
    same = sum(texts[i] == generate_batch(lm, [it])[0].text for i, it in enumerate(check))
    print(f"(b) greedy text equal to the request run alone: {same} of {len(check)}")
    (_, s_tok, s_p50), (_, c_tok, c_p50) = rows
    print(f"continuous / static: throughput {c_tok / s_tok:.2f}x, short p50 {s_p50 / c_p50:.1f}x lower")


if __name__ == "__main__":
    main()
