"""What an inference engine is to the task modules: the small interface a new engine implements.

Task modules (``agents.tasks``) own the prompts and the meaning of each task kind: they
turn a typed request into engine-neutral ``Job``s and turn ``GenResult``s back into typed
responses. An engine owns the tokens: chat templates, grammars, sampling, batching and
caches. Two engines ship:

- ``transformers`` (``agents.engines.hf``): any Hugging Face model on CPU or CUDA; a
  whole batch runs as one ``generate`` call (``concurrent = False``, so Serve's
  ``@serve.batch`` collects the batch).
- ``llama_cpp`` (``agents.engines.llama_cpp``): GGUF files on llama.cpp's own server
  engine in-process: continuous batching across slots, prompt-prefix reuse, llama.cpp's
  JSON-schema grammars (``concurrent = True``: every request is submitted on its own, from
  its own thread, and the engine decodes all in-flight sequences together).

A GPU engine (vLLM) plugs in the same way: implement ``Engine`` and register it in
``agents.engines.load_engine``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agents.errors import AgentError


class LRU(OrderedDict):
    """A small bounded cache (label embeddings, compiled grammars), safe to share between the
    threads of a concurrent engine."""

    def __init__(self, maxsize: int = 1024) -> None:
        super().__init__()
        self.maxsize = maxsize
        self._lock = threading.RLock()

    def get_or(self, key: Any, make: Any) -> Any:
        with self._lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
            value = make()
            self[key] = value
            if len(self) > self.maxsize:
                self.popitem(last=False)
            return value


@dataclass
class Job:
    """One generation, as the task modules describe it. Exactly one of ``messages``/``prompt``.

    ``messages`` go through the model's own chat template; ``prompt`` is raw text.
    ``json_schema`` decodes under the schema's grammar (schema-valid output or a failure
    the task reports as ``InvalidOutput``).
    """

    max_new_tokens: int
    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    seed: int | None = None
    # A LoRA adapter the engine serves, by name; None for the base model.
    adapter: str | None = None


@dataclass
class GenResult:
    text: str
    finish_reason: Literal["stop", "length"]
    tokens_in: int
    tokens_out: int
    grammar_failed: bool = False
    # Prompt tokens served from a reused KV cache instead of being recomputed.
    cached_tokens: int = 0


# Called with each new piece of text while a job streams; returns True to stop early
# (the caller went away), which frees the sequence's slot.
OnText = Callable[[str], bool]


class Engine(Protocol):
    """An agent's loaded model, as the task modules and the runtime use it."""

    name: str
    # "transformers" or "llama_cpp": what `agents status` shows.
    engine_name: str
    # "causal" generates; "encoder" embeds and classifies by similarity.
    kind: Literal["causal", "encoder"]
    # True: thread-safe, batches across concurrent callers itself (continuous batching).
    # False: one batch at a time, collected by Serve's @serve.batch.
    concurrent: bool

    def generate(self, jobs: list[Job]) -> list[GenResult | AgentError]:
        """Run every job (together where the engine can); one result or error per job."""
        ...

    def stream(self, job: Job, on_text: OnText) -> GenResult:
        """Run one job, calling ``on_text`` with each new piece of text; returns the whole result."""
        ...

    def label_logprobs(self, messages: list[dict[str, str]], labels: list[str]) -> tuple[list[float], int]:
        """Mean token log-probability of each label as the assistant's reply; and prompt tokens."""
        ...

    def info(self) -> dict[str, Any]:
        """What is loaded: model, parameters, device, engine settings, cache statistics."""
        ...


__all__ = ["LRU", "Engine", "GenResult", "Job", "OnText"]
