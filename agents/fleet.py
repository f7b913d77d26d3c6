"""The fleet as one Serve application: build it, deploy it, watch it, delete it.

One application (`slmflow`) holds one deployment per agent, each with its own
`ray_actor_options`, autoscaling and batching, plus the OpenAI-compatible HTTP ingress
(`agents.openai_api`). `deploy()` is idempotent: every agent deployment carries a
version derived from its spec, so Serve leaves unchanged agents alone and restarts only
those whose spec changed. It blocks until the fleet is healthy and fails with the
replica's own load error (Serve's deployment message) instead of waiting forever.

A changed agent rolls out with surge (Serve's `max_surge_percent`): new replicas start
beside the old ones, which keep serving until their replacements are healthy; when the new
version cannot load, Serve stops the rollout and the previous version keeps serving. Only
an agent with no previous version (or a surge of 0) is left down by a failed deploy; its
callers then fail fast with `AgentUnavailable` (see `agents.client`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from agents._bind import check_bind
from agents.errors import AgentError, SpecError
from agents.spec import AgentSpec, FleetSpec, load_fleet
from orchestrator.logging import get_logger as _get_logger

APP_NAME = "slmflow"
# Not a valid agent name (agents are lower-case slugs), so it never clashes with one.
INGRESS_NAME = "OpenAIIngress"
HTTP_HOST_ENV = "SLMFLOW_HTTP_HOST"
HTTP_PORT_ENV = "SLMFLOW_HTTP_PORT"
API_KEY_ENV = "SLMFLOW_API_KEY"
# A model that cannot load fails its replica; Serve's default (20 retries) would keep
# a bad deploy "DEPLOYING" for minutes. Three tries still ride out a transient crash.
CONSTRUCTOR_RETRIES = 3
# Extra replicas (percent of the target, rounded up to at least one) a changed agent may run
# while it rolls out, so the previous version serves until the new one is healthy. Serve's
# default (0) stops the old replica first: a new version that cannot load leaves the agent
# with no replica at all. 0 restores that, for clusters with no room for one more replica.
MAX_SURGE_ENV = "SLMFLOW_MAX_SURGE_PERCENT"
DEFAULT_MAX_SURGE_PERCENT = 25

log = _get_logger(component="agents.fleet")


class DeployError(AgentError, RuntimeError):
    """The fleet did not become healthy: a replica failed to load, or the deploy timed out."""


# -- building the application -------------------------------------------------------------


class AppArgs(BaseModel):
    """Arguments of the `agents.fleet:app_from_config` builder (a Serve config's `args`)."""

    model_config = ConfigDict(extra="forbid")

    fleet: FleetSpec
    # Only the key's hash crosses into configs and replicas; the key itself stays with its owner.
    api_key_sha256: str | None = None
    gpu_memory_bytes: int | None = Field(default=None, gt=0)


def _code_version() -> str:
    try:
        return version("slmflow")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def hash_api_key(api_key: str | None) -> str | None:
    return hashlib.sha256(api_key.encode()).hexdigest() if api_key else None


def gpu_fraction(spec: AgentSpec, gpu_memory_bytes: int | None) -> float:
    """The replica's `num_gpus`. `auto` without a known GPU size means CPU (no GPU in the cluster)."""
    if spec.resources.num_gpus == "auto" and gpu_memory_bytes is None:
        return 0.0
    return spec.gpu_fraction(gpu_memory_bytes)


def max_surge_percent() -> int:
    """The surge agents roll out with (`SLMFLOW_MAX_SURGE_PERCENT`, default 25, 0..100)."""
    raw = os.environ.get(MAX_SURGE_ENV, str(DEFAULT_MAX_SURGE_PERCENT))
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 100:
        raise SpecError(f"{MAX_SURGE_ENV}={raw!r}: expected a whole percentage from 0 to 100")
    return value


def deployment_options(spec: AgentSpec, gpu_memory_bytes: int | None = None) -> dict[str, Any]:
    """The `Deployment.options(...)` of one agent, straight from its spec."""
    actor: dict[str, Any] = {"num_cpus": spec.resources.num_cpus}
    fraction = gpu_fraction(spec, gpu_memory_bytes)
    if fraction:
        actor["num_gpus"] = fraction
    if spec.resources.memory:
        actor["memory"] = spec.resources.memory
    opts: dict[str, Any] = {
        "name": spec.name,
        "ray_actor_options": actor,
        "max_ongoing_requests": spec.effective_max_ongoing_requests,
        "max_constructor_retry_count": CONSTRUCTOR_RETRIES,
        "graceful_shutdown_timeout_s": 10.0,
        "max_surge_percent": max_surge_percent(),
    }
    scaling = spec.autoscaling
    if scaling.min_replicas == scaling.max_replicas and scaling.initial_replicas in (None, scaling.min_replicas):
        opts["num_replicas"] = scaling.min_replicas
    else:
        opts["autoscaling_config"] = scaling.to_serve()
    return opts


def build_app(
    fleet: FleetSpec, *, api_key_sha256: str | None = None, gpu_memory_bytes: int | None = None
) -> Any:
    """The Serve application of `fleet` (not deployed): agents bound under the HTTP ingress."""
    return _build(fleet, api_key_sha256=api_key_sha256, gpu_memory_bytes=gpu_memory_bytes)[0]


def _build(
    fleet: FleetSpec, *, api_key_sha256: str | None = None, gpu_memory_bytes: int | None = None
) -> tuple[Any, dict[str, str]]:
    """The application and the version of each of its deployments (ingress included)."""
    from agents.deployment import AgentDeployment
    from agents.openai_api import OpenAIDeployment

    bound: dict[str, Any] = {}
    versions: dict[str, str] = {}
    for spec in fleet.agents:
        opts = deployment_options(spec, gpu_memory_bytes)
        fraction = opts["ray_actor_options"].get("num_gpus", 0.0)
        spec_json = spec.model_dump(mode="json")
        dep = AgentDeployment.options(**opts)
        # Serve's public API no longer takes a version and would give every deployment a
        # random one per deploy, restarting the whole fleet. A version from the spec (and
        # the package version) makes an unchanged agent a no-op and a changed one an update.
        dep._version = versions[spec.name] = _digest(
            {"spec": spec_json, "options": opts, "code": _code_version()}
        )
        bound[spec.name] = dep.bind(spec_json, fraction)
    tasks = {spec.name: [t.value for t in spec.tasks] for spec in fleet.agents}
    surge = max_surge_percent()
    ingress = OpenAIDeployment.options(
        name=INGRESS_NAME, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256, max_surge_percent=surge
    )
    ingress._version = versions[INGRESS_NAME] = _digest(
        {"tasks": tasks, "key": api_key_sha256, "code": _code_version(), "surge": surge}
    )
    return ingress.bind(bound, tasks, api_key_sha256), versions


def app_from_config(args: AppArgs) -> Any:
    """Application builder for Serve config files (`import_path: agents.fleet:app_from_config`)."""
    if not isinstance(args, AppArgs):
        # With postponed annotations Serve sees the string "AppArgs", not the class, and
        # passes the raw dict (ray/serve/_private/api.py checks `inspect.isclass`).
        args = AppArgs.model_validate(args)
    return build_app(args.fleet, api_key_sha256=args.api_key_sha256, gpu_memory_bytes=args.gpu_memory_bytes)


def build_serve_config(
    fleet: FleetSpec | str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    api_key: str | None = None,
    app_name: str = APP_NAME,
    route_prefix: str = "/",
    allow_insecure_bind: bool = False,
) -> dict[str, Any]:
    """A Serve config (what `serve deploy` accepts) for `fleet`; written as YAML to `path` if given.

    The agents' specs travel as the builder's `args`, so the file is self-contained.
    Serve hashes `args` into every deployment's version when deploying a config file,
    so a config redeploy with any spec changed restarts the whole fleet; `deploy()`
    (the Python API and `slmflow agents deploy`) restarts only the changed agents.
    """
    from ray.serve.schema import ServeDeploySchema

    fleet = _as_fleet(fleet)
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    check_bind(host or _default_host(), key, allow_insecure_bind)
    args = AppArgs(fleet=fleet, api_key_sha256=hash_api_key(key))
    config = {
        "proxy_location": "HeadOnly",
        "http_options": {"host": host or _default_host(), "port": port or _default_port()},
        "applications": [
            {
                "name": app_name,
                "route_prefix": route_prefix,
                "import_path": "agents.fleet:app_from_config",
                "args": args.model_dump(mode="json", exclude_none=True),
            }
        ],
    }
    ServeDeploySchema.model_validate(config)  # fail here, not in `serve deploy`
    if path is not None:
        Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
    return config


# -- deploying --------------------------------------------------------------------------


def _default_host() -> str:
    return os.environ.get(HTTP_HOST_ENV, "127.0.0.1")


def _default_port() -> int:
    raw = os.environ.get(HTTP_PORT_ENV, "8000")
    try:
        return int(raw)
    except ValueError as exc:
        raise SpecError(f"{HTTP_PORT_ENV}={raw!r} is not a port number") from exc


def _as_fleet(fleet: FleetSpec | str | os.PathLike[str] | None) -> FleetSpec:
    return fleet if isinstance(fleet, FleetSpec) else load_fleet(fleet)


def _ensure_serve(host: str, port: int) -> None:
    """Start Serve with our HTTP options (loopback by default) unless it already runs."""
    from ray import serve
    from ray.serve.context import _get_global_client

    client = _get_global_client(raise_if_no_controller_running=False)
    if client is None:
        serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly")
        return
    current = client.http_config
    if (current.host, current.port) != (host, port):
        log.warning(
            "serve already running with other http options; keeping them",
            running=f"{current.host}:{current.port}",
            asked=f"{host}:{port}",
        )


def _cluster_gpu_memory() -> int | None:
    """Total memory of one GPU in the cluster (for num_gpus='auto'), or None without GPUs."""
    import ray

    if not ray.cluster_resources().get("GPU"):
        return None

    @ray.remote(num_gpus=0.01, num_cpus=0)
    def probe() -> int | None:
        import torch

        return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None

    return ray.get(probe.remote(), timeout=120)


def deploy(
    fleet: FleetSpec | str | os.PathLike[str] | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    api_key: str | None = None,
    timeout_s: float = 600.0,
    wait: bool = True,
    allow_insecure_bind: bool = False,
) -> FleetStatus:
    """Deploy (or update) the fleet and, with `wait`, block until every agent is healthy.

    `fleet` is a FleetSpec, a fleet YAML path, or None for `$SLMFLOW_FLEET` / the
    default fleet. The HTTP ingress binds `host` (default 127.0.0.1, env
    SLMFLOW_HTTP_HOST) and `port` (8000, SLMFLOW_HTTP_PORT) when Serve starts; with an
    `api_key` (or SLMFLOW_API_KEY) it requires `Authorization: Bearer <key>`. A host beyond
    loopback without a key is refused (SpecError) unless `allow_insecure_bind` or
    SLMFLOW_ALLOW_INSECURE_BIND=1 opts in.
    Raises DeployError naming the failing agent and Serve's reason (for a model that
    cannot load, the replica's exception) or, after `timeout_s`, what is still pending.
    """
    from ray import serve

    from agents._ray import ensure_connected

    fleet = _as_fleet(fleet)
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    check_bind(host or _default_host(), key, allow_insecure_bind)
    ensure_connected()
    _ensure_serve(host or _default_host(), port or _default_port())
    needs_gpu_size = any(a.resources.num_gpus == "auto" for a in fleet.agents)
    gpu_memory = _cluster_gpu_memory() if needs_gpu_size else None
    app, versions = _build(fleet, api_key_sha256=hash_api_key(key), gpu_memory_bytes=gpu_memory)
    started = time.time()
    log.info("deploying fleet", agents=fleet.names)
    serve.run_many(
        [serve.RunTarget(target=app, name=APP_NAME, route_prefix="/")],
        wait_for_ingress_deployment_creation=False,
        wait_for_applications_running=False,
    )
    if wait:
        _wait_healthy(versions, timeout_s)
        log.info("fleet healthy", agents=fleet.names, seconds=round(time.time() - started, 1))
    return fleet_status()


def _target_versions(names: set[str]) -> dict[str, str | None]:
    """The version Serve's controller targets for each deployment (None: not created yet)."""
    from ray.serve.context import _get_global_client

    client = _get_global_client(raise_if_no_controller_running=False)
    out: dict[str, str | None] = dict.fromkeys(names)
    if client is None:
        return out
    for name in names:
        try:
            info, _ = client.get_deployment_info(name, APP_NAME)
        except Exception:  # the controller's KeyError arrives wrapped by Ray: not created yet
            continue
        out[name] = info.version
    return out


def _wait_healthy(versions: dict[str, str], timeout_s: float) -> None:
    from ray.serve._private.common import DeploymentStatus
    from ray.serve.schema import ApplicationStatus

    from agents._serve import app_details

    # `serve.run_many` returns once the controller took the new application target, but each
    # deployment takes its new target on a later controller tick; until then its status is
    # the previous deploy's (a good deploy right after a failed one read DEPLOY_FAILED and
    # reported the old error). So statuses count only once every deployment targets the
    # version we deployed; the versions are read before the statuses, so a status read after
    # a matching version is about that version.
    deadline = time.monotonic() + timeout_s
    expected = set(versions)
    not_applied: list[str] = sorted(expected)
    while True:
        if not_applied:
            now = _target_versions(set(not_applied))
            not_applied = [n for n in not_applied if now[n] != versions[n]]
        app = app_details(APP_NAME)
        if app is not None and not not_applied:
            deps = {n: d for n, d in app.deployments.items() if n in expected}
            failed = {n: d for n, d in deps.items() if d.status == DeploymentStatus.DEPLOY_FAILED}
            if failed:
                raise DeployError(_failure_message(failed))
            if app.status == ApplicationStatus.DEPLOY_FAILED:
                raise DeployError(f"deploying the fleet failed:\n{app.message}")
            if (
                app.status == ApplicationStatus.RUNNING
                and expected <= set(deps)
                and all(deps[n].status == DeploymentStatus.HEALTHY for n in expected)
            ):
                return
        if time.monotonic() > deadline:
            pending = "unknown (the application was not created)"
            if not_applied:
                pending = f"Serve has not taken the new version of: {', '.join(not_applied)}"
            elif app is not None:
                pending = "\n".join(
                    f"{n}: {d.status.value} {d.message}".rstrip()
                    for n, d in app.deployments.items()
                    if d.status != DeploymentStatus.HEALTHY
                ) or f"application {app.status.value}: {app.message}"
            raise DeployError(f"the fleet was not healthy after {timeout_s:.0f}s; still pending:\n{pending}")
        time.sleep(0.5)


def _failure_message(failed: dict[str, Any]) -> str:
    """Per failed agent: the replica's error, and whether the agent still serves (truthfully)."""
    parts = []
    for name, dep in sorted(failed.items()):
        running = sum(1 for r in dep.replicas if r.state == "RUNNING")
        if running:
            parts.append(
                f"agent {name!r}: {_reason(dep.message)}\n  the agent still serves with {running} "
                "running replica(s) of its previous version; a deploy of a fixed spec replaces them"
            )
        else:
            # Serve's own message may claim the previous version keeps running; with no running
            # replica that is not so, so only the replica's error is kept.
            parts.append(
                f"agent {name!r} is down (no replica running): {_reason(dep.message, keep_serve_line=False)}\n"
                "  calls to it fail fast with AgentUnavailable until a deploy succeeds"
            )
    return "deploying the fleet failed:\n" + "\n".join(parts)


def _reason(message: str, *, keep_serve_line: bool = True) -> str:
    """Serve's failure message ends with the replica's traceback: lead with its last line."""
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if len(lines) <= 1:
        return message.strip()
    if not keep_serve_line:
        return lines[-1].strip()
    return f"{lines[-1].strip()}\n  (Serve: {lines[0].strip()})"


def delete(timeout_s: float = 120.0) -> bool:
    """Delete the fleet application; True if there was one."""
    from ray import serve

    from agents._ray import ensure_connected
    from agents._serve import app_details

    ensure_connected()
    if app_details(APP_NAME) is None:
        return False
    serve.delete(APP_NAME, _blocking=True)
    log.info("fleet deleted")
    return True


# -- status -----------------------------------------------------------------------------


class ReplicaStatus(BaseModel):
    replica_id: str
    state: str
    actor_name: str | None = None
    node_ip: str | None = None
    pid: int | None = None
    served: int | None = None
    pending: int | None = None
    errors: int | None = None
    mean_batch_size: float | None = None
    last_error: str | None = None
    # What the engine counts itself: decode steps and sequences joined (continuous batching),
    # the admission queue, prefix-cache hits (llama_cpp).
    engine_stats: dict[str, Any] = Field(default_factory=dict)


class AgentStatus(BaseModel):
    name: str
    status: str
    message: str = ""
    # False: no replica runs, so calls fail (fast, with AgentUnavailable) whatever `status` says.
    serving: bool = True
    replicas_running: int
    replicas_target: int
    resources_per_replica: dict[str, Any]
    max_ongoing_requests: int | None = None
    # From the replicas themselves (None when no replica answered).
    queue_depth: int | None = None
    requests_served: int | None = None
    errors: int | None = None
    last_error: str | None = None
    engine: str | None = None
    # Share of prompt tokens served from reused KV cache (llama_cpp engine), over all replicas.
    prefix_cache_hit_rate: float | None = None
    replicas: list[ReplicaStatus] = Field(default_factory=list)


class FleetStatus(BaseModel):
    app: str = APP_NAME
    status: str
    message: str = ""
    http_url: str | None = None
    agents: dict[str, AgentStatus] = Field(default_factory=dict)


def fleet_status(stats_timeout_s: float = 5.0) -> FleetStatus:
    """Per agent: replicas running/target, resources, queue depth, requests served, last error."""
    from ray import serve
    from ray.serve.context import _get_global_client

    from agents._ray import ensure_connected
    from agents._serve import app_details

    ensure_connected()
    app = app_details(APP_NAME)
    if app is None:
        return FleetStatus(status="NOT_DEPLOYED", message="no fleet deployed; run `slmflow agents deploy`")
    client = _get_global_client(raise_if_no_controller_running=False)
    http_url = f"http://{client.http_config.host}:{client.http_config.port}" if client else None
    agents: dict[str, AgentStatus] = {}
    for name, dep in app.deployments.items():
        if name == INGRESS_NAME:
            continue
        replicas = {
            r.replica_id: ReplicaStatus(
                replica_id=r.replica_id,
                state=r.state.value,
                actor_name=r.actor_name,
                node_ip=r.node_ip,
                pid=r.pid,
            )
            for r in dep.replicas
        }
        stats: list[dict[str, Any]] = []
        if any(r.state == "RUNNING" for r in replicas.values()):
            try:
                handle = serve.get_deployment_handle(name, APP_NAME, _record_telemetry=False)
                stats = [s for s in _broadcast(handle, "stats", stats_timeout_s) if isinstance(s, dict)]
            except Exception as exc:  # status must answer even when replicas do not
                log.warning("replica stats unavailable", agent=name, error=str(exc))
        for s in stats:
            rid = str(s.get("replica_id", ""))
            if rid in replicas:
                replicas[rid] = replicas[rid].model_copy(
                    update={**{k: s.get(k) for k in ("served", "pending", "errors", "mean_batch_size", "last_error")},
                            "engine_stats": s.get("engine_stats") or {}}
                )
        last_errors = [s for s in stats if s.get("last_error")]
        agents[name] = AgentStatus(
            name=name,
            status=dep.status.value,
            message=dep.message,
            serving=any(r.state == "RUNNING" for r in dep.replicas),
            replicas_running=sum(1 for r in dep.replicas if r.state == "RUNNING"),
            replicas_target=dep.target_num_replicas,
            resources_per_replica=dict(dep.required_resources),
            max_ongoing_requests=dep.deployment_config.max_ongoing_requests,
            queue_depth=sum(s["pending"] for s in stats) if stats else None,
            requests_served=sum(s["served"] for s in stats) if stats else None,
            errors=sum(s["errors"] for s in stats) if stats else None,
            last_error=max(last_errors, key=lambda s: s.get("started_at", 0))["last_error"] if last_errors else None,
            engine=stats[0].get("engine") if stats else None,
            prefix_cache_hit_rate=_hit_rate(stats),
            replicas=list(replicas.values()),
        )
    return FleetStatus(status=app.status.value, message=app.message, http_url=http_url, agents=agents)


def _hit_rate(stats: list[dict[str, Any]]) -> float | None:
    engine = [s.get("engine_stats") or {} for s in stats]
    prompt = sum(e.get("prompt_tokens", 0) for e in engine)
    if not prompt:
        return None
    return round(sum(e.get("cached_prompt_tokens", 0) for e in engine) / prompt, 4)


def _broadcast(handle: Any, method: str, timeout_s: float) -> list[Any]:
    """Call `method` on every replica; from inside an event loop, block a helper thread instead."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def fetch() -> list[Any]:
        return handle.broadcast(method).results(timeout_s=timeout_s, return_exceptions=True)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fetch()
    # Serve's sync results() refuses to run on an event loop thread (it would block it);
    # status is a rare control-plane call, so a short-lived thread is the simple answer.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fetch).result()


def deployed_agents() -> list[str]:
    """Names of the agents deployed in the fleet application (empty when none is)."""
    from agents._serve import app_details

    app = app_details(APP_NAME)
    return sorted(n for n in app.deployments if n != INGRESS_NAME) if app else []


__all__ = [
    "APP_NAME",
    "INGRESS_NAME",
    "AgentStatus",
    "AppArgs",
    "DeployError",
    "FleetStatus",
    "ReplicaStatus",
    "app_from_config",
    "build_app",
    "build_serve_config",
    "delete",
    "deploy",
    "deployed_agents",
    "deployment_options",
    "fleet_status",
]
