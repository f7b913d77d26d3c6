"""Typed errors raised by agents, their runtime and their client.

Retryable errors carry ``retryable = True`` so a workflow engine's retry policy can
tell a lost request (retry) from a bad one (do not). Every error pickles with its
extra attributes intact: errors cross Ray process boundaries as values.
"""

from __future__ import annotations

from typing import ClassVar


class AgentError(Exception):
    """Base class of every error an agent call raises."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "", *, agent: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.agent = agent

    def __str__(self) -> str:
        if self.agent and not self.message.startswith(f"agent {self.agent!r}"):
            return f"agent {self.agent!r}: {self.message}"
        return self.message


class AgentUnavailable(AgentError, ConnectionError):
    """The agent could not be reached or its replica died with the request (retryable)."""

    retryable: ClassVar[bool] = True


class AgentTimeout(AgentUnavailable, TimeoutError):
    """The call passed its overall deadline (`RetryConfig.deadline_s`) and was cancelled (retryable)."""


class InvalidOutput(AgentError, ValueError):
    """The model's output did not parse or validate; ``raw`` holds the text (retryable).

    Sampling may produce valid output on the next try, hence retryable.
    """

    retryable: ClassVar[bool] = True

    def __init__(self, message: str = "", *, raw: str = "", agent: str | None = None) -> None:
        super().__init__(message, agent=agent)
        self.raw = raw


class AgentNotFound(AgentError, LookupError):
    """No agent of that name in the fleet (or not deployed)."""


class SpecError(AgentError, ValueError):
    """An agent or fleet spec is invalid (bad file, bad field, model not loadable as asked)."""


class InvalidRequest(AgentError, ValueError):
    """A request the agent cannot serve as asked (wrong task, bad arguments)."""


class ModelLoadError(AgentError, RuntimeError):
    """Loading the model failed (missing files, does not fit the GPU share, wrong architecture)."""


__all__ = [
    "AgentError",
    "AgentNotFound",
    "AgentTimeout",
    "AgentUnavailable",
    "InvalidOutput",
    "InvalidRequest",
    "ModelLoadError",
    "SpecError",
]
