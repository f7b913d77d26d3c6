"""Who owns a running run, and whether that owner is still alive.

A run in the store names its owner: the process id, the host, and a token that tells this
process apart from a later one that happens to get the same pid (on Linux the token holds
the process's start time, read from /proc). A run recorded `running` whose owner is gone was
interrupted (killed, crashed, the machine rebooted): `slmflow runs list` shows it so and
`slmflow resume` finishes it.

On another host the pid cannot be checked from here. There the lease tells: a process that
owns runs renews a timestamp in the store every `SLMFLOW_LEASE_RENEW_S` seconds (default 5),
and an owner whose lease is older than `SLMFLOW_LEASE_TTL_S` (default 30, which must exceed
the renewal period and the clock skew between hosts) is taken to be gone.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import time

HOST = socket.gethostname()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def _make_token() -> str:
    pid = os.getpid()
    return f"{HOST}:{pid}:{_start_time(pid) or secrets.token_hex(6)}"


_TOKEN = _make_token()


def _reseed() -> None:
    global _TOKEN
    _TOKEN = _make_token()


os.register_at_fork(after_in_child=_reseed)


def owner_token() -> str:
    """This process's owner token."""
    return _TOKEN


_CLAIMS = itertools.count(1)


def claim_token() -> str:
    """A token for one claim of a run: this process's token and a counter, so that no two
    claims (not even two of this process) write the same value, which claims compare."""
    return f"{_TOKEN}#{next(_CLAIMS)}"


def is_mine(token: str | None) -> bool:
    return token is not None and token.partition("#")[0] == _TOKEN


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def owner_alive(pid: int | None, host: str | None, token: str | None) -> bool | None:
    """True or False for an owner on this host; None when it cannot be told (another host, no pid)."""
    if pid is None or host != HOST:
        return None
    if is_mine(token):
        return True
    if not pid_alive(pid):
        return False
    parts = (token or "").partition("#")[0].rsplit(":", 2)
    if len(parts) == 3 and parts[2].isdigit():
        # The pid is in use; it is our owner only if that process started when the owner did.
        return _start_time(pid) == parts[2]
    return True


def _env_seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def lease_renew_s() -> float:
    """How often a process renews its lease in a store where it owns runs."""
    return _env_seconds("SLMFLOW_LEASE_RENEW_S", 5.0)


def lease_ttl_s() -> float:
    """How old a lease may get before its owner is taken to be gone."""
    return _env_seconds("SLMFLOW_LEASE_TTL_S", 30.0)


def owner_gone(pid: int | None, host: str | None, token: str | None, lease_renewed_at: float | None) -> bool:
    """Whether the owner of a `running` run is gone: its process is dead (checked on this host),
    or, where that cannot be checked, its lease expired. A run without a lease (recorded before
    leases, or its owner died before the first renewal) is judged by its pid alone."""
    alive = owner_alive(pid, host, token)
    if alive is not None:
        return not alive
    return lease_renewed_at is not None and time.time() - lease_renewed_at > lease_ttl_s()
