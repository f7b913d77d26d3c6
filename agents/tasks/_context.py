"""What every task module gets: the agent's engine (see ``agents.engines.base.Engine``).

Task modules build prompts and parse answers; the engine runs them. Paths that only an
encoder serves (embeddings, similarity) use the transformers engine's loaded model.
"""

from __future__ import annotations

from agents.engines.base import LRU
from agents.engines.hf import TransformersEngine

# The name the task modules use for their engine; encoder-only paths need the
# transformers engine, every generation path takes any engine.
TaskContext = TransformersEngine

__all__ = ["LRU", "TaskContext"]
