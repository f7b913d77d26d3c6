"""Records of runs, steps and model usage: what the store keeps and the API returns."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TERMINAL_STEP = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED})


class AttemptRecord(BaseModel):
    """One attempt of a step: when it ran and how it ended."""

    attempt: int = Field(ge=1)
    started_at: datetime
    ended_at: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None


class StepRecord(BaseModel):
    """What happened to one step (or one item of a `.map()`) of a run."""

    model_config = ConfigDict(use_enum_values=False)

    run_id: str
    step: str = Field(description="node id in the graph, e.g. 'score' or 'annotate[3]'")
    name: str = Field(description="the step function's name")
    status: StepStatus
    attempts: int = 0
    history: list[AttemptRecord] = Field(default_factory=list)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    input_ids: list[str] = Field(default_factory=list)
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    fallback_used: bool = False
    skip_reason: str | None = None
    parent: str | None = Field(default=None, description="the map node an item belongs to")
    map_index: int | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class RunRecord(BaseModel):
    """A run of a workflow: inputs, status, result and every step's record."""

    run_id: str
    workflow: str
    target: str | None = Field(default=None, description="'module:qualname' used by resume to find the workflow")
    graph_hash: str
    status: RunStatus
    inputs: dict[str, Any] = Field(default_factory=dict)
    result: Any = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    owner_pid: int | None = Field(default=None, description="process that last ran it")
    owner_host: str | None = None
    owner_token: str | None = Field(default=None, description="tells the owner apart from a later process with its pid")
    interrupted: bool = Field(
        default=False, description="recorded running, but its owner process is gone: finish it with `slmflow resume`"
    )
    warnings: list[str] = Field(
        default_factory=list, description="what no step status says: abandoned threads, a blocked event loop"
    )
    code_hashes: dict[str, str] | None = Field(default=None, description="hash of each step's code, by step name")
    batch: str | None = Field(default=None, description="the batch (`run_many`, `slmflow run --inputs`) it belongs to")
    batch_index: int | None = Field(default=None, description="its input's position in the batch")

    def step(self, step_id: str) -> StepRecord:
        for record in self.steps:
            if record.step == step_id:
                return record
        raise KeyError(f"run {self.run_id} has no step {step_id!r}; steps: {[s.step for s in self.steps]}")

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED


def _now() -> datetime:
    return datetime.now(UTC)


class UsageRecord(BaseModel):
    """One model call's accounting, written by agents through `current_step().record_usage`."""

    run_id: str | None = None
    step: str | None = None
    agent: str
    task: str
    model: str
    tokens_in: int = Field(default=0, ge=0)
    tokens_out: int = Field(default=0, ge=0)
    queue_ms: float = Field(default=0.0, ge=0)
    compute_ms: float = Field(default=0.0, ge=0)
    replica_id: str | None = None
    cost_usd: float = Field(default=0.0, ge=0)
    escalated: bool = False
    error: str | None = None
    created_at: datetime = Field(default_factory=_now)


class Failure(BaseModel):
    """What a step that opted in with `receive_failures=True` gets in place of an upstream value.

    `skipped` is true when the upstream step did not fail itself but was skipped
    (its condition was false, or one of its own inputs failed).
    """

    step: str
    error_type: str | None = None
    message: str | None = None
    skipped: bool = False

    def __bool__(self) -> bool:
        # A failure is falsy so `if value:` style checks in steps read naturally.
        return False
