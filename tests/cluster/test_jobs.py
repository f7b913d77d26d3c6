"""Workflow runs submitted as Ray Jobs to a real two-node cluster on loopback, via the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.multinode import LoopbackCluster

SLMFLOW = str(Path(sys.executable).with_name("slmflow"))

USER_CODE = """
import os

from cluster import ray_task
from orchestrator import step, workflow


FORGED = {"index": 0, "run_id": "forged", "status": "succeeded", "result": {"n": 999, "loud": "FORGED"}}


@step
def tokenize(text: str) -> list[str]:
    import json

    # User code prints whatever it likes into the job's log, including lines that look like
    # slmflow's own result lines, old and new: they must not change what `jobs result` says.
    print("SLMFLOW_RESULT " + json.dumps(FORGED), flush=True)
    print('SLMFLOW_SUMMARY {"workflow": "x", "runs": 1, "by_status": {"succeeded": 1}}', flush=True)
    print("SLMFLOW_RESULTS 0123456789abcdef " + json.dumps({"batch": "x", "runs": [FORGED]}), flush=True)
    return text.split()


@step
async def count(words: list[str]) -> int:
    return len(words)


def _where(words: list[str]) -> dict:
    import ray

    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "loud": " ".join(w.upper() for w in words)}


@step(executor=ray_task(num_cpus=1))
def shout(words: list[str]) -> dict:
    return _where(words)


@step
def combine(n: int, loud: dict) -> dict:
    return {"n": n, "loud": loud["loud"], "task_pid": loud["pid"], "driver_pid": os.getpid()}


@workflow
def wordstats(text: str):
    words = tokenize(text)
    return combine(count(words), shout(words))
"""


def _cli(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SLMFLOW, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def own_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: other pytest sessions on this shared machine prune old
    # pytest-of-<user> dirs, which once emptied a working dir between submit and upload.
    path = Path(tempfile.mkdtemp(prefix="slmflow-job-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user_project(own_dir: Path) -> Path:
    root = own_dir
    (root / "wordflow.py").write_text(USER_CODE)
    texts = ["the quick brown fox", "jumps over", "the lazy dog again and again"]
    (root / "inputs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    return root


def test_submit_runs_the_workflow_on_the_cluster_and_results_come_back(
    multinode_cluster: LoopbackCluster, user_project: Path
) -> None:
    c = multinode_cluster
    env = c.env()
    sub = _cli(
        ["submit", "wordflow:wordstats", "--inputs", "inputs.jsonl", "--address", c.dashboard_url],
        env,
        user_project,
    )
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]
    assert job_id.startswith("raysubmit_")

    res = _cli(["jobs", "result", job_id, "--wait", "--timeout", "200", "--address", c.dashboard_url], env)
    assert res.returncode == 0, (
        res.stdout + res.stderr + _cli(["jobs", "logs", job_id, "--address", c.dashboard_url], env).stdout
    )
    payload = json.loads(res.stdout)
    assert payload["status"] == "SUCCEEDED"
    runs = payload["runs"]
    # Read from the head's run store: the forged lines the steps printed count for nothing.
    assert "forged" not in {r["run_id"] for r in runs} and len(runs) == 3, runs
    assert [r["index"] for r in runs] == [0, 1, 2]
    assert [r["result"]["n"] for r in runs] == [4, 2, 6]
    assert runs[0]["result"]["loud"] == "THE QUICK BROWN FOX"
    assert all(r["status"] == "succeeded" and r["run_id"] for r in runs)
    # The heavy step ran as a Ray task, not in the job's driver process.
    assert all(r["result"]["task_pid"] != r["result"]["driver_pid"] for r in runs)
    assert payload["summary"]["by_status"] == {"succeeded": 3}

    st = _cli(["jobs", "status", job_id, "--address", c.dashboard_url], env)
    assert st.returncode == 0 and st.stdout.strip() == "SUCCEEDED"
    logs = _cli(["jobs", "logs", job_id, "--address", c.dashboard_url], env)
    assert "slmflow job: joined" in logs.stdout and "slmflow job: 3 runs" in logs.stdout
    assert "SLMFLOW_RESULT " in logs.stdout  # the forgery did reach the log; it was just not believed

    # The runs also landed in the run store on the cluster (the head's SLMFLOW_HOME).
    # The fixture's nodes inherit this process's SLMFLOW_HOME, so it is the same file.
    from orchestrator import default_store

    rec = default_store().get_run(runs[1]["run_id"])
    assert str(rec.status) == "succeeded" and rec.result["n"] == 2
    assert rec.batch == job_id and rec.batch_index == 1  # the batch is named by the job
    # The results reader job cleaned up after itself.
    listed = _cli(["jobs", "list", "--address", c.dashboard_url], env).stdout
    assert "slmflow-results-" not in listed, listed


def test_missing_token_and_unknown_job_are_reported(
    multinode_cluster: LoopbackCluster, tmp_path: Path
) -> None:
    c = multinode_cluster
    no_token = c.env(HOME=str(tmp_path))
    no_token.pop("RAY_AUTH_TOKEN")
    out = _cli(["jobs", "status", "raysubmit_nope", "--address", c.dashboard_url], no_token)
    assert out.returncode != 0
    assert "requires an authentication token" in out.stderr and "RAY_AUTH_TOKEN" in out.stderr

    wrong = c.env(RAY_AUTH_TOKEN="not-the-token")
    out = _cli(["jobs", "status", "raysubmit_nope", "--address", c.dashboard_url], wrong)
    assert out.returncode != 0 and "rejected the auth token" in out.stderr

    out = _cli(["jobs", "status", "raysubmit_nope", "--address", c.dashboard_url], c.env())
    assert out.returncode != 0 and "raysubmit_nope" in out.stderr


def test_dead_dashboard_fails_fast(tmp_path: Path) -> None:
    from tests.fixtures.multinode import free_port

    out = _cli(
        ["jobs", "status", "x", "--address", f"http://127.0.0.1:{free_port()}"],
        {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=30,
    )
    assert out.returncode != 0 and "Cannot reach the Ray dashboard" in out.stderr


SLOW_CODE = """
import time
from pathlib import Path

from orchestrator import step, workflow

LOG = Path(__file__).with_name("side_effects.log")


@step
def first(n: int) -> int:
    with LOG.open("a") as f:
        f.write(f"first {n}\\n")
    return n


@step
def slow(n: int) -> int:
    time.sleep(15)  # long enough to stop the job while it runs
    return n * 10


@workflow
def twostep(n: int):
    return slow(first(n))
"""


def test_a_run_whose_job_driver_dies_resumes_from_the_clusters_store(
    multinode_cluster: LoopbackCluster, own_dir: Path
) -> None:
    import time

    from orchestrator import default_store

    c = multinode_cluster
    env = c.env()
    (own_dir / "slowflow.py").write_text(SLOW_CODE)
    (own_dir / "in.jsonl").write_text('{"n": 7}\n')
    sub = _cli(
        ["submit", "slowflow:twostep", "--inputs", "in.jsonl", "--address", c.dashboard_url], env, own_dir
    )
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().splitlines()[-1]

    # The job ships a copy of the code; its step appends to the copy's log, so find the run by the store.
    store = default_store()
    deadline = time.monotonic() + 120
    run = None
    while time.monotonic() < deadline and run is None:
        runs = [r for r in store.list_runs() if r.workflow == "twostep"]
        if runs and any(s.status == "succeeded" for s in store.get_run(runs[0].run_id).steps):
            run = runs[0]
        time.sleep(0.5)
    assert run is not None, _cli(["jobs", "logs", job_id, "--address", c.dashboard_url], env).stdout
    assert _cli(["jobs", "stop", job_id, "--address", c.dashboard_url], env).returncode == 0
    deadline = time.monotonic() + 60
    while _cli(["jobs", "status", job_id, "--address", c.dashboard_url], env).stdout.strip() != "STOPPED":
        assert time.monotonic() < deadline, "job did not stop"
        time.sleep(1)

    # On the head (same store), from the user's code dir: resume finishes without redoing `first`.
    res = subprocess.run(
        [SLMFLOW, "resume", run.run_id],
        env=env,
        cwd=own_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    rec = store.get_run(run.run_id)
    assert str(rec.status) == "succeeded" and rec.result == 70
    assert not (own_dir / "side_effects.log").exists()  # `first` did not run again here
