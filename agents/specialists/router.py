"""A tool router for a ``tool_call`` LoRA: a head over a sentence encoder picks the tool where it is sure.

The MiniLM head and the tool_call LoRA miss on different requests (RESULTS.md, "Follow-up 5"):
the head, trained on embeddings and the tools' descriptions, generalises over phrasing; the
LoRA fills the arguments and holds up where the head hesitates. Served together, when the
head's top probability is at least ``theta`` the LoRA's grammar admits only the head's tool,
while the prompt still lists every tool, so the arguments are written as the adapter was
trained to write them. Below ``theta`` the LoRA chooses as it would alone. Under greedy
decoding, narrowing the grammar to the tool the LoRA would pick anyway changes nothing, so
the router only acts where the two disagree.

The router lives in the adapter's version folder, in ``router/``: the encoder's files (hard
links where possible), ``head.safetensors`` and ``router.json``. It routes only requests
whose every tool is one of its labels; a tool it never saw leaves the choice to the LoRA.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.specialists.head import HEAD_FILE, Head
from orchestrator.logging import get_logger

log = get_logger(component="specialists.router")

ROUTER_DIR = "router"
ROUTER_FILE = "router.json"
# Chosen on validation: heads and LoRAs trained on tool_choice.train + train2, scored on the
# hand-written train3 they never saw (benchmarks/tool_combine.py; RESULTS.md "Follow-up 5").
DEFAULT_THETA = 0.95


class RouterConfig(BaseModel):
    """``router.json``: what the router was trained on and when it decides."""

    model_config = ConfigDict(extra="forbid")
    encoder: str  # the --router given: a fleet agent or a model reference
    encoder_model: str  # the model reference it resolved to
    max_input_tokens: int
    theta: float = Field(ge=0.0, le=1.0)
    labels: list[str]


def check_router(tools: list[str], theta: float) -> None:
    """Raise TrainError unless a router can be trained on calls of ``tools`` to decide at ``theta``
    (``train_adapter`` asks before the LoRA's minutes of training, not after)."""
    from agents.specialists.train import TrainError

    if not 0.0 <= theta <= 1.0:
        raise TrainError(f"the router's theta must be within [0, 1], got {theta}")
    if len(set(tools)) < 2:
        raise TrainError(f"a tool router needs calls of at least two tools; the data calls only {sorted(set(tools))}")


def train_router(
    folder: str | os.PathLike[str],
    requests: list[Any],
    tools: list[str],
    *,
    encoder: str,
    theta: float = DEFAULT_THETA,
    fleet: Any = None,
    seed: int = 0,
    threads: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """Train a router on ``requests`` (``ToolCallRequest``) and the ``tools`` they call; write it to
    ``folder``/router. Returns its training record (for the version's hyper-parameters)."""
    from agents.specialists.train import encoder_runner, fit_head, materialise
    from agents.tasks.tool_call import user_text

    check_router(tools, theta)
    descriptions: dict[str, str] = {}
    for req in requests:
        for tool in req.tools:
            if tool.description:
                descriptions.setdefault(tool.name, tool.description)
    runner, model_ref, max_tokens = encoder_runner("router", encoder, fleet, threads, progress, "--router")
    try:
        head, params = fit_head(runner, [user_text(r) for r in requests], list(tools), descriptions, C=None,
                                seed=seed, progress=progress)
        out = Path(folder) / ROUTER_DIR
        out.mkdir(parents=True)
        materialise(Path(runner.spec.source().location), out)
        head.save(out)
    finally:
        runner.engine.close()
    config = RouterConfig(encoder=encoder, encoder_model=model_ref, max_input_tokens=max_tokens, theta=theta,
                          labels=head.labels)
    (out / ROUTER_FILE).write_text(config.model_dump_json(indent=1))
    return {**config.model_dump(), **params}


class ToolRouter:
    """A trained router, served beside the LoRA it belongs to (on the same replica)."""

    def __init__(self, config: RouterConfig, head: Head, encoder: Any) -> None:
        self.config = config
        self.head = head
        self.encoder = encoder  # a ModelRunner serving ``embed``, maybe shared with other routers

    @classmethod
    def find(cls, adapter_folder: str | os.PathLike[str], *, threads: int = 1,
             encoders: dict[Any, Any] | None = None) -> ToolRouter | None:
        """The router beside an adapter (in its version folder), or None when it has none.

        ``encoders``: runners already made for other routers, by their files; routers over the
        same encoder files (hard links of one base) share one, so ten routed adapters on a
        replica cost one encoder.
        """
        from agents.runtime import ModelRunner
        from agents.spec import AgentSpec

        folder = Path(adapter_folder) / ROUTER_DIR
        if not (folder / ROUTER_FILE).is_file():
            return None
        try:
            config = RouterConfig.model_validate(json.loads((folder / ROUTER_FILE).read_text()))
        except ValueError as exc:
            raise ValueError(f"{folder / ROUTER_FILE}: not a router file: {exc}") from exc
        head = Head.load(folder)
        encoders = {} if encoders is None else encoders
        key = _files_key(folder)
        if key not in encoders:
            spec = AgentSpec(name="tool-router", model=str(folder), tasks=["embed"], device="cpu",
                             max_input_tokens=config.max_input_tokens)
            encoders[key] = ModelRunner(spec, threads=threads)
        return cls(config, head, encoders[key])

    def load(self) -> ToolRouter:
        self.encoder.load()
        return self

    @property
    def theta(self) -> float:
        return self.config.theta

    def choose(self, requests: list[Any]) -> list[str | None]:
        """Per request, the tool the router is sure of, or None to let the LoRA choose."""
        import numpy as np

        from agents.errors import AgentError
        from agents.protocol import EmbedRequest, TaskKind
        from agents.tasks.tool_call import user_text

        known = set(self.head.labels)
        asked: list[tuple[int, list[int]]] = []
        for i, req in enumerate(requests):
            offered = [t.name for t in req.tools]
            # One tool leaves nothing to choose; an unknown tool is one the head cannot weigh.
            if len(offered) >= 2 and set(offered) <= known:
                asked.append((i, [self.head.labels.index(name) for name in offered]))
        out: list[str | None] = [None] * len(requests)
        if not asked:
            return out
        [resp] = self.encoder.run_batch(TaskKind.EMBED, [EmbedRequest(texts=[user_text(requests[i]) for i, _ in asked])])
        if isinstance(resp, AgentError):
            # The router is an aid: without it the LoRA still answers.
            log.warning("router_failed", error=str(resp)[:200])
            return out
        probs = self.head.probabilities(np.asarray(resp.embeddings, dtype=np.float32))
        for (i, cols), row in zip(asked, probs, strict=True):
            # Over a subset of its tools, the probabilities renormalised over those offered.
            p = row[cols] / max(float(row[cols].sum()), 1e-12)
            best = int(p.argmax())
            if p[best] >= self.theta:
                out[i] = self.head.labels[cols[best]]
        return out


def _files_key(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The encoder files of a router folder by inode: hard links of one base give one key."""
    skip = {HEAD_FILE, ROUTER_FILE}
    return tuple(sorted((str(p.relative_to(folder)), p.stat().st_dev, p.stat().st_ino)
                        for p in folder.rglob("*") if p.is_file() and p.name not in skip))


def load_routers(adapters: dict[str, Path], *, threads: int = 1) -> dict[str, ToolRouter]:
    """The routers of ``adapters`` (name -> adapter file), loaded, by adapter name; sharing encoders."""
    encoders: dict[Any, Any] = {}
    routers: dict[str, ToolRouter] = {}
    for name, path in adapters.items():
        router = ToolRouter.find(path.parent, threads=threads, encoders=encoders)
        if router is not None:
            routers[name] = router.load()
    return routers


def close_routers(routers: dict[str, ToolRouter]) -> None:
    """Close the encoders of ``routers`` (each shared one once)."""
    for encoder in {id(r.encoder): r.encoder for r in routers.values()}.values():
        if encoder.loaded:
            encoder.engine.close()


__all__ = ["DEFAULT_THETA", "ROUTER_DIR", "ROUTER_FILE", "RouterConfig", "ToolRouter", "check_router", "close_routers",
           "load_routers", "train_router"]
