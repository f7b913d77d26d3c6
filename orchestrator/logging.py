"""structlog set-up shared by every slmflow package.

Log lines emitted inside a step carry `run_id`, `step` and `attempt` automatically (a
processor reads `current_step()`), so the engine binds nothing per step.
"""

from __future__ import annotations

import logging as _stdlib_logging
import os
import sys
from typing import Any

import structlog

from orchestrator.context import current_step

_STATE: dict[str, Any] = {"configured": False, "level": _stdlib_logging.INFO}


def _add_step_context(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    ctx = current_step()
    if ctx is not None:
        event.setdefault("run_id", ctx.run_id)
        event.setdefault("step", ctx.step)
        event.setdefault("attempt", ctx.attempt)
    return event


class _StderrLogger:
    """Writes to whatever sys.stderr is at the time of the call (test runners and CLIs swap it)."""

    def msg(self, message: str) -> None:
        stream = sys.stderr
        stream.write(message + "\n")
        stream.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_args: Any) -> _StderrLogger:
    return _StderrLogger()


def _level(level: int | str) -> int:
    if isinstance(level, int):
        return level
    value = _stdlib_logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    return value


def configure_logging(json: bool | None = None, level: int | str | None = None) -> None:
    """Configure structlog for slmflow: JSON lines (or console) on stderr, filtered by level.

    Defaults come from SLMFLOW_LOG_JSON (1/0; default JSON) and SLMFLOW_LOG_LEVEL (default INFO).
    """
    if json is None:
        json = os.environ.get("SLMFLOW_LOG_JSON", "1") not in ("0", "false", "no")
    numeric = _level(level if level is not None else os.environ.get("SLMFLOW_LOG_LEVEL", "INFO"))
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_step_context,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
    _STATE["configured"] = True
    _STATE["level"] = numeric


def is_enabled_for(level: int) -> bool:
    """Whether slmflow's configured level lets `level` through (cheap; for hot paths)."""
    return level >= _STATE["level"]


def get_logger(**binds: Any) -> Any:
    """A structlog logger bound with `binds` (run_id, step, agent...); configures logging on first use."""
    if not _STATE["configured"] and not structlog.is_configured():
        configure_logging()
    # A lazy proxy, not `.bind()`: module-level loggers are made at import time, and a bound
    # logger would keep the level in force then instead of a later configure_logging().
    return structlog.get_logger("slmflow", **binds)
