"""Retry policy: which exceptions to retry, how many attempts, and how long to wait between them."""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter, retrying only the exception types in `retry_on`.

    The wait before attempt n+1 is `min(max_backoff, initial_backoff * multiplier**(n-1))`,
    scaled by a random factor in `[1 - jitter, 1 + jitter]`.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    max_attempts: int = Field(default=3, ge=1, description="attempts in all, the first included")
    initial_backoff: float = Field(default=0.1, ge=0)
    max_backoff: float = Field(default=30.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: float = Field(default=0.1, ge=0, le=1)
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    @field_validator("retry_on", mode="before")
    @classmethod
    def _as_tuple(cls, value: object) -> object:
        if isinstance(value, type):
            return (value,)
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _check(self) -> RetryPolicy:
        for exc in self.retry_on:
            if not (isinstance(exc, type) and issubclass(exc, BaseException)):
                raise ValueError(f"retry_on must hold exception classes, got {exc!r}")
        if self.max_backoff < self.initial_backoff:
            raise ValueError("max_backoff must be >= initial_backoff")
        return self

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        return attempt < self.max_attempts and isinstance(exc, self.retry_on)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        if self.jitter:
            base *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return max(0.0, base)


NO_RETRY = RetryPolicy(max_attempts=1)
