"""Reliability figures for issue 10 (items 1-3): stale cluster address, failed redeploys, down agents.

    .venv/bin/python benchmarks/reliability.py [--trials 3]

Measures, on a local Ray with the tiny test models (tests/fixtures/models.py):
- `connect()` with Ray's current-cluster file naming a dead head, against a clean start;
- calls to an agent during a redeploy whose new model cannot load (the previous version serves);
- how long a call to an agent left down by a failed deploy takes to fail (queued, then refused);
- how long a good deploy right after a failed one takes to report success;
- how close a call ends to its deadline when no replica ever comes.
Prints a JSON summary (paste the figures into RESULTS.md with the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONNECT = """
import time
t0 = time.monotonic()
from cluster import connect
info = connect(num_cpus=1) if {explicit} else connect()
print("SECONDS", round(time.monotonic() - t0, 2), info.started_here, flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connect_times(trials: int) -> dict[str, Any]:
    """connect() in a fresh process: clean, and with a current-cluster file naming a dead head."""
    out: dict[str, list[float]] = {"clean_s": [], "stale_file_s": []}
    for _ in range(trials):
        for kind in ("clean_s", "stale_file_s"):
            tmp = Path(f"/tmp/slmb-{os.getpid()}")
            (tmp / "ray").mkdir(parents=True, exist_ok=True)
            if kind == "stale_file_s":
                (tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{_free_port()}")
            env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
            env.update(RAY_TMPDIR=str(tmp), RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
            t0 = time.monotonic()
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", CONNECT.format(explicit=False)],
                    env=env, capture_output=True, text=True, timeout=180, cwd=REPO,
                )  # fmt: skip
                ok = proc.returncode == 0 and "SECONDS" in proc.stdout
            except subprocess.TimeoutExpired:
                ok = False
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            out[kind].append(round(time.monotonic() - t0, 2) if ok else float("inf"))
    return {k: {"median": statistics.median(v), "all": v} for k, v in out.items()}


async def _failed_redeploy_under_load(bad: Any) -> tuple[float, int, int]:
    """Deploy `bad` while a caller calls tinybert every 50 ms: (deploy seconds, calls ok, calls failed)."""
    from agents import agent
    from agents.fleet import DeployError, deploy

    done = asyncio.Event()
    counts = {"ok": 0, "failed": 0}

    async def hammer() -> None:
        client = agent("tinybert")
        while not done.is_set():
            try:
                await client.embed("still there?")
                counts["ok"] += 1
            except Exception:
                counts["failed"] += 1
            await asyncio.sleep(0.05)

    task = asyncio.create_task(hammer())
    t0 = time.monotonic()
    with contextlib.suppress(DeployError):
        await asyncio.to_thread(deploy, bad, timeout_s=300)
    took = time.monotonic() - t0
    done.set()
    await task
    return took, counts["ok"], counts["failed"]


def serve_figures(trials: int) -> dict[str, Any]:
    import ray

    from agents import AgentUnavailable, FleetSpec, agent
    from agents.client import RetryConfig
    from agents.errors import AgentTimeout
    from agents.fleet import DeployError, deploy, deployed_agents, fleet_status
    from tests.fixtures.models import build_tiny_bert

    work = Path(tempfile.mkdtemp(prefix="slmflow-rel-"))
    os.environ.setdefault("SLMFLOW_HTTP_PORT", str(_free_port()))
    ray.init(num_cpus=6, include_dashboard=False, log_to_driver=False, address="local")
    bert = build_tiny_bert(work / "bert")
    empty = work / "empty"
    empty.mkdir()
    good_agent = {"name": "tinybert", "model": str(bert), "tasks": ["embed", "classify"], "device": "cpu"}
    good = FleetSpec(agents=[good_agent])
    bad = FleetSpec(agents=[{**good_agent, "model": str(empty)}])
    broken = FleetSpec(agents=[good_agent, {"name": "broken", "model": str(empty), "tasks": ["embed"], "device": "cpu"}])
    pending = FleetSpec(agents=[good_agent, {**good_agent, "name": "pending", "resources": {"num_cpus": 64}}])
    res: dict[str, list[Any]] = {
        "calls_during_failed_redeploy": [], "calls_failed_during_failed_redeploy": [],
        "failed_redeploy_s": [], "good_deploy_after_failed_s": [],
        "down_queued_call_fail_s": [], "down_refused_call_fail_s": [], "deadline_3s_call_s": [],
    }  # fmt: skip
    try:
        deploy(good, timeout_s=300)
        for _ in range(trials):
            # 1. A redeploy that cannot load, with a caller hammering the agent meanwhile.
            took, ok, failed = asyncio.run(_failed_redeploy_under_load(bad))
            res["failed_redeploy_s"].append(round(took, 2))
            res["calls_during_failed_redeploy"].append(ok + failed)
            res["calls_failed_during_failed_redeploy"].append(failed)
            t0 = time.monotonic()
            deploy(good, timeout_s=300)
            res["good_deploy_after_failed_s"].append(round(time.monotonic() - t0, 2))

            # 2. A new agent that cannot load: a call queued while it has no replica, then a refused one.
            deploy(broken, wait=False)
            while "broken" not in deployed_agents():
                time.sleep(0.1)
            t0 = time.monotonic()
            try:
                agent("broken").embed_sync("queued")
            except AgentUnavailable:
                res["down_queued_call_fail_s"].append(round(time.monotonic() - t0, 2))
            with contextlib.suppress(DeployError):
                deploy(broken, timeout_s=300)
            t0 = time.monotonic()
            try:
                agent("broken").embed_sync("refused")
            except AgentUnavailable:
                res["down_refused_call_fail_s"].append(round(time.monotonic() - t0, 3))

            # 3. No replica ever comes: the call's deadline ends it.
            deploy(pending, wait=False)
            while "pending" not in deployed_agents():
                time.sleep(0.1)
            t0 = time.monotonic()
            try:
                agent("pending", retry=RetryConfig(deadline_s=3)).embed_sync("waits")
            except AgentTimeout:
                res["deadline_3s_call_s"].append(round(time.monotonic() - t0, 2))
            deploy(good, timeout_s=300)
        assert fleet_status().agents["tinybert"].serving
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()
    summary = {
        "machine": f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start",
        "connect": connect_times(args.trials),
        "serve": serve_figures(args.trials),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
