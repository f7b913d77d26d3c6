"""Exceptions raised by the orchestrator.

Definition problems surface before anything runs and subclass `DefinitionError`;
problems of a run that did run surface as `RunFailed`, which carries the run's record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.records import RunRecord


class OrchestratorError(Exception):
    """Base class of every error the orchestrator raises itself."""


class DefinitionError(OrchestratorError, TypeError):
    """A workflow or step is defined or called wrongly; nothing ran."""


class InputValidationError(DefinitionError, ValueError):
    """A workflow input (or a constant step argument) does not validate; nothing ran."""


class UnstorableValueError(OrchestratorError, TypeError):
    """A value cannot be stored as JSON and pickle was not opted in to."""


class StoreError(OrchestratorError):
    """The run store file cannot be opened or written; the message names the file and what to do."""


class RunFailed(OrchestratorError):
    """A run ended without succeeding; `.record` says what happened to every step."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        failed = [s for s in record.steps if s.status == "failed"]
        detail = record.error or (
            "; ".join(f"{s.step}: {s.error_type}: {s.error_message}" for s in failed[:3])
            if failed
            else "no step failed"
        )
        super().__init__(f"run {record.run_id} of {record.workflow!r} ended {record.status}: {detail}")


class DeadlineExceeded(OrchestratorError, TimeoutError):
    """A run did not finish within its deadline."""


class ResumeError(OrchestratorError):
    """A run cannot be resumed (unknown run, workflow not importable, still running...)."""


class GraphChangedError(ResumeError):
    """The workflow's graph changed since the run was recorded, so resuming is refused."""


class StepCodeChangedError(GraphChangedError):
    """A step's code changed since the run was recorded, so resuming is refused (unless allowed)."""


class RunBusyError(ResumeError):
    """The run is owned by a live process, or another resumer claimed it first."""


def describe(exc: BaseException) -> str:
    """`str(exc)`, or a stand-in when the exception's own `__str__` raises (it must not take the run down)."""
    try:
        return str(exc)
    except Exception as inner:
        return f"<{type(exc).__name__} whose str() raised {type(inner).__name__}>"


def describe_repr(exc: BaseException) -> str:
    """`repr(exc)`, or a stand-in when the exception's own `__repr__` raises."""
    try:
        return repr(exc)
    except Exception as inner:
        return f"<{type(exc).__name__} whose repr() raised {type(inner).__name__}>"
