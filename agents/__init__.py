"""agents: specialist small language models served by Ray Serve, and the client steps use.

    from agents import deploy, agent, load_fleet
    deploy(load_fleet())                                   # one Serve app, one deployment per agent
    resp = await agent("minilm").classify(text, labels=["positive", "negative"])

Heavy parts (Ray, Serve, torch) load on first use: importing this package stays cheap,
so the CLI and the orchestrator can import it freely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.errors import (
    AgentError,
    AgentNotFound,
    AgentTimeout,
    AgentUnavailable,
    InvalidOutput,
    InvalidRequest,
    ModelLoadError,
    SpecError,
)
from agents.protocol import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ClassifyExample,
    ClassifyRequest,
    ClassifyResponse,
    EmbedRequest,
    EmbedResponse,
    ExtractRequest,
    ExtractResponse,
    GenerateRequest,
    GenerateResponse,
    TaskKind,
    Tool,
    ToolCallRequest,
    ToolCallResponse,
    Usage,
)
from agents.spec import AgentSpec, FleetSpec, load_fleet

if TYPE_CHECKING:
    from agents.client import AgentClient, RetryConfig, agent
    from agents.fleet import (
        AgentStatus,
        DeployError,
        FleetStatus,
        build_serve_config,
        delete,
        deploy,
        deployed_agents,
        fleet_status,
    )
    from agents.runtime import ModelRunner

# name -> module, imported on first access (PEP 562).
_LAZY = {
    "AgentClient": "agents.client",
    "RetryConfig": "agents.client",
    "agent": "agents.client",
    "AgentStatus": "agents.fleet",
    "DeployError": "agents.fleet",
    "FleetStatus": "agents.fleet",
    "build_serve_config": "agents.fleet",
    "delete": "agents.fleet",
    "deploy": "agents.fleet",
    "deployed_agents": "agents.fleet",
    "fleet_status": "agents.fleet",
    "ModelRunner": "agents.runtime",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agents' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AgentClient",
    "AgentError",
    "AgentNotFound",
    "AgentSpec",
    "AgentStatus",
    "AgentTimeout",
    "AgentUnavailable",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "ClassifyExample",
    "ClassifyRequest",
    "ClassifyResponse",
    "DeployError",
    "EmbedRequest",
    "EmbedResponse",
    "ExtractRequest",
    "ExtractResponse",
    "FleetSpec",
    "FleetStatus",
    "GenerateRequest",
    "GenerateResponse",
    "InvalidOutput",
    "InvalidRequest",
    "ModelLoadError",
    "ModelRunner",
    "RetryConfig",
    "SpecError",
    "TaskKind",
    "Tool",
    "ToolCallRequest",
    "ToolCallResponse",
    "Usage",
    "agent",
    "build_serve_config",
    "delete",
    "deploy",
    "deployed_agents",
    "fleet_status",
    "load_fleet",
]
