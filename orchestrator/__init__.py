"""orchestrator: a pure-Python asyncio DAG workflow engine with durable, resumable runs.

    from orchestrator import step, workflow

    @step
    async def fetch(order_id: str) -> dict: ...

    @workflow
    def review(order_id: str):
        return fetch(order_id)

    review.run(order_id="A1")
"""

from orchestrator._graph import Step
from orchestrator.context import StepContext, current_step, step_context
from orchestrator.errors import (
    DeadlineExceeded,
    DefinitionError,
    GraphChangedError,
    InputValidationError,
    OrchestratorError,
    ResumeError,
    RunBusyError,
    RunFailed,
    StepCodeChangedError,
    StoreError,
    UnstorableValueError,
)
from orchestrator.events import Event, EventKind
from orchestrator.executor import Executor, ThreadExecutor
from orchestrator.processes import ProcessExecutor, StepProcessDied
from orchestrator.records import (
    AttemptRecord,
    Failure,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    UsageRecord,
)
from orchestrator.retry import RetryPolicy
from orchestrator.store import SQLiteStore, Store, default_store
from orchestrator.workflow import (
    RunHandle,
    Workflow,
    aresume,
    resume,
    resume_batch,
    set_engine_concurrency,
    start_resume,
    step,
    workflow,
)

__all__ = [
    "AttemptRecord",
    "DeadlineExceeded",
    "DefinitionError",
    "Event",
    "EventKind",
    "Executor",
    "Failure",
    "GraphChangedError",
    "InputValidationError",
    "OrchestratorError",
    "ProcessExecutor",
    "ResumeError",
    "RetryPolicy",
    "RunBusyError",
    "RunFailed",
    "RunHandle",
    "RunRecord",
    "RunStatus",
    "SQLiteStore",
    "Step",
    "StepCodeChangedError",
    "StepContext",
    "StepProcessDied",
    "StepRecord",
    "StepStatus",
    "Store",
    "StoreError",
    "ThreadExecutor",
    "UnstorableValueError",
    "UsageRecord",
    "Workflow",
    "aresume",
    "current_step",
    "default_store",
    "resume",
    "resume_batch",
    "set_engine_concurrency",
    "start_resume",
    "step",
    "step_context",
    "workflow",
]
