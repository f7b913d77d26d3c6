"""Connect this process to Ray: an embedded local Ray by default, or an existing cluster.

It lives in `agents`, the lowest package that talks to Ray, so that agents can connect lazily
without importing `cluster` (which sits above it); `cluster` re-exports it as `cluster.connect`.

`ray.init` with an address nobody answers on does not fail: it logs "Failed to connect to
GCS" every 5 seconds and waits (seen with Ray 2.60). So before handing an address to Ray
we resolve it and open a plain TCP connection to it with a short timeout; a refused or
silent port becomes a `ClusterConnectError` in seconds, naming the address.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from agents.ray_auth import MISSING_TOKEN_HELP, find_auth_token
from orchestrator.logging import get_logger

DEFAULT_NAMESPACE = "slmflow"

log = get_logger(component="agents.connect")


class ClusterConnectError(ConnectionError):
    """The cluster could not be reached or joined; the message says which address and why."""


class ClusterInfo(BaseModel):
    """What `connect` joined (or started)."""

    model_config = ConfigDict(frozen=True)

    address: str = Field(description="GCS address (host:port) or ray:// client address")
    dashboard_url: str | None = None
    namespace: str
    nodes: int = Field(ge=0, description="alive nodes")
    resources: dict[str, float] = Field(description="cluster-wide logical resources")
    started_here: bool = Field(description="True when this process started an embedded local Ray")


_started_here = False


# Ray starts its workers at nice 15, so that on a shared machine they yield to everything
# else; a Serve replica is a worker, and a model server that yields its CPU to the driver
# and the proxies decoded at half speed (measured: benchmarks/RESULTS.md, "Fast specialists").
WORKER_NICENESS_ENV = "RAY_worker_niceness"


def serve_at_normal_priority() -> None:
    """Ray clusters started from this process run their workers (replicas) at nice 0, unless
    ``RAY_worker_niceness`` says otherwise. Raylets read it when they start."""
    os.environ.setdefault(WORKER_NICENESS_ENV, "0")


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    probe_timeout: float = 5.0,
    include_dashboard: bool = False,
) -> ClusterInfo:
    """Connect to Ray once per process and describe the cluster.

    - no `address` and no `RAY_ADDRESS`: join the cluster `ray start` recorded on this machine
      if it answers a bounded TCP probe, else start an embedded local Ray (a dead recorded
      address is skipped with a warning, never waited on); with `num_cpus`/`num_gpus` always
      an embedded Ray with those logical resources;
    - `"auto"`: the cluster started on this machine with `ray start`;
    - `"host:port"`: the head's GCS; `"ray://host:port"`: the Ray Client server.

    Calling it again while connected returns the current cluster's info; an explicit
    address is still checked first, and one naming another cluster is an error (a process
    belongs to one cluster).
    """
    global _started_here
    import ray

    if address is None and ray.is_initialized():
        return cluster_info()
    target = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    joining = target not in (None, "", "local")
    if joining and (num_cpus is not None or num_gpus is not None):
        raise ValueError(
            f"num_cpus/num_gpus describe a new local Ray; they cannot be set when joining {target!r} "
            "(the nodes declare their own resources with `ray start --num-cpus/--num-gpus`)."
        )
    if joining:
        # A bad address is reported as such even in a process that is already connected.
        host, port, kind = _resolve(str(target))
        try:
            _probe(host, port, str(target), probe_timeout)
        except ClusterConnectError as exc:
            if target != "auto":
                raise
            raise ClusterConnectError(
                f"{exc} address='auto' took {host}:{port} from {current_cluster_file()}: a cluster that "
                "stopped without `ray stop`? Start one (`slmflow cluster up`) or remove that file."
            ) from exc

    if ray.is_initialized():
        current = cluster_info()
        if joining and kind == "gcs" and not current.address.endswith(f":{port}"):
            raise ClusterConnectError(
                f"This process is already connected to the Ray cluster at {current.address}; "
                f"it cannot also join {address!r} (one cluster per process). Call cluster.disconnect() first."
            )
        return current

    if not joining:
        detected = None if (num_cpus is not None or num_gpus is not None) else _detected_address(probe_timeout)
        if detected is not None:
            # Ray's own default: join the cluster `ray start` left on this machine, now known to answer.
            return connect(detected, namespace=namespace, probe_timeout=probe_timeout)
        log.info("starting embedded local ray", num_cpus=num_cpus, num_gpus=num_gpus)
        serve_at_normal_priority()
        ray.init(
            # "local": never let Ray read its current-cluster file again; _detected_address did.
            address="local",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            namespace=namespace,
            include_dashboard=include_dashboard,
            log_to_driver=False,
            configure_logging=False,
        )
        _started_here = True
        return cluster_info()

    _prepare_auth(target)
    log.info("joining ray cluster", address=target, kind=kind)
    t0 = time.monotonic()
    try:
        ray.init(address=target, namespace=namespace, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # Ray raises a zoo of types here; keep the cause, name the address.
        hint = f" {MISSING_TOKEN_HELP}" if _is_auth_failure(exc) else ""
        raise ClusterConnectError(f"Could not join the Ray cluster at {target!r}: {exc}{hint}") from exc
    _started_here = False
    log.info("joined ray cluster", address=target, seconds=round(time.monotonic() - t0, 2))
    return cluster_info()


def disconnect() -> None:
    """Leave the cluster (and stop the embedded Ray if this process started it)."""
    global _started_here
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _started_here = False


def cluster_info() -> ClusterInfo:
    """Describe the cluster this process is connected to."""
    import ray

    if not ray.is_initialized():
        raise ClusterConnectError("Not connected to Ray: call cluster.connect() first.")
    ctx = ray.get_runtime_context()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return ClusterInfo(
        address=_current_address(),
        dashboard_url=_dashboard_url(),
        namespace=ctx.namespace,
        nodes=len(nodes),
        resources={k: float(v) for k, v in ray.cluster_resources().items() if not k.startswith("node:")},
        started_here=_started_here,
    )


def current_cluster_file() -> Path:
    """The file where `ray start` records the head for `ray.init()` to find (honours RAY_TMPDIR)."""
    from ray._common.utils import get_ray_address_file

    return Path(get_ray_address_file(None))


def _detected_address(probe_timeout: float) -> str | None:
    """The live cluster `ray.init()` would join by itself, or None (then we start an embedded one).

    `ray.init()` without an address joins whatever Ray's current-cluster file names and, when
    that head has stopped (`ray start` + a killed head, or a head stopped without `ray stop`),
    waits forever. We read the same file, probe the address with a bounded TCP connect, and
    treat a dead one as absent: an embedded Ray just works, and the warning says why.
    """
    path = current_cluster_file()
    try:
        text = path.read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        log.warning("cannot read ray's current-cluster file; starting an embedded ray", file=str(path), error=str(exc))
        return None
    if not text:
        return None
    try:
        host, port, _ = _resolve(text)
        _probe(host, port, text, min(probe_timeout, 2.0))
    except ClusterConnectError as exc:
        log.warning(
            "ignoring a stale ray cluster address; starting an embedded ray",
            address=text,
            file=str(path),
            reason=str(exc),
            hint=f"remove {path} (or run `slmflow cluster down`) to silence this",
        )
        return None
    log.info("joining the ray cluster started on this machine", address=text, file=str(path))
    return text


def _resolve(target: str) -> tuple[str, int, str]:
    """Turn a user address into the (host, port) to probe, refusing addresses of the wrong kind."""
    if target.startswith(("http://", "https://")):
        raise ClusterConnectError(
            f"{target!r} is a dashboard (HTTP) address. connect() joins the cluster itself: use the "
            "head's GCS address (host:6379) or a Ray Client address (ray://host:10001). "
            "To run a workflow through the dashboard, use `slmflow submit --address http://...`."
        )
    if target.startswith("ray://"):
        parsed = urlparse(target)
        if not parsed.hostname:
            raise ClusterConnectError(f"Bad Ray Client address {target!r}: expected ray://host:port.")
        return parsed.hostname, parsed.port or 10001, "client"
    if target == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            resolved = canonicalize_bootstrap_address("auto")
        except ConnectionError as exc:
            raise ClusterConnectError(
                f"address='auto' but no Ray cluster runs on this machine ({exc}). "
                "Start one with `slmflow cluster up` or `ray start --head`, or pass its address."
            ) from exc
        if resolved is None:
            raise ClusterConnectError("address='auto' but no Ray cluster runs on this machine.")
        target = resolved
    host, sep, port_text = target.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ClusterConnectError(
            f"Bad Ray address {target!r}: expected 'auto', 'host:port' (the head's GCS, usually "
            "port 6379) or 'ray://host:port'."
        )
    return host.strip("[]"), int(port_text), "gcs"


def _probe(host: str, port: int, target: str, timeout: float) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except ConnectionRefusedError as exc:
        raise ClusterConnectError(
            f"Nothing is listening at {host}:{port} (from address {target!r}): connection refused. "
            "Is the Ray head running, and is this its GCS port (see `ray status` on the head)?"
        ) from exc
    except TimeoutError as exc:
        raise ClusterConnectError(
            f"No answer from {host}:{port} (from address {target!r}) within {timeout:g}s: "
            "the host is down or a firewall drops the traffic."
        ) from exc
    except socket.gaierror as exc:
        raise ClusterConnectError(f"Cannot resolve host {host!r} (from address {target!r}): {exc}.") from exc
    except OSError as exc:
        raise ClusterConnectError(f"Cannot reach {host}:{port} (from address {target!r}): {exc}.") from exc


def _prepare_auth(target: str) -> None:
    """Send the user's token when joining, the way Ray does for a cluster it finds by itself.

    Ray 2.60 switches token mode on only for `auto`; with an explicit address and no
    RAY_AUTH_MODE it connects without a token, and a cluster with token auth on (the default
    for new clusters) answers with an AuthenticationError after ~20 s. A client in token mode
    joins a cluster without auth fine (checked on 2.60), so when a token exists we use it.
    """
    mode = os.environ.get("RAY_AUTH_MODE", "").lower()
    token = find_auth_token()
    if mode == "token" and token is None:
        raise ClusterConnectError(
            f"RAY_AUTH_MODE=token but no token to join {target!r}. {MISSING_TOKEN_HELP}"
        )
    if not mode and token is not None:
        from ray._private.authentication.authentication_token_setup import _enable_token_auth

        _enable_token_auth()
        log.info("using ray auth token", source=token.source)


def _is_auth_failure(exc: BaseException) -> bool:
    from ray.exceptions import AuthenticationError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AuthenticationError) or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _current_address() -> str:
    import ray

    worker: Any = ray._private.worker.global_worker
    node = getattr(worker, "node", None)
    if node is not None and getattr(node, "address", None):
        return str(node.address)
    return str(os.environ.get("RAY_ADDRESS", "unknown"))


def _dashboard_url() -> str | None:
    import ray

    worker: Any = ray._private.worker.global_worker
    node = getattr(worker, "node", None)
    url = getattr(node, "webui_url", None) if node is not None else None
    if not url:
        return None
    return url if url.startswith("http") else f"http://{url}"
