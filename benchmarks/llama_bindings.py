"""Which llama.cpp binding: xllamacpp (prebuilt wheel, the project's) against a source build of
llama-cpp-python in another interpreter, on the same GGUF, same thread count, in one run.

    python3.11 -m venv /tmp/lcp && /tmp/lcp/bin/pip install llama-cpp-python   # builds llama.cpp (cmake)
    .venv/bin/python benchmarks/llama_bindings.py --other-python /tmp/lcp/bin/python

Each side decodes 128 greedy tokens of a story prompt three times (best run kept) and
prefills a ~400-token prompt; the figures are tokens per second.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "Once upon a time in a small village by the sea,"
LONG = " ".join(["The quick brown fox jumps over the lazy dog while the old lighthouse keeper watches."] * 24)

OTHER = r"""
import json, sys, time
from llama_cpp import Llama
path, threads = sys.argv[1], int(sys.argv[2])
llm = Llama(model_path=path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
best = 0.0
for i in range(3):
    llm.reset()
    t = time.perf_counter()
    out = llm.create_completion(f"{sys.argv[3]} ({i})", max_tokens=128, temperature=0.0, top_k=1)
    best = max(best, out["usage"]["completion_tokens"] / (time.perf_counter() - t))
llm.reset()
t = time.perf_counter()
out = llm.create_completion(sys.argv[4], max_tokens=1, temperature=0.0)
prefill = out["usage"]["prompt_tokens"] / (time.perf_counter() - t)
print(json.dumps({"decode": best, "prefill": prefill}))
"""


def ours(path: str, threads: int) -> dict[str, float]:
    from agents import load_fleet
    from agents.engines.base import Job
    from agents.engines.llama_cpp import LlamaCppEngine

    spec = load_fleet().get("smollm2")
    engine = LlamaCppEngine(spec, threads=threads).load()
    engine.reuse_prefix = False
    best = 0.0
    for i in range(3):
        t = time.perf_counter()
        [r] = engine.generate([Job(prompt=f"{PROMPT} ({i})", max_new_tokens=128)])
        best = max(best, r.tokens_out / (time.perf_counter() - t))
    t = time.perf_counter()
    [r] = engine.generate([Job(prompt=LONG, max_new_tokens=1)])
    prefill = r.tokens_in / (time.perf_counter() - t)
    engine.close()
    return {"decode": best, "prefill": prefill}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-python", required=True, help="an interpreter with llama-cpp-python installed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from agents import load_fleet

    path = str(load_fleet().get("smollm2").source().gguf_path)
    mine = ours(path, args.threads)
    out = subprocess.run([args.other_python, "-c", OTHER, path, str(args.threads), PROMPT, LONG],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{args.other_python} failed:\n{out.stderr[-2000:]}")
    other = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, {args.threads} thread(s)")
    print("| binding | decode tok/s | prefill tok/s |")
    print("|---|---|---|")
    print(f"| xllamacpp (prebuilt wheel) | {mine['decode']:.1f} | {mine['prefill']:.0f} |")
    print(f"| llama-cpp-python (source build) | {other['decode']:.1f} | {other['prefill']:.0f} |")
    print(f"ratio xllamacpp / llama-cpp-python: decode {mine['decode'] / other['decode']:.2f}, "
          f"prefill {mine['prefill'] / other['prefill']:.2f}")


if __name__ == "__main__":
    main()
