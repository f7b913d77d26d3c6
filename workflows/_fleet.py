"""The fleet agents the shipped workflows call, deployed on first use when nothing serves them.

`slmflow run workflows.email_triage --inputs ...` should work on a laptop with nothing
running: the first agent call of a run connects to Ray (embedded when no RAY_ADDRESS)
and, when no fleet is deployed at all, deploys one (`SLMFLOW_FLEET` or the default).
Set SLMFLOW_AUTO_DEPLOY=0 to get the agents client's AgentNotFound instead.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from orchestrator import RetryPolicy
from orchestrator.logging import get_logger

# Which fleet agent does what; the default fleet's names. SLMFLOW_WORKFLOW_ENCODER and
# SLMFLOW_WORKFLOW_WRITER name other agents of the fleet for these roles (read at each call).
ENCODER = "minilm"  # embeddings and similarity classification
WRITER = "smollm2"  # generation, constrained extraction, tool calls

# The retry policy of every workflow step that calls an agent: a lost request, a dead replica
# (AgentUnavailable is a ConnectionError) or a passed deadline (AgentTimeout, a TimeoutError)
# may succeed on the next attempt. InvalidOutput is not retried: the workflows decode greedily,
# so a second attempt would produce the same output.
AGENT_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.5, retry_on=(ConnectionError, TimeoutError))

_log = get_logger(component="workflows.fleet")
_lock = threading.Lock()
_ready: set[str] = set()


def ensure_agent_sync(name: str) -> None:
    """Connect to Ray and make sure `name` is deployed (deploying the fleet if allowed)."""
    if name in _ready:
        return
    with _lock:
        if name in _ready:
            return
        from agents._ray import ensure_connected
        from agents.fleet import deployed_agents

        ensure_connected()
        deployed = set(deployed_agents())
        # Only into an empty application: deploying the fleet over another one would remove its agents.
        if not deployed and os.environ.get("SLMFLOW_AUTO_DEPLOY", "1") != "0":
            from agents import deploy, load_fleet

            fleet = load_fleet()
            if name in fleet.names:
                _log.info("deploying the fleet for the workflow", agents=fleet.names, missing=name)
                deploy(fleet)
                deployed = set(deployed_agents())
        _ready.update(deployed)


class _Agent:
    """`agent(name)` whose calls first make sure the agent is there."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(*args: Any, **kwargs: Any) -> Any:
            from agents import agent

            if self.name not in _ready:
                await asyncio.to_thread(ensure_agent_sync, self.name)
            return await getattr(agent(self.name), method)(*args, **kwargs)

        return call


def specialist(name: str) -> Any:
    """The fleet agent `name` for a workflow step: `await specialist("minilm").classify(...)`.

    Like `agents.agent(name)`, but the first call connects to Ray and deploys the fleet
    when nothing serves `name` yet, so `slmflow run` works with nothing running.
    """
    return _Agent(name)


def encoder() -> Any:
    """The agent for embeddings and similarity classification (default: the fleet's MiniLM)."""
    return _Agent(os.environ.get("SLMFLOW_WORKFLOW_ENCODER") or ENCODER)


def writer() -> Any:
    """The agent for generation, constrained extraction and tool calls (default: SmolLM2)."""
    return _Agent(os.environ.get("SLMFLOW_WORKFLOW_WRITER") or WRITER)


class EscalationConfig(BaseModel):
    """A larger model behind an OpenAI-compatible endpoint for a workflow's hard cases (off by default).

    From the environment: SLMFLOW_ESCALATE_URL (e.g. https://api.openai.com/v1), SLMFLOW_ESCALATE_MODEL,
    SLMFLOW_ESCALATE_API_KEY_ENV (the variable holding the key), SLMFLOW_ESCALATE_THRESHOLD (0.75),
    SLMFLOW_ESCALATE_USD_PER_1K_IN / _OUT (0.01 / 0.03).
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    threshold: float = Field(default=0.75, ge=0, le=1)
    usd_per_1k_in: float = Field(default=0.01, ge=0)
    usd_per_1k_out: float = Field(default=0.03, ge=0)

    @classmethod
    def from_env(cls) -> EscalationConfig | None:
        env = os.environ
        if not env.get("SLMFLOW_ESCALATE_URL"):
            return None
        try:
            return cls(
                base_url=env["SLMFLOW_ESCALATE_URL"],
                model=env.get("SLMFLOW_ESCALATE_MODEL", ""),
                api_key_env=env.get("SLMFLOW_ESCALATE_API_KEY_ENV") or None,
                threshold=float(env.get("SLMFLOW_ESCALATE_THRESHOLD", 0.75)),
                usd_per_1k_in=float(env.get("SLMFLOW_ESCALATE_USD_PER_1K_IN", 0.01)),
                usd_per_1k_out=float(env.get("SLMFLOW_ESCALATE_USD_PER_1K_OUT", 0.03)),
            )
        except (ValueError, ValidationError) as exc:
            raise ValueError(f"bad SLMFLOW_ESCALATE_* settings: {exc}") from exc

    def agent(self) -> Any:
        from agents.remote import RemoteAgent, RemoteSpec
        from agents.spec import Pricing

        return RemoteAgent(RemoteSpec(
            name=f"llm:{self.model}", base_url=self.base_url, model=self.model, api_key_env=self.api_key_env,
            pricing=Pricing(usd_per_1k_tokens_in=self.usd_per_1k_in, usd_per_1k_tokens_out=self.usd_per_1k_out)))


def served(resp: Any, agent: str | _Agent) -> dict[str, Any]:
    """Who served a response, how long it took and what it cost (from its usage)."""
    u = resp.usage
    return {"agent": agent if isinstance(agent, str) else agent.name, "model": u.model, "latency_ms": round(u.queue_ms + u.compute_ms, 1),
            "tokens": u.tokens_in + u.tokens_out, "cost_usd": u.cost_usd}
