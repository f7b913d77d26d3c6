"""Inference engines: what runs an agent's model (see ``agents.engines.base`` for the interface).

``load_engine(spec)`` picks the engine the spec names (``engine:`` in the fleet file;
"auto" = llama_cpp for GGUF files on CPU, transformers otherwise) and loads the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.engines.base import Engine, GenResult, Job

if TYPE_CHECKING:
    from agents.spec import AgentSpec


def load_engine(spec: AgentSpec, *, threads: int, gpu_fraction: float | None = None) -> Any:
    """The spec's engine with its model loaded; raises ModelLoadError/SpecError with the reason."""
    from agents.models.device import resolve_device

    device = resolve_device(spec.device).type
    # The PyPI wheel of llama.cpp is CPU-only: where the replica has a GPU, "auto" keeps a
    # GGUF agent on transformers/CUDA instead of leaving the GPU idle.
    on_gpu_auto = spec.engine == "auto" and device == "cuda"
    if spec.resolved_engine == "llama_cpp" and not on_gpu_auto:
        from agents.engines.llama_cpp import LlamaCppEngine

        return LlamaCppEngine(spec, threads=threads or 1, device=device).load()
    from agents.engines.hf import TransformersEngine

    return TransformersEngine.load(spec, threads=threads, gpu_fraction=gpu_fraction)


__all__ = ["Engine", "GenResult", "Job", "load_engine"]
