"""The package's logger: the engine's structlog setup once it exists, plain structlog before."""

from __future__ import annotations

from typing import Any


def get_logger(**binds: Any) -> Any:
    try:
        from orchestrator.logging import get_logger as engine_logger
    except ImportError:
        import structlog

        return structlog.get_logger("slmflow.cluster").bind(**binds)
    return engine_logger(**binds)
