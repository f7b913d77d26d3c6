"""Serving what the registry promotes: find the fleet agents of a specialist and redeploy them.

A fleet agent serves a specialist with ``model: specialist:NAME``; the spec pins that to the
version folder when it validates. After a promote or rollback, validating the fleet file
again yields a new folder for those agents only, and ``agents.fleet.deploy`` (which versions
every deployment by its spec) restarts exactly them.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from agents.specialists.registry import Registry


class Redeploy(BaseModel):
    deployed: bool
    agents: list[str]
    message: str


def agents_serving(name: str, fleet: Any, registry: Registry | None = None) -> list[str]:
    """Names of the agents of ``fleet`` whose model is a version of specialist ``name``."""
    registry = registry or Registry()
    out = []
    for spec in fleet.agents:
        found = registry.version_of(spec.model)
        if found and found[0] == name:
            out.append(spec.name)
    return out


def redeploy(
    name: str,
    fleet_file: str | os.PathLike[str] | None = None,
    *,
    address: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 600.0,
) -> Redeploy:
    """Redeploy the agents serving ``name`` when the deployed fleet is ``fleet_file``'s; otherwise say what to run.

    ``fleet_file`` defaults to ``$SLMFLOW_FLEET`` or the shipped fleet (as ``slmflow agents
    deploy``); ``api_key`` to ``$SLMFLOW_API_KEY``. Never deploys over a different fleet:
    that would remove its other agents.
    """
    from agents.errors import AgentError
    from agents.spec import load_fleet

    shown = str(fleet_file) if fleet_file else "(the default fleet)"
    command = f"slmflow agents deploy {fleet_file or ''}".strip()
    try:
        fleet = load_fleet(fleet_file)
    except AgentError as exc:
        return Redeploy(deployed=False, agents=[], message=f"not redeployed: {exc}")
    serving = agents_serving(name, fleet)
    if not serving:
        return Redeploy(deployed=False, agents=[], message=(
            f"no agent of fleet {shown} serves specialist {name!r}; add one with `model: specialist:{name}` "
            f"and run `{command}`"))
    try:
        from agents._ray import ensure_connected
        from agents.fleet import deployed_agents

        ensure_connected(address or os.environ.get("RAY_ADDRESS") or "auto")
        deployed = set(deployed_agents())
    except Exception as exc:
        return Redeploy(deployed=False, agents=serving, message=(
            f"no Ray cluster reachable ({type(exc).__name__}: {str(exc)[:200]}); to serve it, run `{command}`"))
    if deployed != set(fleet.names):
        what = ", ".join(sorted(deployed)) or "nothing"
        return Redeploy(deployed=False, agents=serving, message=(
            f"the deployed application serves {what}, not fleet {shown} ({', '.join(fleet.names)}); "
            f"not touching it. To serve the promoted version, run `{command}`"))
    from agents.fleet import deploy

    key = api_key if api_key is not None else os.environ.get("SLMFLOW_API_KEY")
    if not key and ingress_requires_key():
        # A deploy without a key would replace the ingress with an open one.
        return Redeploy(deployed=False, agents=serving, message=(
            "the deployed HTTP ingress requires an API key and none is set; set SLMFLOW_API_KEY to the "
            f"fleet's key and run `{command}` (redeploying without it would open the endpoint)"))
    deploy(fleet, api_key=key, timeout_s=timeout_s)
    return Redeploy(deployed=True, agents=serving, message=f"redeployed {', '.join(serving)} (other agents untouched)")


def ingress_requires_key(timeout_s: float = 5.0) -> bool:
    """Whether the deployed fleet's HTTP ingress refuses a request without a key (asked over HTTP)."""
    import httpx

    from agents.fleet import fleet_status

    url = fleet_status().http_url
    if not url:
        return False
    try:
        return httpx.get(f"{url}/v1/models", timeout=timeout_s).status_code == 401
    except httpx.HTTPError:
        return False


__all__ = ["Redeploy", "agents_serving", "ingress_requires_key", "redeploy"]
