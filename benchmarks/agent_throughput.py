"""Agent throughput through Ray Serve on the real default fleet, measured side by side in one run.

(a) classification (minilm, similarity) requests/s through Serve with batching at 64
    concurrent callers, divided by the raw model's offline batched throughput in this
    process on the same cores; beside it, Serve with batching off (max_batch_size 1).
(b) generation (smollm2) tokens/s through Serve with batching (concurrent callers)
    against sequential per-request `generate` calls, as the article's code does.

Targets: (a) >= 0.8 of raw, (b) >= 3x sequential. p50/p95 latency reported.

    .venv/bin/python benchmarks/agent_throughput.py [--out results.md]

The replicas get the same number of CPUs as the raw run (Ray sets the replica's
OMP_NUM_THREADS from its num_cpus, and torch follows it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REVIEWS = [
    "Absolutely love this blender, it crushes ice in seconds and cleans up easily.",
    "Terrible customer service, the package arrived broken and nobody answered my emails.",
    "The headphones sound great but the battery barely lasts two hours.",
    "Best purchase this year, the shoes are comfortable right out of the box.",
    "Stopped working after a week. Waste of money, do not buy.",
    "Decent value for the price, does what it says on the label.",
    "The app keeps crashing whenever I try to upload a photo, very frustrating.",
    "Fast delivery and the quality exceeded my expectations, highly recommended.",
]
LABELS = ["positive", "negative"]
# Story openings: SmolLM2 continues them to the token limit, so every request of a batch
# produces its full share of tokens (a prompt the model answers with EOS at once would
# make a batch look slow for want of work, not of speed).
PROMPTS = [
    "Once upon a time in a small village by the sea,",
    "The old lighthouse keeper climbed the stairs and",
    "In the year 2150, the first city on Mars",
    "The recipe for the perfect bread starts with",
    "When the train stopped in the middle of the desert,",
    "The scientist looked at the results and realised",
    "Every morning the baker on Elm Street",
    "The map showed a path through the mountains that",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def classify_requests(n: int) -> list[Any]:
    from agents.protocol import ClassifyRequest

    return [ClassifyRequest(text=f"{REVIEWS[i % len(REVIEWS)]} (#{i})", labels=LABELS) for i in range(n)]


def raw_classify(spec: Any, n: int, batch: int, threads: int) -> dict[str, float]:
    """The limit: the runner's own batched throughput in this process, no Serve, no Ray."""
    import torch

    from agents.runtime import ModelRunner

    torch.set_num_threads(threads)
    runner = ModelRunner(spec).load()
    reqs = classify_requests(n)
    runner.run_batch("classify", reqs[:batch])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        out = runner.run_batch("classify", reqs[i : i + batch])
        assert all(hasattr(r, "label") for r in out), out[:1]
    wall = time.perf_counter() - t0
    return {"rps": n / wall, "wall_s": wall}


async def serve_load(client: Any, task: str, make: Any, n: int, concurrency: int) -> dict[str, Any]:
    """`n` calls from `concurrency` callers each awaiting its previous call (closed loop)."""
    latencies: list[float] = []
    results: list[Any] = []
    next_i = 0

    async def caller() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t = time.perf_counter()
            results.append(await client.call(task, make(i)))
            latencies.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return {
        "rps": n / wall,
        "wall_s": wall,
        "p50_ms": statistics.median(latencies),
        "p95_ms": pct(latencies, 0.95),
        "mean_batch": statistics.fmean(r.usage.batch_size for r in results),
        "tokens_out": sum(r.usage.tokens_out for r in results),
    }


def with_agent(fleet: Any, name: str, **changes: Any) -> Any:
    from agents.spec import FleetSpec

    agents = []
    for a in fleet.agents:
        d = a.model_dump(mode="json", exclude_unset=True)
        if a.name == name:
            for key, value in changes.items():
                d[key] = {**d.get(key, {}), **value} if isinstance(value, dict) else value
        agents.append(d)
    return FleetSpec(agents=agents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classify-requests", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--gen-requests", type=int, default=16)
    parser.add_argument("--gen-concurrency", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--unbatched-requests", type=int, default=256)
    # One thread per side by default: on a small machine other work shares, torch's spinning
    # thread barriers make 2 threads on 2 busy cores several times slower than 1 (measured
    # here: a single-row SmolLM2 generate 9.4 s with 2 threads, 1.6 s with 1).
    parser.add_argument("--cpus", type=int, default=1, help="CPU threads for each side (raw run, each replica)")
    parser.add_argument("--out", default="/tmp/slmflow/results/agent_throughput.md")
    args = parser.parse_args()

    import ray

    from agents import agent, deploy, load_fleet
    from agents.fleet import delete

    base = load_fleet()
    # Same cores on both sides: the replica gets every CPU the raw run uses.
    fleet = with_agent(
        with_agent(base, "minilm", resources={"num_cpus": args.cpus}), "smollm2", resources={"num_cpus": args.cpus}
    )
    minilm = fleet.get("minilm")
    print(f"raw minilm classify: {args.classify_requests} requests, batches of {minilm.batching.max_batch_size}")
    raw = raw_classify(minilm, args.classify_requests, minilm.batching.max_batch_size, args.cpus)
    print(f"  {raw['rps']:.1f} req/s")

    os.environ.setdefault("SLMFLOW_HTTP_PORT", str(free_port()))
    # Logical CPUs for both replicas at once; the work still shares the machine's cores.
    ray.init(num_cpus=2 * args.cpus + 1, include_dashboard=False, log_to_driver=False)
    try:
        t = time.perf_counter()
        deploy(fleet, timeout_s=900)
        deploy_s = time.perf_counter() - t
        print(f"fleet deployed in {deploy_s:.1f}s")

        reqs = classify_requests(args.classify_requests)
        warm = asyncio.run(serve_load(agent("minilm"), "classify", lambda i: reqs[i], 64, args.concurrency))
        del warm
        batched = asyncio.run(
            serve_load(agent("minilm"), "classify", lambda i: reqs[i], args.classify_requests, args.concurrency)
        )
        print(f"serve classify, batching: {batched['rps']:.1f} req/s, mean batch {batched['mean_batch']:.1f}")

        gen = {"max_new_tokens": args.max_new_tokens, "temperature": 0.0}

        def gen_req(i: int) -> dict[str, Any]:
            return {"prompt": PROMPTS[i % len(PROMPTS)], **gen}

        asyncio.run(serve_load(agent("smollm2"), "generate", gen_req, 2, 1))  # warm-up
        seq = asyncio.run(serve_load(agent("smollm2"), "generate", gen_req, args.gen_requests, 1))
        seq_tps = seq["tokens_out"] / seq["wall_s"]
        print(f"serve generate, sequential: {seq_tps:.1f} tok/s")
        par = asyncio.run(
            serve_load(agent("smollm2"), "generate", gen_req, args.gen_requests, args.gen_concurrency)
        )
        par_tps = par["tokens_out"] / par["wall_s"]
        print(f"serve generate, batching: {par_tps:.1f} tok/s, mean batch {par['mean_batch']:.1f}")

        # Batching off for minilm only: the redeploy restarts that agent alone.
        deploy(with_agent(fleet, "minilm", batching={"max_batch_size": 1, "batch_wait_timeout_s": 0.0}))
        asyncio.run(serve_load(agent("minilm"), "classify", lambda i: reqs[i], 64, args.concurrency))
        unbatched = asyncio.run(
            serve_load(agent("minilm"), "classify", lambda i: reqs[i], args.unbatched_requests, args.concurrency)
        )
        print(f"serve classify, no batching: {unbatched['rps']:.1f} req/s")
        delete()
        # The raw limit again, now that the replicas are gone: the machine is shared, so
        # the two raw runs bracket the Serve runs and their mean is the reference.
        raw_after = raw_classify(minilm, args.classify_requests, minilm.batching.max_batch_size, args.cpus)
        print(f"raw minilm classify again: {raw_after['rps']:.1f} req/s")
    finally:
        ray.shutdown()

    raw_rps = (raw["rps"] + raw_after["rps"]) / 2
    ratio_a = batched["rps"] / raw_rps
    ratio_a_off = unbatched["rps"] / raw_rps
    ratio_b = par_tps / seq_tps
    lines = [
        "## agent_throughput (benchmarks/agent_throughput.py)",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, no GPU; load average at the end "
        f"{os.getloadavg()[0]:.1f}. "
        f"Default fleet; each replica and the raw run get {args.cpus} CPU thread(s).",
        "",
        f"(a) classification, minilm by similarity, {args.classify_requests} requests, "
        f"{args.concurrency} concurrent callers through DeploymentHandles:",
        "",
        "| path | req/s | ratio to raw | p50 ms | p95 ms | mean batch |",
        "|---|---|---|---|---|---|",
        f"| raw ModelRunner, batches of {minilm.batching.max_batch_size}, in-process (before {raw['rps']:.1f}, "
        f"after {raw_after['rps']:.1f}) | {raw_rps:.1f} | 1.00 | - | - | "
        f"{minilm.batching.max_batch_size} |",
        f"| Serve + @serve.batch (max {minilm.batching.max_batch_size}) | {batched['rps']:.1f} | **{ratio_a:.2f}** "
        f"| {batched['p50_ms']:.0f} | {batched['p95_ms']:.0f} | {batched['mean_batch']:.1f} |",
        f"| Serve, batching off ({args.unbatched_requests} requests) | {unbatched['rps']:.1f} | {ratio_a_off:.2f} | {unbatched['p50_ms']:.0f} "
        f"| {unbatched['p95_ms']:.0f} | {unbatched['mean_batch']:.1f} |",
        "",
        f"Target >= 0.8 of raw: {'met' if ratio_a >= 0.8 else 'NOT met'}.",
        "",
        f"(b) generation, smollm2, {args.gen_requests} requests x {args.max_new_tokens} new tokens (greedy):",
        "",
        "| path | tokens/s | ratio | p50 ms | p95 ms | mean batch |",
        "|---|---|---|---|---|---|",
        f"| sequential per-request generate | {seq_tps:.1f} | 1.00 | {seq['p50_ms']:.0f} | {seq['p95_ms']:.0f} "
        f"| {seq['mean_batch']:.1f} |",
        f"| Serve + @serve.batch, {args.gen_concurrency} concurrent callers | {par_tps:.1f} | **{ratio_b:.2f}x** "
        f"| {par['p50_ms']:.0f} | {par['p95_ms']:.0f} | {par['mean_batch']:.1f} |",
        "",
        f"Target >= 3x sequential: {'met' if ratio_b >= 3 else 'NOT met'}. Fleet deploy took {deploy_s:.0f}s.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
