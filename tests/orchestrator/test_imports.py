"""The engine stays pure: importing it (and its CLI) pulls in no Ray, torch or transformers."""

from __future__ import annotations

import subprocess
import sys


def test_orchestrator_imports_no_heavy_frameworks() -> None:
    code = (
        "import sys, orchestrator, orchestrator.cli, orchestrator.logging\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'torch', 'transformers'))\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_public_api() -> None:
    import orchestrator

    for name in ("step", "workflow", "RetryPolicy", "Workflow", "resume", "RunRecord", "StepRecord",
                 "RunStatus", "StepStatus", "Store", "SQLiteStore", "default_store", "Executor",
                 "current_step", "StepContext", "UsageRecord"):  # fmt: skip
        assert name in orchestrator.__all__ and hasattr(orchestrator, name)
    from orchestrator.logging import configure_logging, get_logger

    configure_logging(json=True, level="WARNING")
    get_logger(run_id="r", agent="a").debug("filtered out")


def test_logs_inside_steps_carry_run_step_and_attempt(capsys) -> None:
    import json

    from orchestrator import step, workflow
    from orchestrator.logging import configure_logging, get_logger

    @step
    def chatty(x: int) -> int:
        get_logger(agent="clf").warning("inside", x=x)
        return x

    @workflow(store=None)
    def wf(x: int):
        return chatty(x)

    configure_logging(json=True, level="INFO")
    try:
        assert wf.run(x=4) == 4
    finally:
        configure_logging(json=True, level="WARNING")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [inside] = [line for line in lines if line["event"] == "inside"]
    assert inside["step"] == "chatty" and inside["attempt"] == 1 and inside["agent"] == "clf"
    assert len(inside["run_id"]) == 20 and inside["level"] == "warning"
