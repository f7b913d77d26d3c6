"""The HTTP ingress binds beyond loopback only with an API key, or when the user opts in.

Bound to 0.0.0.0 (or any address other machines reach) without a key, anyone on the
network can run the fleet's models. `deploy()`, `build_serve_config()` and the CLI call
`check_bind` with the host they are about to use, whether it came from `--host`,
`host=` or `SLMFLOW_HTTP_HOST`, so every path refuses the same way.
"""

from __future__ import annotations

import ipaddress
import os

from agents.errors import SpecError

ALLOW_INSECURE_BIND_ENV = "SLMFLOW_ALLOW_INSECURE_BIND"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def insecure_bind_allowed() -> bool:
    """`SLMFLOW_ALLOW_INSECURE_BIND` as a boolean (SpecError for a value that is neither)."""
    raw = os.environ.get(ALLOW_INSECURE_BIND_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SpecError(f"{ALLOW_INSECURE_BIND_ENV}={raw!r} is not a boolean; use 1 or 0")


def check_bind(host: str, api_key: str | None, allow_insecure: bool = False) -> None:
    """Raise SpecError when `host` is beyond loopback, no API key is set and nobody opted in."""
    if is_loopback(host) or api_key or allow_insecure or insecure_bind_allowed():
        return
    raise SpecError(
        f"refusing to bind the HTTP ingress to {host} without an API key: anyone who can reach this "
        "machine could call the fleet. Set SLMFLOW_API_KEY (clients then send Authorization: Bearer "
        f"<key>), bind 127.0.0.1, or opt in explicitly with {ALLOW_INSECURE_BIND_ENV}=1 "
        "(CLI: --allow-insecure-bind)."
    )


__all__ = ["ALLOW_INSECURE_BIND_ENV", "check_bind", "insecure_bind_allowed", "is_loopback"]
