"""Run a workflow step as a Ray task with its own resources (the engine's Executor protocol).

Workflows run on the driver and reach agents through Serve handles; a step that is heavy
CPU work (parsing, feature extraction, a big sort) can instead ask for a Ray task, so that
it is scheduled on whichever node has the CPUs and does not compete with the driver:

    @step(executor=ray_task(num_cpus=2))
    def featurize(docs: list[str]) -> list[list[float]]: ...

The step's function and arguments are pickled to the worker, so they must be importable
(module-level) there. The step's context travels with it: inside the task `current_step()`
names the same run, step and attempt, and the usage the body records (agent calls) comes
back with the result and is written to the run store on the driver. Usage recorded by an
attempt that raises is lost with it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.logging import get_logger

log = get_logger(component="cluster.executor")


class RayTaskOptions(BaseModel):
    """Resources and retry behaviour of one step's Ray task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory: int | None = Field(default=None, gt=0, description="bytes reserved for the task")
    resources: dict[str, float] = Field(default_factory=dict)
    max_retries: int = Field(
        default=3, ge=-1, description="Ray's retries when the task's worker or node dies (-1: forever)"
    )

    @model_validator(mode="after")
    def _gpu_fraction(self) -> RayTaskOptions:
        if self.num_gpus > 1 and not float(self.num_gpus).is_integer():
            raise ValueError(
                f"num_gpus={self.num_gpus}: a fraction must be at most 1; above 1 use whole GPUs"
            )
        return self

    def ray_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "num_cpus": self.num_cpus,
            "num_gpus": self.num_gpus,
            "max_retries": self.max_retries,
        }
        if self.memory is not None:
            opts["memory"] = self.memory
        if self.resources:
            opts["resources"] = dict(self.resources)
        return opts


class RayTaskExecutor:
    """Executor that runs each call of a step as one Ray task and awaits its result."""

    def __init__(self, options: RayTaskOptions) -> None:
        self.options = options

    def __repr__(self) -> str:
        return f"ray_task({self.options.ray_options()})"

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import ray
        from ray.exceptions import RayTaskError

        from cluster.connect import connect
        from orchestrator import current_step

        if not ray.is_initialized():
            # Same rule as everywhere: RAY_ADDRESS if set, else an embedded local Ray.
            connect()
        remote = ray.remote(_call).options(
            name=getattr(fn, "__qualname__", "step"), **self.options.ray_options()
        )
        ctx = current_step()
        where = (ctx.run_id, ctx.step, ctx.attempt) if ctx is not None else None
        ref = remote.remote(fn, args, kwargs, where)
        try:
            result, usage = await ref
        except asyncio.CancelledError:
            # A step timeout or a cancelled run must not leave the task burning CPU on the cluster.
            ray.cancel(ref, force=True)
            raise
        except RayTaskError as exc:
            # Surface the step's own exception type so retry policies (`retry_on=`) match it.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, Exception):
                raise cause from exc
            raise
        if ctx is not None:
            for record in usage:
                ctx.record_usage(record)
        return result


def _call(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], where: tuple[str, str, int] | None
) -> tuple[Any, list[Any]]:
    """Run the step body in the task; return its result and the usage it recorded."""
    from orchestrator import step_context

    usage: list[Any] = []
    if where is None:
        return _run(fn, args, kwargs), usage
    with step_context(*where, sink=usage.append):
        return _run(fn, args, kwargs), usage


def _run(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def ray_task(
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    memory: int | None = None,
    resources: dict[str, float] | None = None,
    max_retries: int = 3,
) -> RayTaskExecutor:
    """An executor running a step as a Ray task with these resources (see module docs)."""
    return RayTaskExecutor(
        RayTaskOptions(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            memory=memory,
            resources=resources or {},
            max_retries=max_retries,
        )
    )
