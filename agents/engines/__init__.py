"""Inference engines: what runs an agent's model (see ``agents.engines.base`` for the interface).

``load_engine(spec)`` picks the engine the spec names (``engine:`` in the fleet file;
"auto" = llama_cpp for GGUF files, transformers otherwise) and loads the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.engines.base import Engine, GenResult, Job

if TYPE_CHECKING:
    from agents.spec import AgentSpec


def load_engine(spec: AgentSpec, *, threads: int, gpu_fraction: float | None = None) -> Any:
    """The spec's engine with its model loaded; raises ModelLoadError/SpecError with the reason."""
    if spec.resolved_engine == "llama_cpp":
        from agents.engines.llama_cpp import LlamaCppEngine
        from agents.models.device import resolve_device

        device = resolve_device(spec.device).type
        return LlamaCppEngine(spec, threads=threads or 1, device=device).load()
    from agents.engines.hf import TransformersEngine

    return TransformersEngine.load(spec, threads=threads, gpu_fraction=gpu_fraction)


__all__ = ["Engine", "GenResult", "Job", "load_engine"]
