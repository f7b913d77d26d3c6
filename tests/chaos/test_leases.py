"""Leases: a run whose owner is on another host shows interrupted once the owner's lease expires.

The pid of a process on another host cannot be checked from here, so before leases such a
run showed `running` forever and resume wanted --force. The owner now renews a lease in the
store every few seconds; these tests run the owner under another host name (a UTS namespace,
`unshare -u`), kill or freeze it, and watch its run turn interrupted and resume without --force.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import RunStatus, SQLiteStore
from orchestrator.owners import HOST
from orchestrator.store import RunRow

ROOT = Path(__file__).resolve().parents[2]
SLMFLOW = Path(sys.executable).parent / "slmflow"

WORKFLOW = '''
import os
import time
from pathlib import Path
from orchestrator import step, workflow


@step
def first(x: int) -> int:
    return x + 1


@step
def slow(x: int) -> int:
    if Path(os.environ["LEASE_HOLD"]).exists():
        time.sleep(60)
    return x * 10


@workflow
def leased(x: int):
    return slow(first(x))
'''

RENEW_S, TTL_S = 0.2, 2.5  # a loaded 2-core machine may delay a renewal by a second


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "runs.db")
    yield s
    s.close()


def _row(run_id: str, host: str, token: str) -> RunRow:
    return RunRow(run_id, "wf", None, "h", "running", "{}", time.time(), time.time(), 4242, host, None, token)


def test_an_owner_on_another_host_is_gone_once_its_lease_expires(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLMFLOW_LEASE_TTL_S", "30")
    now = time.time()
    store._write("INSERT INTO leases VALUES (?,?,?,?)", ("far:4242:1", "far", 4242, now - 60))
    store._write("INSERT INTO leases VALUES (?,?,?,?)", ("near:4242:1", "near", 4242, now - 1))
    store.create_runs([_row("expired", "far", "far:4242:1#1"), _row("fresh", "near", "near:4242:1#3"),
                       _row("unleased", "other", "other:4242:1#1")])  # fmt: skip
    assert store.get_run("expired").interrupted
    assert not store.get_run("fresh").interrupted
    assert not store.get_run("unleased").interrupted  # no lease: cannot be told, as before leases
    assert {r.run_id for r in store.list_runs() if r.interrupted} == {"expired"}


def test_this_process_renews_its_lease_while_it_lives(store: SQLiteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMFLOW_LEASE_RENEW_S", str(RENEW_S))
    from orchestrator.owners import owner_token

    store.create_runs([_row("mine", HOST, f"{owner_token()}#1")])
    first = store._read("SELECT renewed_at FROM leases WHERE owner=?", (owner_token(),))[0][0]
    deadline = time.time() + 10  # the heartbeat thread may have been sleeping a default period
    while store._read("SELECT renewed_at FROM leases WHERE owner=?", (owner_token(),))[0][0] == first:
        assert time.time() < deadline, "the lease was not renewed"
        time.sleep(0.1)


def _other_host(tmp_path: Path) -> list[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to run the owner under another host name")
    probe = subprocess.run(["unshare", "-u", "hostname", "lease-other-host"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a UTS namespace here: {probe.stderr!r}")
    script = tmp_path / "as_other_host.sh"
    script.write_text('#!/bin/sh\nhostname lease-other-host\nexec "$@"\n')
    script.chmod(0o755)
    return ["unshare", "-u", str(script)]


@pytest.mark.parametrize("fault", ["killed", "frozen"])
def test_a_run_owned_on_another_host_turns_interrupted_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    prefix = _other_host(tmp_path)
    (tmp_path / "flow_lease.py").write_text(WORKFLOW)
    hold = tmp_path / "hold"
    hold.touch()
    env = {
        **os.environ, "SLMFLOW_HOME": str(tmp_path / "home"), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "LEASE_HOLD": str(hold), "SLMFLOW_LEASE_RENEW_S": str(RENEW_S), "SLMFLOW_LEASE_TTL_S": str(TTL_S),
        "SLMFLOW_LOG_LEVEL": "CRITICAL",
    }  # fmt: skip
    monkeypatch.setenv("SLMFLOW_LEASE_TTL_S", str(TTL_S))
    owner = subprocess.Popen(
        [*prefix, str(SLMFLOW), "run", "flow_lease:leased", "-i", "x=4", "--no-progress"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    store = None
    try:
        deadline = time.time() + 30
        while store is None or not store.list_runs():
            assert time.time() < deadline and owner.poll() is None, owner.communicate()
            time.sleep(0.2)
            if store is None and (tmp_path / "home" / "runs.db").exists():
                store = SQLiteStore(tmp_path / "home" / "runs.db")
        (run,) = store.list_runs()
        assert run.owner_host == "lease-other-host" != HOST
        # Alive and renewing: never interrupted, even well past the lease's time to live.
        for _ in range(int(1.5 * TTL_S / 0.25)):
            run = store.get_run(run.run_id)
            assert run.status is RunStatus.RUNNING and not run.interrupted
            time.sleep(0.25)
        os.killpg(owner.pid, signal.SIGKILL if fault == "killed" else signal.SIGSTOP)
        gone = time.time()
        while not store.get_run(run.run_id).interrupted:
            assert time.time() - gone < TTL_S + 5, "the run never showed interrupted"
            time.sleep(0.1)
        assert time.time() - gone >= TTL_S - RENEW_S - 0.1  # not before the lease could expire
        # Resume without --force: the expired lease says the owner is gone.
        hold.unlink()
        resumed = subprocess.run(
            [str(SLMFLOW), "resume", run.run_id], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout.splitlines()[-1])["result"] == 50
        steps = {s.step: s for s in store.get_run(run.run_id).steps}
        assert steps["first"].attempts == 1 and store.get_run(run.run_id).status is RunStatus.SUCCEEDED
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
        if store is not None:
            store.close()
