"""Lazy connection to Ray for the agents layer (client, fleet, CLI)."""

from __future__ import annotations

import os
import threading

_lock = threading.Lock()


def ensure_connected(address: str | None = None) -> None:
    """Connect this process to Ray once, unless it already is.

    Prefers `cluster.connect.connect` (one place that knows addresses, auth and probes);
    falls back to a plain `ray.init` honouring RAY_ADDRESS when that package is absent.
    """
    import ray

    if ray.is_initialized():
        return
    with _lock:
        if ray.is_initialized():
            return
        try:
            from cluster.connect import connect
        except ImportError:
            ray.init(address=address or os.environ.get("RAY_ADDRESS"), log_to_driver=False)
            return
        connect(address)
