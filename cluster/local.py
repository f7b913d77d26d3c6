"""A local Ray head for `slmflow cluster up/down/status`, stopped by the pid it was started with.

`ray start --head --block` runs in its own session, so its process group holds exactly the
processes it started; `down` signals that group and nothing else. (`ray stop` would kill
every Ray process on the machine, other users' clusters included.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from pydantic import BaseModel

from cluster.auth import auth_headers
from orchestrator.owners import pid_alive


class LocalHead(BaseModel):
    pid: int
    gcs_address: str
    dashboard_url: str
    temp_dir: str | None
    log_path: str
    started_at: float


def state_path() -> Path:
    home = Path(os.environ.get("SLMFLOW_HOME", Path.home() / ".slmflow")).expanduser()
    return home / "cluster" / "head.json"


def read_state() -> LocalHead | None:
    path = state_path()
    if not path.exists():
        return None
    return LocalHead.model_validate_json(path.read_text())


# Whether a process runs: the run store's owner check is the same question.
alive = pid_alive


def up(
    *,
    port: int = 6379,
    dashboard_port: int = 8265,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    temp_dir: Path | None = None,
    extra_args: list[str] | None = None,
    timeout: float = 120.0,
) -> LocalHead:
    current = read_state()
    if current is not None and alive(current.pid):
        return current
    ray_bin = Path(sys.executable).with_name("ray")
    cmd = [
        str(ray_bin if ray_bin.exists() else "ray"),
        "start",
        "--head",
        "--block",
        f"--port={port}",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        "--disable-usage-stats",
    ]
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        cmd.append(f"--num-gpus={num_gpus}")
    if temp_dir is not None:
        cmd.append(f"--temp-dir={temp_dir}")
    cmd += list(extra_args or [])
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    log_path = path.with_name("head.log")
    from agents.connect import WORKER_NICENESS_ENV

    # Replicas at normal priority (see agents.connect.serve_at_normal_priority).
    env = {**os.environ, WORKER_NICENESS_ENV: os.environ.get(WORKER_NICENESS_ENV, "0")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    head = LocalHead(
        pid=proc.pid,
        gcs_address=f"127.0.0.1:{port}",
        dashboard_url=f"http://127.0.0.1:{dashboard_port}",
        temp_dir=str(temp_dir) if temp_dir else None,
        log_path=str(log_path),
        started_at=time.time(),
    )
    path.write_text(head.model_dump_json())
    deadline = time.monotonic() + timeout
    node_up = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}")
        # The dashboard reports the node alive before `ray start` has finished: recording the
        # address that a bare `ray.init()` reads is the last thing it does before blocking.
        node_up = node_up or _alive_nodes(head.dashboard_url) >= 1
        if node_up and _recorded_address(head) is not None:
            return head
        time.sleep(0.5 if node_up else 1)
    waiting_for = "ray start to record its address" if node_up else "the head's dashboard to come up"
    raise TimeoutError(f"waited {timeout:g}s for {waiting_for}; log: {log_path}")


def _alive_nodes(dashboard_url: str) -> int:
    """ALIVE nodes per the dashboard's state API; 0 while the dashboard or the node is not up yet."""
    try:
        r = httpx.get(f"{dashboard_url}/api/v0/nodes", headers=auth_headers(), timeout=3)
        nodes = r.json()["data"]["result"]["result"]
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return 0
    return sum(1 for n in nodes if n.get("state") == "ALIVE")


def down(timeout: float = 20.0) -> bool:
    """Stop the head `up` started (by its process group); False when none was running."""
    head = read_state()
    if head is None:
        return False
    running = alive(head.pid)
    if running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while alive(head.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(head.pid, os.WNOHANG)
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
    forget_current_cluster(head)
    state_path().unlink(missing_ok=True)
    return running


def forget_current_cluster(head: LocalHead) -> bool:
    """Remove Ray's current-cluster file when it names `head` and nothing answers there any more.

    `ray start` writes the head's address to `<temp dir>/ray_current_cluster` so `ray.init()`
    finds it; only `ray stop` removes it, and we never run `ray stop` (it would stop every Ray
    on the machine). Left behind, the file sends every later `ray.init()` to a dead address.
    """
    from agents.connect import ClusterConnectError, _probe, _resolve

    recorded = _recorded_address(head)
    if recorded is None:
        return False
    try:
        host, port_no, _ = _resolve(recorded)
        _probe(host, port_no, recorded, 1.0)
    except ClusterConnectError:
        _address_file(head).unlink(missing_ok=True)
        return True
    return False  # something answers there again: not ours to remove


def _address_file(head: LocalHead) -> Path:
    from ray._common.utils import get_ray_address_file

    return Path(get_ray_address_file(head.temp_dir))


def _recorded_address(head: LocalHead) -> str | None:
    """The address in Ray's current-cluster file when it is `head`'s, else None."""
    try:
        recorded = _address_file(head).read_text().strip()
    except OSError:
        return None
    # Ray records the node's IP (not necessarily 127.0.0.1) with our port.
    return recorded if recorded.endswith(":" + head.gcs_address.rpartition(":")[2]) else None


def describe() -> dict[str, object]:
    head = read_state()
    if head is None:
        return {"running": False}
    out: dict[str, object] = {"running": alive(head.pid), **head.model_dump()}
    if out["running"]:
        try:
            r = httpx.get(f"{head.dashboard_url}/api/v0/nodes", headers=auth_headers(), timeout=5)
            nodes = r.json()["data"]["result"]["result"]
            out["nodes"] = [
                {
                    "node_id": n["node_id"][:12],
                    "ip": n["node_ip"],
                    "head": n["is_head_node"],
                    "state": n["state"],
                    "resources": n.get("resources_total", {}),
                }
                for n in nodes
            ]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            out["nodes_error"] = str(exc)
    return out


def _dumps(obj: object) -> str:
    return json.dumps(obj, indent=2, default=str)
