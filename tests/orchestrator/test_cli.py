"""The CLI through click's runner and as a real `slmflow` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator import cli

ROOT = Path(__file__).resolve().parents[2]
SLMFLOW = Path(sys.executable).parent / "slmflow"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SLMFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    return CliRunner()


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_run_show_list_and_graph(runner: CliRunner) -> None:
    res = runner.invoke(cli.run, ["tests.orchestrator.flows:adder", "--input", "a=2", "-i", "b=3"])
    assert res.exit_code == 0, res.output
    [out] = _lines(res.stdout)
    assert out["status"] == "succeeded" and out["result"] == 8

    res = runner.invoke(cli.runs, ["list", "--json"])
    assert res.exit_code == 0
    [listed] = _lines(res.stdout)
    assert listed["run_id"] == out["run_id"] and listed["workflow"] == "adder"

    res = runner.invoke(cli.runs, ["list"], env={"COLUMNS": "80"})
    assert res.exit_code == 0 and out["run_id"] in res.output  # whole, even on a narrow terminal

    res = runner.invoke(cli.runs, ["show", out["run_id"]])
    assert res.exit_code == 0
    assert "add_2" in res.output and "succeeded" in res.output

    res = runner.invoke(cli.runs, ["show", out["run_id"], "--json"])
    assert [s["step"] for s in json.loads(res.output)["steps"]] == ["add", "add_2"]

    res = runner.invoke(cli.graph, ["tests.orchestrator.flows:adder"])
    assert res.exit_code == 0
    assert res.output.startswith("flowchart TD") and "n_add --> n_add_2" in res.output


def test_failed_run_exit_code_and_error_table(runner: CliRunner) -> None:
    res = runner.invoke(cli.run, ["tests.orchestrator.flows:guarded", "-i", "x=11"])
    assert res.exit_code == 1
    [out] = _lines(res.stdout)
    assert out["status"] == "failed" and "11 is over 10" in out["error"]
    res = runner.invoke(cli.runs, ["show", out["run_id"]])
    assert "ValueError: 11 is over 10" in res.output


def test_batch_from_jsonl(runner: CliRunner, tmp_path: Path) -> None:
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps({"x": x}) for x in (1, 20, 3)) + "\n")
    res = runner.invoke(cli.run, ["tests.orchestrator.flows:guarded", "--inputs", str(batch), "-c", "2"])
    assert res.exit_code == 1
    # Lines come as runs end, each naming its input's position.
    lines = sorted(_lines(res.stdout), key=lambda o: o["index"])
    assert [o["status"] for o in lines] == ["succeeded", "failed", "succeeded"]


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    cases = [
        (cli.run, ["tests.orchestrator.flows:adder", "-i", "b=1"], "missing required input 'a'"),
        (cli.run, ["tests.orchestrator.flows:adder", "-i", "a=x"], "input 'a'"),
        (cli.run, ["tests.orchestrator.flows:adder", "-i", "nonsense"], "expects key=value"),
        (cli.run, ["tests.orchestrator.flows"], "holds 3 workflows"),
        (cli.run, ["tests.orchestrator.flows:nothing"], "has no attribute 'nothing'"),
        (cli.run, ["tests.orchestrator.flows:add"], "not a @workflow"),
        (cli.run, ["no_such_module_xyz:wf"], "cannot import module"),
        (cli.runs, ["show", "no-such-run"], "no run 'no-such-run'"),
        (cli.resume, ["no-such-run"], "no run 'no-such-run'"),
    ]
    for command, args, message in cases:
        res = runner.invoke(command, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)


def test_module_with_one_workflow(runner: CliRunner, tmp_path: Path) -> None:
    module = tmp_path / "single_flow.py"
    module.write_text(
        "from orchestrator import step, workflow\n"
        "@step\nasync def hello(name: str) -> str:\n    return 'hello ' + name\n"
        "@workflow\ndef greet(name: str):\n    return hello(name)\n"
    )
    res = runner.invoke(cli.run, [str(module), "-i", "name=ada"])
    assert res.exit_code == 0, res.output
    assert _lines(res.stdout)[0]["result"] == "hello ada"


def test_real_subprocess_run_and_resume(tmp_path: Path) -> None:
    env = {**os.environ, "SLMFLOW_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [str(SLMFLOW), "run", "tests.orchestrator.flows:guarded", "-i", "x=12"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    # Resuming re-runs the failed step, which fails again: still exit 1, with the reason.
    proc = subprocess.run([str(SLMFLOW), "resume", run_id], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "12 is over 10" in proc.stderr
    proc = subprocess.run(
        [str(SLMFLOW), "run", "tests.orchestrator.flows:adder", "-i", "a=1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0 and json.loads(proc.stdout)["result"] == 3
