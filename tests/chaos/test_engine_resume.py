"""Resuming under faults: simultaneous resumes, runs whose process died, a SIGKILLed batch, and
step code that changed since the run was recorded."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import (
    RunBusyError,
    RunStatus,
    SQLiteStore,
    StepCodeChangedError,
    resume,
    start_resume,
    step,
    workflow,
)
from orchestrator import cli as ocli

ROOT = Path(__file__).resolve().parents[2]
SLMFLOW = Path(sys.executable).parent / "slmflow"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "runs.db")
    yield s
    s.close()


def _slmflow(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SLMFLOW), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


EFFECTS: list[str] = []
FAIL = {"on": True}


@step
async def effect(x: int) -> int:
    EFFECTS.append(f"effect:{x}")
    await asyncio.sleep(0.05)
    return x


@step
async def gate(x: int) -> int:
    if FAIL["on"]:
        raise RuntimeError("gate closed")
    return x + 1


@workflow
def gated(x: int):
    return gate(effect(x))


async def test_two_resumes_of_one_run_in_one_process_run_it_once(store: SQLiteStore) -> None:
    FAIL["on"] = True
    record = await gated.with_options(store=store).start(x=1).wait()
    assert record.status is RunStatus.FAILED
    FAIL["on"] = False
    EFFECTS.clear()
    # A crashed run whose effect step never finished: both resumes would run it.
    store._write("DELETE FROM steps WHERE run_id=? AND step='effect'", (record.run_id,))
    first = await start_resume(record.run_id, store=store)
    with pytest.raises(RunBusyError, match=r"still running in this process|claimed by another"):
        await start_resume(record.run_id, store=store)
    assert (await first.wait()).status is RunStatus.SUCCEEDED
    assert EFFECTS == ["effect:1"]


SLOW_SCRIPT = """
import os, time
from pathlib import Path
from orchestrator import step, workflow

@step
def work(x: int) -> int:
    if os.environ.get("FLOW_FAIL"):
        raise RuntimeError("failing on purpose")
    with open(os.environ["FLOW_EFFECTS"], "a") as fh:
        fh.write(f"work:{x}:{os.getpid()}\\n")
    time.sleep(float(os.environ.get("FLOW_DELAY", "0")))
    release = os.environ.get("FLOW_RELEASE")
    deadline = time.monotonic() + 60
    while release and not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.02)
    return x * 2

@workflow
def slow(x: int):
    return work(x)
"""


@pytest.mark.timeout(120)
def test_simultaneous_resumes_one_wins_the_others_exit_busy(tmp_path: Path) -> None:
    script = tmp_path / "slow_flow.py"
    script.write_text(SLOW_SCRIPT)
    effects = tmp_path / "effects.txt"
    env = {**os.environ, "SLMFLOW_HOME": str(tmp_path / "home"), "FLOW_EFFECTS": str(effects), "FLOW_FAIL": "1"}
    first = _slmflow("run", str(script), "-i", "x=4", "--no-progress", env=env)
    assert first.returncode == 1, first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    release = tmp_path / "release"
    env = {**env, "FLOW_RELEASE": str(release)}  # whoever runs the step holds it until released
    del env["FLOW_FAIL"]
    procs = [
        subprocess.Popen([str(SLMFLOW), "resume", run_id], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]  # fmt: skip
    try:
        # Release the step once two resumers are out (or time is up): all three overlapped.
        deadline = time.monotonic() + 60
        while sum(p.poll() is not None for p in procs) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        release.write_text("go")
    outs = [(p.wait(60), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outs)
    assert codes == [0, 3, 3], outs
    for code, _, err in outs:
        if code == 3:
            assert "claimed by another process" in err or "still running in process" in err, err
    assert effects.read_text().splitlines()[0].startswith("work:4:")
    assert len(effects.read_text().splitlines()) == 1  # the step ran once


@pytest.mark.timeout(120)
def test_a_run_whose_process_died_shows_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "slow_flow.py"
    script.write_text(SLOW_SCRIPT)
    effects = tmp_path / "effects.txt"
    home = tmp_path / "home"
    env = {**os.environ, "SLMFLOW_HOME": str(home), "FLOW_EFFECTS": str(effects), "FLOW_DELAY": "60"}
    proc = subprocess.Popen([str(SLMFLOW), "run", str(script), "-i", "x=2", "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (effects.exists() and effects.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert effects.exists(), proc.communicate()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    monkeypatch.setenv("SLMFLOW_HOME", str(home))
    res = CliRunner().invoke(ocli.runs, ["list"])
    assert res.exit_code == 0, res.output
    assert "interrupted" in res.output and "slmflow resume" in res.output
    res = CliRunner().invoke(ocli.runs, ["list", "--status", "interrupted", "--json"])
    [line] = res.output.splitlines()
    record = json.loads(line)
    assert record["status"] == "running" and record["interrupted"] is True
    res = CliRunner().invoke(ocli.runs, ["show", record["run_id"]])
    shown = " ".join(res.output.split())  # the console wraps long lines
    assert "interrupted" in shown and f"slmflow resume {record['run_id']}" in shown
    # ... and it resumes without --force.
    env["FLOW_DELAY"] = "0"
    done = _slmflow("resume", record["run_id"], env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == 4, done.stderr


BATCH_SCRIPT = """
import os, time
from orchestrator import step, workflow

@step
def square(x: int) -> int:
    time.sleep(0.1)
    with open(os.environ["FLOW_EFFECTS"], "a") as fh:
        fh.write(f"{x}\\n")
    return x * x

@workflow
def squares(x: int):
    return square(x)
"""


@pytest.mark.timeout(180)
def test_a_killed_batch_keeps_its_finished_lines_and_resumes_to_the_end(tmp_path: Path) -> None:
    script = tmp_path / "batch_flow.py"
    script.write_text(BATCH_SCRIPT)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"x": i}) + "\n" for i in range(60)))
    effects = tmp_path / "effects.txt"
    home = tmp_path / "home"
    env = {**os.environ, "SLMFLOW_HOME": str(home), "FLOW_EFFECTS": str(effects)}
    proc = subprocess.Popen(
        [str(SLMFLOW), "run", str(script), "--inputs", str(inputs), "-c", "4", "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[dict] = []
    try:
        deadline = time.monotonic() + 90
        while len(lines) < 12 and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(json.loads(line))
        assert len(lines) >= 12, "result lines did not come as runs finished"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    lines += [json.loads(x) for x in proc.stdout.read().splitlines() if x.strip()]  # type: ignore[union-attr]
    assert len(lines) < 60, "the batch finished before it could be killed"
    assert all(o["status"] == "succeeded" and o["result"] == o["index"] ** 2 for o in lines)

    store = SQLiteStore(home / "runs.db")
    runs = store.list_runs(limit=100)
    assert len(runs) == 60  # every input recorded, started or not
    [batch] = {r.batch for r in runs}
    assert sorted(r.batch_index for r in runs) == list(range(60))
    # Runs in flight and runs never started alike show interrupted (their process is gone).
    unfinished = [r for r in runs if r.status is not RunStatus.SUCCEEDED]
    assert unfinished and all(r.interrupted for r in unfinished)
    assert {str(r.status) for r in unfinished} <= {"running", "pending"}
    store.close()

    done = _slmflow("resume", "--batch", batch, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    rest = [json.loads(x) for x in done.stdout.splitlines()]
    assert all(o["status"] == "succeeded" and o["result"] == o["index"] ** 2 for o in rest)
    assert sorted(o["index"] for o in lines + rest) == list(range(60))
    # No finished run ran again: only runs in flight at the kill may show twice in the effects.
    counts: dict[str, int] = {}
    for x in effects.read_text().split():
        counts[x] = counts.get(x, 0) + 1
    assert not [x for x in (str(o["index"]) for o in lines) if counts.get(x, 0) > 1]
    again = _slmflow("resume", "--batch", batch, env=env)
    assert again.returncode == 0 and again.stdout == ""  # nothing left to do


CODE_V1 = """
import os
from orchestrator import step, workflow

@step
def double(x: int) -> int:
    return x * 2

@step
def finish(y: int) -> int:
    if os.environ.get("FLOW_FAIL"):
        raise RuntimeError("failing on purpose")
    return y + 1

@workflow
def coded(x: int):
    return finish(double(x))
"""


@pytest.mark.timeout(120)
def test_resume_refuses_changed_step_code_and_names_the_step(tmp_path: Path) -> None:
    script = tmp_path / "coded_flow.py"
    script.write_text(CODE_V1)
    env = {**os.environ, "SLMFLOW_HOME": str(tmp_path / "home"), "FLOW_FAIL": "1"}
    first = _slmflow("run", str(script), "-i", "x=5", "--no-progress", env=env)
    assert first.returncode == 1
    run_id = json.loads(first.stdout)["run_id"]
    del env["FLOW_FAIL"]

    script.write_text(CODE_V1.replace("return x * 2", "return x * 3"))
    refused = _slmflow("resume", run_id, env=env)
    assert refused.returncode == 2
    assert "'double'" in refused.stderr and "changed" in refused.stderr and "--allow-changed-code" in refused.stderr
    assert "'finish'" not in refused.stderr

    # Comments and blank lines are not a change of code.
    script.write_text(CODE_V1.replace("    return x * 2", "    # doubled\n\n    return x * 2  # still"))
    done = _slmflow("resume", run_id, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == 11


def test_allow_changed_code_resumes_and_says_so(store: SQLiteStore) -> None:
    @step(name="base")
    def base_v1(x: int) -> int:
        return x * 2

    @step(name="base")
    def base_v2(x: int) -> int:
        return x * 3

    @step
    def tail(y: int) -> int:
        if FAIL["on"]:
            raise RuntimeError("tail failed")
        return y

    @workflow(name="changing", store=store)
    def v1(x: int):
        return tail(base_v1(x))

    @workflow(name="changing", store=store)
    def v2(x: int):
        return tail(base_v2(x))

    assert v1.graph_hash == v2.graph_hash and v1.code_hashes["base"] != v2.code_hashes["base"]
    FAIL["on"] = True
    record = v1.run_many([{"x": 1}])[0]
    FAIL["on"] = False
    with pytest.raises(StepCodeChangedError, match="'base'"):
        resume(record.run_id, store=store, workflow=v2)
    assert resume(record.run_id, store=store, workflow=v2, allow_changed_code=True) == 2  # base's stored output kept
    final = store.get_run(record.run_id)
    assert final.status is RunStatus.SUCCEEDED
    assert any("changed code of step(s) base" in w for w in final.warnings)
