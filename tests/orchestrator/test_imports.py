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
