"""A real process running a workflow is SIGKILLed half way; resume finishes the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import RunStatus, SQLiteStore, StepStatus, resume
from tests.orchestrator.flows import CHAIN, crashable

ROOT = Path(__file__).resolve().parents[2]
N = 6


def _step_of(effect: str) -> str:
    """The step id whose body wrote this side-effect line."""
    if effect in ("seed", "combine"):
        return effect
    name, _, value = effect.partition(":")
    k = int(value)
    if name == "slow_square":
        return f"slow_square[{k}]"
    return "slow_inc" if k == 0 else f"slow_inc_{k + 1}"


def _upstream(step_id: str) -> list[str]:
    if step_id.startswith("slow_square["):
        return ["seed"]
    if step_id.startswith("slow_inc_"):
        k = int(step_id.rsplit("_", 1)[1])
        return ["slow_inc" if k == 2 else f"slow_inc_{k - 1}"]
    if step_id == "combine":
        return ["slow_square", f"slow_inc_{CHAIN}"]
    return []


@pytest.mark.timeout(120)
def test_sigkill_mid_run_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, effects = tmp_path / "home", tmp_path / "effects.txt"
    env = {**os.environ, "SLMFLOW_HOME": str(home), "SLMFLOW_TEST_EFFECTS": str(effects)}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "slmflow"), "run", "tests.orchestrator.flows:crashable",
         "-i", f"n={N}", "-i", "delay=0.15", "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Half way: the fan-out is done and the chain has begun, but the chain is far from its end.
        while time.monotonic() < deadline:
            lines = effects.read_text().splitlines() if effects.exists() else []
            if sum(1 for line in lines if line.startswith("slow_inc")) >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.005)
        else:
            pytest.fail("the workflow never got half way")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = SQLiteStore(home / "runs.db")
    [crashed] = store.list_runs()
    assert crashed.status is RunStatus.RUNNING  # nobody got to record an end
    record = store.get_run(crashed.run_id)
    finished = {s.step for s in record.steps if s.status is StepStatus.SUCCEEDED}
    before = effects.read_text().splitlines()
    assert "seed" in finished and "combine" not in finished  # really killed mid-run
    assert f"slow_inc_{CHAIN}" not in finished
    # Durable before dependents start: any step whose body ran had its inputs stored already.
    for effect in before:
        for up in _upstream(_step_of(effect)):
            assert up in finished, f"{_step_of(effect)} ran before {up}'s output was stored"

    monkeypatch.setenv("SLMFLOW_TEST_EFFECTS", str(effects))
    result = resume(crashed.run_id, store=store)
    after = effects.read_text().splitlines()[len(before) :]
    rerun = {_step_of(e) for e in after}
    assert not rerun & finished, f"finished steps ran again: {sorted(rerun & finished)}"
    assert "combine" in rerun

    final = store.get_run(crashed.run_id)
    assert final.status is RunStatus.SUCCEEDED
    assert all(s.status is StepStatus.SUCCEEDED for s in final.steps)

    monkeypatch.delenv("SLMFLOW_TEST_EFFECTS")
    uninterrupted = crashable.with_options(store=None).run(n=N, delay=0.0)
    assert result == uninterrupted == final.result
    store.close()
