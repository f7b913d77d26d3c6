"""`slmflow cluster up/status/down`: a local head, stopped by the pid it was started with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.multinode import free_ports

SLMFLOW = str(Path(sys.executable).with_name("slmflow"))


def request_cleanup(path: Path) -> None:
    import atexit
    import shutil

    # At exit, when the head's last processes have surely gone and stopped writing logs there.
    atexit.register(shutil.rmtree, path, ignore_errors=True)


def test_up_status_down(tmp_path: Path) -> None:
    home = tmp_path / "home"
    temp_dir = Path(f"/tmp/slmh-{os.getpid()}")
    gcs, dash, nm, om, agent, agent_grpc, rte, metrics, client = free_ports(9)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(SLMFLOW_HOME=str(home), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    ray_args = [
        f"--node-manager-port={nm}", f"--object-manager-port={om}", f"--dashboard-agent-listen-port={agent}",
        f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={rte}",
        f"--metrics-export-port={metrics}", f"--ray-client-server-port={client}", "--num-cpus=1",
    ]  # fmt: skip
    up = subprocess.run(
        [SLMFLOW, "cluster", "up", "--port", str(gcs), "--dashboard-port", str(dash), "--temp-dir", str(temp_dir), "--", *ray_args],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"RAY_ADDRESS=127.0.0.1:{gcs}" in up.stdout
        state = json.loads((home / "cluster" / "head.json").read_text())
        pid = state["pid"]

        st = subprocess.run(
            [SLMFLOW, "cluster", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        info = json.loads(st.stdout)
        assert info["running"] is True and info["pid"] == pid
        assert [n["head"] for n in info["nodes"]] == [True]
        assert (temp_dir / "ray_current_cluster").read_text().strip().endswith(f":{gcs}")
    finally:
        down = subprocess.run(
            [SLMFLOW, "cluster", "down"], env=env, capture_output=True, text=True, timeout=60
        )
    assert down.stdout.strip() == "stopped", down.stdout + down.stderr
    # `ray start` recorded the head for ray.init(); a dead address left there hangs every later run.
    assert not (temp_dir / "ray_current_cluster").exists(), "down left Ray's current-cluster file behind"
    deadline = time.monotonic() + 20
    while (
        time.monotonic() < deadline
        and subprocess.run(["pgrep", "-f", str(temp_dir)], capture_output=True).stdout
    ):
        time.sleep(0.5)
    assert not subprocess.run(["pgrep", "-f", str(temp_dir)], capture_output=True).stdout, (
        "processes outlived down"
    )
    again = subprocess.run([SLMFLOW, "cluster", "down"], env=env, capture_output=True, text=True, timeout=60)
    assert "no head" in again.stdout
