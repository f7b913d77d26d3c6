"""GPU path check: CUDA dtype, fractional GPUs under Ray Serve, memory caps, batched throughput.

Runs only where CUDA is present (the lent H100/H200 machine); it prints one JSON
document and writes it to --out. What it exercises is the code the CPU suite cannot:

1. `ModelRunner` with `device: auto` picks CUDA and bfloat16; batched vs sequential
   generation tokens/s on the raw runner; xgrammar-constrained extraction on CUDA.
2. `cap_cuda_memory` refuses a share too small for the model, naming the sizes.
3. Ray Serve on one real GPU: two agents with `num_gpus` 0.5 and 0.25 share it, each
   replica runs on CUDA with its memory capped; 64 concurrent generate calls through the
   client vs sequential calls; a third agent whose GPU share cannot hold its model makes
   the deploy fail with that reason instead of hanging.

The weights are random (SmolLM2-135M's architecture and its real tokenizer): the model
files of the default fleet do not fit the device machine's 64 MiB upload, and speed and
memory depend on the architecture, not on the weight values.

    python benchmarks/gpu_check.py --tokenizer PATH --out results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = [f"Write a short note about order number {i} and its delivery." for i in range(64)]
SCHEMA = {
    "type": "object",
    "properties": {"urgent": {"type": "boolean"}, "level": {"enum": ["low", "normal", "high"]}},
    "required": ["urgent", "level"],
    "additionalProperties": False,
}


def build_smol(folder: Path, tokenizer_dir: Path) -> Path:
    """SmolLM2-135M's architecture with random weights, saved with the real tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def check_runtime(smol: Path) -> dict[str, Any]:
    import torch

    from agents import AgentSpec, ModelLoadError, ModelRunner
    from agents.models.device import cap_cuda_memory

    spec = AgentSpec(name="smol", model=str(smol), tasks=["generate", "extract"], device="auto", dtype="auto",
                     resources={"num_cpus": 4})
    runner = ModelRunner(spec).load()
    info = runner.info()
    out: dict[str, Any] = {"device": info["device"], "dtype": info["dtype"], "parameters": info["parameters"]}

    def gen(prompts: list[str]) -> tuple[int, float]:
        reqs = [{"prompt": p, "max_new_tokens": 64, "temperature": 0.0} for p in prompts]
        t0 = time.perf_counter()
        res = runner.run_batch("generate", reqs)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return sum(r.usage.tokens_out for r in res), time.perf_counter() - t0

    gen(PROMPTS[:4])  # warm-up: CUDA context, kernels
    tokens, seconds = gen(PROMPTS)
    batched = tokens / seconds
    seq_tokens, seq_seconds = 0, 0.0
    for p in PROMPTS[:8]:
        t, s = gen([p])
        seq_tokens, seq_seconds = seq_tokens + t, seq_seconds + s
    sequential = seq_tokens / seq_seconds
    out["generate_batched_tok_s"] = round(batched, 1)
    out["generate_sequential_tok_s"] = round(sequential, 1)
    out["batched_over_sequential"] = round(batched / sequential, 2)

    reqs = [{"text": f"Ticket {i}: the server is down, customers cannot pay.", "json_schema": SCHEMA,
             "max_new_tokens": 48} for i in range(16)]
    t0 = time.perf_counter()
    res = runner.run_batch("extract", reqs)
    out["extract_16_s"] = round(time.perf_counter() - t0, 2)
    out["extract_valid"] = sum(1 for r in res if not isinstance(r, Exception))
    out["extract_errors"] = sorted({type(r).__name__ for r in res if isinstance(r, Exception)})

    try:
        cap_cuda_memory(0.001, need_bytes=2 * 2**30)
        out["cap_refused"] = False
    except ModelLoadError as exc:
        out["cap_refused"] = True
        out["cap_message"] = str(exc)
    return out


async def _concurrent(client: Any, prompts: list[str]) -> tuple[list[Any], list[float], float]:
    """All prompts at once; each call's wall-clock latency in ms, and the total seconds."""

    async def timed(prompt: str) -> tuple[Any, float]:
        t0 = time.perf_counter()
        resp = await client.generate(prompt, max_new_tokens=64, temperature=0.0)
        return resp, (time.perf_counter() - t0) * 1000

    t0 = time.perf_counter()
    pairs = await asyncio.gather(*(timed(p) for p in prompts))
    return [r for r, _ in pairs], [ms for _, ms in pairs], time.perf_counter() - t0


def check_serve(smol: Path, bert: Path) -> dict[str, Any]:
    import ray
    from ray import serve

    from agents import DeployError, FleetSpec, agent, deploy, fleet_status

    ray.init(num_cpus=16, num_gpus=1, include_dashboard=False, log_to_driver=False)
    base = [
        {"name": "smol", "model": str(smol), "tasks": ["generate", "extract"],
         "resources": {"num_gpus": 0.5, "num_cpus": 2}, "batching": {"max_batch_size": 64, "batch_wait_timeout_s": 0.02}},
        {"name": "bert", "model": str(bert), "tasks": ["embed", "classify"],
         "resources": {"num_gpus": 0.25, "num_cpus": 1}, "batching": {"max_batch_size": 64}},
    ]
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    deploy(FleetSpec(agents=base), timeout_s=300)
    out["deploy_s"] = round(time.perf_counter() - t0, 1)
    status = fleet_status()
    out["resources_per_replica"] = {n: a.resources_per_replica for n, a in status.agents.items()}
    infos = {}
    for name in ("smol", "bert"):
        handle = serve.get_deployment_handle(name, "slmflow")
        info = handle.options(method_name="info").remote().result()
        infos[name] = {k: info[k] for k in ("device", "dtype", "replica_id")}
    out["replicas"] = infos

    smol_client = agent("smol")
    asyncio.run(_concurrent(smol_client, PROMPTS[:8]))  # warm-up
    res, lat, seconds = asyncio.run(_concurrent(smol_client, PROMPTS))
    tokens = sum(r.usage.tokens_out for r in res)
    out["serve_generate_concurrent_tok_s"] = round(tokens / seconds, 1)
    out["serve_generate_p50_ms"], out["serve_generate_p95_ms"] = pct(lat, 0.5), pct(lat, 0.95)
    out["serve_mean_batch_size"] = round(statistics.mean(r.usage.batch_size for r in res), 1)
    t0, seq_tokens = time.perf_counter(), 0
    for p in PROMPTS[:8]:
        seq_tokens += smol_client.generate_sync(p, max_new_tokens=64, temperature=0.0).usage.tokens_out
    sequential = seq_tokens / (time.perf_counter() - t0)
    out["serve_generate_sequential_tok_s"] = round(sequential, 1)
    out["serve_batched_over_sequential"] = round(tokens / seconds / sequential, 2)

    bert_client = agent("bert")

    async def classify_all() -> list[Any]:
        return await asyncio.gather(*(bert_client.classify(f"order {i} arrived broken", labels=["refund", "praise"])
                                      for i in range(256)))

    asyncio.run(classify_all())
    t0 = time.perf_counter()
    asyncio.run(classify_all())
    out["serve_classify_256_concurrent_req_s"] = round(256 / (time.perf_counter() - t0), 1)

    if shutil.which("nvidia-smi"):
        out["nvidia_smi_apps"] = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader"],
            capture_output=True, text=True, check=False,
        ).stdout.strip().splitlines()

    starved = {"name": "starved", "model": str(smol), "tasks": ["generate"],
               "resources": {"num_gpus": 0.001, "num_cpus": 1}}
    t0 = time.perf_counter()
    try:
        deploy(FleetSpec(agents=[*base, starved]), timeout_s=240)
        out["starved_deploy"] = "unexpectedly succeeded"
    except DeployError as exc:
        out["starved_deploy"] = f"refused after {time.perf_counter() - t0:.0f}s: {exc}"[:600]
    serve.shutdown()
    ray.shutdown()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="8 prompts instead of 64 (a CPU dry run)")
    args = parser.parse_args()
    if args.quick:
        del PROMPTS[8:]
    import torch

    from tests.fixtures.models import build_tiny_bert

    cuda = torch.cuda.is_available()
    result: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "torch": torch.__version__,
        "gpu_memory_gib": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1) if cuda else None,
    }
    with tempfile.TemporaryDirectory() as tmp:
        smol = build_smol(Path(tmp) / "smol", args.tokenizer)
        bert = build_tiny_bert(Path(tmp) / "bert")
        for name, check in (("runtime", lambda: check_runtime(smol)), ("serve", lambda: check_serve(smol, bert))):
            try:
                result[name] = check()
            except Exception as exc:  # report what failed and keep the other check's figures
                result[name] = {"error": f"{type(exc).__name__}: {exc}"}
            args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
