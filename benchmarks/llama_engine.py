"""The llama_cpp engine on the shipped SmolLM2 GGUF, side by side in one run (one thread a side).

(a) single-stream decode tokens/s: the engine offline in this process (llama.cpp's own
    server loop, no Serve) vs the default smollm2 agent through Serve; and the transformers
    engine on the fp32-dequantised copy of the same file, for scale.
(b) 16 concurrent requests of mixed lengths (8 to 128 new tokens) through Serve: served
    tokens/s vs the engine's offline limit on the same 16 requests; p50 latency of the short
    requests (8 tokens) under that load vs unloaded. Both are medians over ``--bursts`` warm
    bursts, each against the unloaded p50 measured just before it.
(c) time to the first streamed token through Serve.
(d) prefill tokens/s of the email-triage demo's extraction prompts, with and without
    prefix reuse (the same requests; one output token each).

Targets (issue 12): (a) >= 0.8; (b) >= 0.8 of the limit, short p50 <= 2x unloaded.

    .venv/bin/python benchmarks/llama_engine.py [--out results.md]
"""

from __future__ import annotations

import argparse
import asyncio
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
# The weights smollm2 can serve (spec fields), and how tables name them.
WEIGHTS: dict[str, dict[str, Any]] = {
    "q4_1": {"requantize": None, "split_q4_1": False},
    "split": {"requantize": None, "split_q4_1": True},
    "q4_0": {"requantize": "q4_0", "split_q4_1": False},
}
WEIGHT_NAMES = {"q4_1": "shipped Q4_1, its own kernels", "split": "shipped Q4_1 split (Q4_0 + offsets)",
                "q4_0": "Q4_0 copy"}
LENGTHS = [8, 128, 16, 96, 8, 64, 32, 128, 8, 48, 16, 112, 8, 80, 24, 128]


def engine_of(spec: Any) -> Any:
    from agents.engines import load_engine

    return load_engine(spec, threads=spec.threads or 1)


def caller(engine: Any) -> Any:
    """``call(prompt, tokens) -> tokens written`` on an engine in this process."""
    from agents.engines.base import Job

    def call(prompt: str, tokens: int) -> int:
        [r] = engine.generate([Job(prompt=prompt, max_new_tokens=tokens)])
        return int(r.tokens_out)

    return call


def decode_rate(call: Any, n: int = 3, tokens: int = 128) -> float:
    """Best tokens/s of ``n`` greedy story continuations of ``tokens`` tokens."""
    best = 0.0
    for i in range(n):
        t0 = time.perf_counter()
        out = call(f"{STORY} (story {i})", tokens)
        best = max(best, out / (time.perf_counter() - t0))
    return best


def offline_mixed(engine: Any) -> dict[str, float]:
    """The 16 mixed requests submitted at once to the engine itself: its batched limit."""
    from agents.engines.base import Job

    jobs = [Job(prompt=f"{STORY} (#{i})", max_new_tokens=n) for i, n in enumerate(LENGTHS)]
    t0 = time.perf_counter()
    results = engine.generate(jobs)
    wall = time.perf_counter() - t0
    return {"tok_s": sum(r.tokens_out for r in results) / wall, "wall_s": wall}


def prefill_rate(engine: Any, reuse: bool) -> dict[str, float]:
    """The demo writer's extraction prompts on the shipped emails, one output token each."""
    import json

    from agents.engines.base import Job
    from agents.protocol import ExtractRequest
    from agents.tasks.extract import messages
    from workflows import email_triage as et

    rows = [json.loads(line) for line in (Path(et.__file__).parent / "data" / "email_triage.jsonl").open()]
    schema = et.EmailFields.model_json_schema()
    instruction = "Read the customer email. Give the customer's intent in a few words and the urgency."
    engine.reuse_prefix = reuse
    tokens = cached = 0
    t0 = time.perf_counter()
    for r in rows:
        req = ExtractRequest(text=f"From: {r['sender']}\nSubject: {r['subject']}\n\n{r['body']}",
                             json_schema=schema, instruction=instruction)
        [res] = engine.generate([Job(messages=messages(req), max_new_tokens=1)])
        tokens += res.tokens_in
        cached += res.cached_tokens
    wall = time.perf_counter() - t0
    engine.reuse_prefix = True
    return {"tok_s": tokens / wall, "hit": cached / tokens if tokens else 0.0, "n": len(rows), "tokens": tokens}


async def serve_mixed(client: Any) -> dict[str, Any]:
    lat: dict[int, float] = {}
    outs: list[int] = []

    async def one(i: int, n: int) -> None:
        t = time.perf_counter()
        r = await client.generate(f"{STORY} (#{i})", max_new_tokens=n)
        lat[i] = (time.perf_counter() - t) * 1000
        outs.append(r.usage.tokens_out)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i, n) for i, n in enumerate(LENGTHS)))
    wall = time.perf_counter() - t0
    short = [lat[i] for i, n in enumerate(LENGTHS) if n == 8]
    return {"tok_s": sum(outs) / wall, "wall_s": wall, "short_p50_ms": statistics.median(short)}


async def short_unloaded(client: Any, n: int = 6) -> float:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        await client.generate(f"{STORY} (alone {i})", max_new_tokens=8)
        lat.append((time.perf_counter() - t) * 1000)
    return statistics.median(lat)


async def first_token_ms(client: Any, n: int = 5) -> float:
    times = []
    for i in range(n):
        t = time.perf_counter()
        async for chunk in client.stream(prompt=f"{STORY} (stream {i})", max_new_tokens=16):
            if chunk.text:
                times.append((time.perf_counter() - t) * 1000)
                break
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/slmflow/results/llama_engine.md")
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--bursts", type=int, default=5, help="warm bursts of the 16 mixed requests (b)")
    parser.add_argument("--threads", type=int, default=1, help="engine threads, the same on every side")
    parser.add_argument("--slots", type=int, default=None, help="sequence slots (default: the fleet's)")
    parser.add_argument("--express-slots", type=int, default=None, help="express slots (default: the fleet's)")
    parser.add_argument("--express-threads", type=int, default=None,
                        help="threads of a lane of its own for the express slots (default: the fleet's; 0: none)")
    parser.add_argument("--weights", choices=list(WEIGHTS), default=None,
                        help="the shipped Q4_1 on its own kernels, split, or the Q4_0 copy (default: the fleet's)")
    args = parser.parse_args()
    if args.bursts < 1:
        parser.error("--bursts must be at least 1")

    import ray

    from agents import agent, deploy, load_fleet
    from agents.spec import FleetSpec

    fleet = load_fleet()
    smol = fleet.get("smollm2").model_copy(update={"threads": args.threads})
    if args.slots:
        smol = smol.model_copy(update={"batching": smol.batching.model_copy(update={"max_batch_size": args.slots})})
    for field, value in (("express_slots", args.express_slots), ("express_threads", args.express_threads)):
        if value is not None:
            smol = smol.model_copy(update={"batching": smol.batching.model_copy(update={field: value})})
    if args.weights is not None:
        smol = smol.model_copy(update=WEIGHTS[args.weights])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; smollm2 "
          f"{args.threads} thread(s), requantize {smol.requantize}, split_q4_1 {smol.split_q4_1}, "
          f"batching {smol.batching.model_dump()}")

    # (a)'s reference: llama.cpp on the shipped file as it is, whatever weights are served.
    native = engine_of(smol.model_copy(update=WEIGHTS["q4_1"]))
    native_rate = decode_rate(caller(native))
    native.close()
    print(f"(a) llama.cpp on the shipped file, its own kernels: {native_rate:.1f} tok/s")

    engine = engine_of(smol)

    offline_call = caller(engine)
    offline_call(STORY, 8)  # warm-up
    offline = decode_rate(offline_call)
    print(f"(a) offline llama.cpp engine: {offline:.1f} tok/s")
    limit = offline_mixed(engine)
    print(f"(b) offline limit, 16 mixed requests at once: {limit['tok_s']:.1f} tok/s")
    no_reuse = prefill_rate(engine, reuse=False)
    with_reuse = prefill_rate(engine, reuse=True)
    print(f"(d) prefill of {no_reuse['n']} demo extraction prompts ({no_reuse['tokens']} tokens): "
          f"{no_reuse['tok_s']:.0f} tok/s without reuse, {with_reuse['tok_s']:.0f} tok/s with "
          f"(hit rate {with_reuse['hit']:.0%})")
    engine.close()

    hf_rate = None
    if not args.skip_transformers:
        hf = engine_of(smol.model_copy(update={"engine": "transformers"}))

        hf_call = caller(hf)
        hf_call(STORY, 4)
        hf_rate = decode_rate(hf_call, n=1, tokens=64)
        print(f"(a) transformers engine, fp32 copy of the same GGUF: {hf_rate:.1f} tok/s")
        del hf

    from agents.connect import serve_at_normal_priority

    serve_at_normal_priority()
    ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False)
    try:
        deploy(FleetSpec(agents=[smol.model_dump(mode="json", exclude_unset=True)]), timeout_s=600)
        client = agent("smollm2", coalesce=False)

        def served_call(prompt: str, tokens: int) -> int:
            return client.generate_sync(prompt, max_new_tokens=tokens).usage.tokens_out

        served_call(STORY, 8)
        served = decode_rate(served_call)
        print(f"(a) through Serve: {served:.1f} tok/s = {served / offline:.2f}x offline, "
              f"{served / native_rate:.2f}x llama.cpp on the shipped file")
        # The first burst meets slots whose caches hold other prompts; a serving replica's
        # slots hold its recent traffic, as they do for the warm bursts (the ones reported).
        cold_alone = asyncio.run(short_unloaded(client))
        cold = asyncio.run(serve_mixed(client))
        print(f"(b) first burst (cold slots): short p50 {cold['short_p50_ms']:.0f} ms = "
              f"{cold['short_p50_ms'] / cold_alone:.2f}x alone, {cold['tok_s']:.1f} tok/s")
        # One burst holds only four 8-token requests, and its ratio swings by 10-40% from
        # burst to burst on 2 cores: report the median of several, each against the unloaded
        # p50 measured just before it.
        rounds = []
        for k in range(args.bursts):
            alone_k = asyncio.run(short_unloaded(client))
            burst_k = asyncio.run(serve_mixed(client))
            rounds.append({**burst_k, "alone_ms": alone_k, "ratio": burst_k["short_p50_ms"] / alone_k})
            print(f"(b) warm burst {k + 1}: short p50 {burst_k['short_p50_ms']:.0f} / {alone_k:.0f} ms alone = "
                  f"{rounds[-1]['ratio']:.2f}x, {burst_k['tok_s']:.1f} tok/s")
        ratios = sorted(r["ratio"] for r in rounds)
        mixed = {"tok_s": statistics.median(r["tok_s"] for r in rounds),
                 "short_p50_ms": statistics.median(r["short_p50_ms"] for r in rounds),
                 "ratio": statistics.median(ratios), "range": (ratios[0], ratios[-1])}
        alone = statistics.median(r["alone_ms"] for r in rounds)
        print(f"(b) through Serve, 16 mixed, median of {len(rounds)} warm bursts: {mixed['tok_s']:.1f} tok/s = "
              f"{mixed['tok_s'] / limit['tok_s']:.2f}x the offline limit; short p50 {mixed['ratio']:.2f}x alone "
              f"(bursts {ratios[0]:.2f}-{ratios[-1]:.2f}x; {mixed['short_p50_ms']:.0f} vs {alone:.0f} ms)")
        ttft = asyncio.run(first_token_ms(client))
        print(f"(c) first streamed token through Serve: p50 {ttft:.0f} ms")
    finally:
        ray.shutdown()

    lines = [
        f"llama_engine.py on {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"{args.threads} engine thread(s) a side, {smol.batching.max_batch_size} slots",
        "",
        "| measure | value |",
        "|---|---|",
        f"| (a) decode, offline engine | {offline:.1f} tok/s |",
        f"| (a) decode, llama.cpp on the shipped file | {native_rate:.1f} tok/s |",
        f"| (a) decode through Serve | {served:.1f} tok/s ({served / offline:.2f}x offline, "
        f"{served / native_rate:.2f}x the shipped file) |",
    ]
    if hf_rate:
        lines.append(f"| (a) transformers engine, fp32 copy | {hf_rate:.1f} tok/s ({offline / hf_rate:.1f}x slower) |")
    lines += [
        f"| (b) 16 mixed, offline limit | {limit['tok_s']:.1f} tok/s |",
        f"| (b) 16 mixed through Serve, median | {mixed['tok_s']:.1f} tok/s ({mixed['tok_s'] / limit['tok_s']:.2f}x limit) |",
        f"| (b) short p50 loaded / alone, median of {len(rounds)} bursts | {mixed['short_p50_ms']:.0f} / {alone:.0f} ms "
        f"({mixed['ratio']:.2f}x; bursts {mixed['range'][0]:.2f}-{mixed['range'][1]:.2f}x) |",
        f"| (c) first streamed token, p50 | {ttft:.0f} ms |",
        f"| (d) prefill without / with reuse | {no_reuse['tok_s']:.0f} / {with_reuse['tok_s']:.0f} tok/s "
        f"(hit {with_reuse['hit']:.0%}) |",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
