"""Embedding texts with the fleet's MiniLM: through the deployed agent when the fleet is
up (a running Ray with the slmflow Serve app), else in-process with the agents runtime.

Both paths run the same model with the same code (agents.runtime.ModelRunner), so the
groups found do not depend on where the analysis runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from orchestrator.logging import get_logger

Embedder = Callable[[list[str]], np.ndarray]
Mode = Literal["auto", "local", "cluster"]

_log = get_logger(component="migration")
_BATCH = 64


def _fleet_deployed(agent_name: str) -> bool:
    """True when this process is connected to Ray and the fleet serves `agent_name`."""
    try:
        import ray

        if not ray.is_initialized():
            return False
        from agents.fleet import deployed_agents

        return agent_name in deployed_agents()
    except Exception:  # any failure to ask means: not usable, embed locally
        return False


def _cluster_embedder(agent_name: str) -> Embedder:
    from agents import agent

    client = agent(agent_name)

    def embed(texts: list[str]) -> np.ndarray:
        out: list[list[float]] = []
        for i in range(0, len(texts), _BATCH):
            out.extend(client.embed_sync(texts[i:i + _BATCH]).embeddings)
        return np.asarray(out, dtype=np.float32)

    return embed


def _local_embedder(agent_name: str) -> Embedder:
    from agents.protocol import EmbedRequest, TaskKind
    from agents.runtime import ModelRunner
    from agents.spec import load_fleet

    runner = ModelRunner(load_fleet().get(agent_name))
    runner.load()

    def embed(texts: list[str]) -> np.ndarray:
        out: list[list[float]] = []
        for i in range(0, len(texts), _BATCH):
            (resp,) = runner.run_batch(TaskKind.EMBED, [EmbedRequest(texts=texts[i:i + _BATCH])])
            if isinstance(resp, Exception):
                raise resp
            out.extend(resp.embeddings)
        return np.asarray(out, dtype=np.float32)

    return embed


def make_embedder(mode: Mode = "auto", agent_name: str = "minilm") -> Embedder:
    """An embedding function over the named fleet agent (default: minilm)."""
    use_cluster = mode == "cluster" or (mode == "auto" and _fleet_deployed(agent_name))
    _log.info("migration.embedder", agent=agent_name, via="serve" if use_cluster else "in-process")
    return _cluster_embedder(agent_name) if use_cluster else _local_embedder(agent_name)
