"""`cluster.auth`: finding the Ray token lives in `agents.ray_auth` (used by `agents.connect`)."""

from agents.ray_auth import (
    MISSING_TOKEN_HELP,
    AuthToken,
    MissingTokenError,
    auth_headers,
    default_token_path,
    find_auth_token,
)

__all__ = [
    "MISSING_TOKEN_HELP",
    "AuthToken",
    "MissingTokenError",
    "auth_headers",
    "default_token_path",
    "find_auth_token",
]
