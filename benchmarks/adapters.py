"""Many LoRA specialists on one SmolLM2 replica (llama_cpp engine), measured side by side.

(a) memory: resident size of a process serving the base alone vs the base with 10 adapters
    (each rank 8 on every linear layer of the top 12 blocks, as `slmflow train` makes them),
    against 10 separate replicas of the base;
(b) the throughput cost of mixing adapters in one batch: 16 concurrent requests on the base
    only, spread over 4 adapters, and over 10;
(c) the switching cost: 12 sequential requests on one adapter vs alternating adapters.

The adapters' weights are random (what they cost does not depend on their values).

    .venv/bin/python benchmarks/adapters.py [--out results.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "Once upon a time in a small village by the sea,"


def gguf_shape(path: Path) -> dict[str, int]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()

    def get(key: str) -> int:
        return int(reader.fields[f"{arch}.{key}"].parts[-1][0])

    return {"layers": get("block_count"), "hidden": get("embedding_length"), "heads": get("attention.head_count"),
            "kv_heads": get("attention.head_count_kv"), "ffn": get("feed_forward_length")}


def write_adapters(shape: dict[str, int], folder: Path, n: int, rank: int = 8, top: int = 12) -> list[Path]:
    import torch

    from agents.engines.lora import write_lora_gguf

    h, kv_dim, ffn = shape["hidden"], shape["hidden"] // shape["heads"] * shape["kv_heads"], shape["ffn"]
    dims = {"self_attn.q_proj": (h, h), "self_attn.k_proj": (kv_dim, h), "self_attn.v_proj": (kv_dim, h),
            "self_attn.o_proj": (h, h), "mlp.gate_proj": (ffn, h), "mlp.up_proj": (ffn, h), "mlp.down_proj": (h, ffn)}
    paths = []
    for k in range(n):
        gen = torch.Generator().manual_seed(k)
        state = {}
        for layer in range(shape["layers"] - top, shape["layers"]):
            for module, (out_dim, in_dim) in dims.items():
                prefix = f"base_model.model.model.layers.{layer}.{module}"
                state[f"{prefix}.lora_A.weight"] = torch.randn(rank, in_dim, generator=gen) * 0.01
                state[f"{prefix}.lora_B.weight"] = torch.randn(out_dim, rank, generator=gen) * 0.01
        paths.append(write_lora_gguf(folder / f"spec{k}.gguf", state, alpha=2 * rank, n_head=shape["heads"],
                                     n_kv_head=shape["kv_heads"]))
    return paths


def rss_mib_of(adapters: list[str]) -> float:
    """Resident MiB of a fresh process that loads the engine (with ``adapters``) and answers once."""
    code = f"""
import json, resource, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
from agents import load_fleet
from agents.engines.base import Job
from agents.engines.llama_cpp import LlamaCppEngine
spec = load_fleet().get("smollm2").model_copy(update={{"adapters": {adapters!r}}})
engine = LlamaCppEngine(spec, threads=1).load()
engine.generate([Job(prompt="Hi", max_new_tokens=2, adapter={(Path(adapters[0]).stem if adapters else None)!r})])
with open("/proc/self/status") as f:
    rss = [int(line.split()[1]) for line in f if line.startswith("VmRSS")][0]
print(json.dumps(rss / 1024))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def concurrent_run(engine: Any, adapters: list[str | None], tokens: int = 32) -> float:
    from agents.engines.base import Job

    jobs = [Job(prompt=f"{PROMPT} ({i})", max_new_tokens=tokens, adapter=a) for i, a in enumerate(adapters)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda j: engine.generate([j])[0], jobs))
    return sum(r.tokens_out for r in results) / (time.perf_counter() - t0)


def sequential_ms(engine: Any, adapters: list[str | None], tokens: int = 8) -> float:
    from agents.engines.base import Job

    times = []
    for i, a in enumerate(adapters):
        t = time.perf_counter()
        engine.generate([Job(prompt=f"{PROMPT} [{i}]", max_new_tokens=tokens, adapter=a)])
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/slmflow/results/adapters.md")
    args = parser.parse_args()

    from agents import load_fleet
    from agents.engines.llama_cpp import LlamaCppEngine

    base_spec = load_fleet().get("smollm2")
    shape = gguf_shape(base_spec.source().gguf_path)
    folder = Path(tempfile.mkdtemp(prefix="slmflow-adapters-"))
    paths = write_adapters(shape, folder, 10)
    size_mib = statistics.fmean(p.stat().st_size for p in paths) / 2**20
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"10 adapters of {size_mib:.1f} MiB each")

    base_rss = rss_mib_of([])
    ten_rss = rss_mib_of([str(p) for p in paths])
    print(f"(a) RSS: base {base_rss:.0f} MiB, base + 10 adapters {ten_rss:.0f} MiB, 10 replicas {10 * base_rss:.0f} MiB")

    spec = base_spec.model_copy(update={"adapters": [str(p) for p in paths],
                                        "batching": base_spec.batching.model_copy(update={"max_batch_size": 16})})
    engine = LlamaCppEngine(spec, threads=1).load()
    names = [p.stem for p in paths]
    concurrent_run(engine, [None] * 4, 4)  # warm-up
    base_tps = concurrent_run(engine, [None] * 16)
    four_tps = concurrent_run(engine, [names[i % 4] for i in range(16)])
    ten_tps = concurrent_run(engine, [names[i % 10] for i in range(16)])
    print(f"(b) 16 concurrent x 32 tokens: base only {base_tps:.1f} tok/s, 4 adapters {four_tps:.1f} "
          f"({four_tps / base_tps:.2f}x), 10 adapters {ten_tps:.1f} ({ten_tps / base_tps:.2f}x)")
    same = sequential_ms(engine, [names[0]] * 12)
    switching = sequential_ms(engine, [names[i % 2] for i in range(12)])
    none = sequential_ms(engine, [None] * 12)
    print(f"(c) sequential 8-token requests, median: base {none:.0f} ms, one adapter {same:.0f} ms, "
          f"alternating two {switching:.0f} ms")
    engine.close()
    lines = [
        f"adapters.py on {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, one thread",
        "",
        "| measure | value |",
        "|---|---|",
        f"| adapter file (rank 8, 7 modules x 12 blocks) | {size_mib:.1f} MiB |",
        f"| (a) RSS base / base + 10 adapters / 10 replicas | {base_rss:.0f} / {ten_rss:.0f} / {10 * base_rss:.0f} MiB |",
        f"| (b) 16 concurrent, base only | {base_tps:.1f} tok/s |",
        f"| (b) spread over 4 adapters | {four_tps:.1f} tok/s ({four_tps / base_tps:.2f}x) |",
        f"| (b) spread over 10 adapters | {ten_tps:.1f} tok/s ({ten_tps / base_tps:.2f}x) |",
        f"| (c) sequential median: base / one adapter / alternating two | {none:.0f} / {same:.0f} / {switching:.0f} ms |",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
