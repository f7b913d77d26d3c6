"""Lazy connection to Ray for the agents layer (client, fleet, CLI)."""

from __future__ import annotations

import threading

_lock = threading.Lock()


def ensure_connected(address: str | None = None) -> None:
    """Connect this process to Ray once, unless it already is.

    `agents.connect` is the one place that knows addresses, auth and probes.
    """
    import ray

    if ray.is_initialized():
        return
    with _lock:
        if ray.is_initialized():
            return
        from agents.connect import connect

        connect(address)
