"""Find the user's Ray authentication token the way Ray 2.60 itself does.

Ray's C++ `AuthenticationTokenLoader` looks, in order, at `RAY_AUTH_TOKEN`, then the file
named by `RAY_AUTH_TOKEN_PATH`, then `~/.ray/auth_token`. We mirror that order in Python
so that the dashboard's Job API gets the same token `ray get-auth-token` would print,
even in a process where Ray's own token mode is not switched on (Ray only adds the header
when `RAY_AUTH_MODE=token` is set in the client's environment).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TokenSource = Literal["RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token"]


class AuthToken(BaseModel):
    """A token and where it came from (the value is kept out of reprs and logs)."""

    model_config = ConfigDict(frozen=True)

    value: str = Field(repr=False, min_length=1)
    source: TokenSource
    path: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"}


class MissingTokenError(RuntimeError):
    """The cluster wants a token and none was found where Ray looks for one."""


MISSING_TOKEN_HELP = (
    "No Ray authentication token found. Ray looks in RAY_AUTH_TOKEN, then the file named by "
    "RAY_AUTH_TOKEN_PATH, then ~/.ray/auth_token. On the head node, `ray get-auth-token` prints "
    "the cluster's token; copy it to one of those places."
)


def default_token_path() -> Path:
    return Path.home() / ".ray" / "auth_token"


def find_auth_token() -> AuthToken | None:
    """The token Ray would use, or None when there is none anywhere Ray looks."""
    env_value = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if env_value:
        return AuthToken(value=env_value, source="RAY_AUTH_TOKEN")
    env_path = os.environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    if env_path:
        text = _read(Path(env_path).expanduser())
        if text is None:
            # Ray treats a set-but-unreadable path as an error, not as "look elsewhere".
            raise MissingTokenError(
                f"RAY_AUTH_TOKEN_PATH={env_path} is set but the file is missing or empty."
            )
        return AuthToken(value=text, source="RAY_AUTH_TOKEN_PATH", path=env_path)
    path = default_token_path()
    text = _read(path)
    if text is not None:
        return AuthToken(value=text, source="~/.ray/auth_token", path=str(path))
    return None


def auth_headers() -> dict[str, str]:
    token = find_auth_token()
    return token.headers() if token else {}


def _read(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text or None
