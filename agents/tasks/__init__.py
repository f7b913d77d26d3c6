"""One module per task kind; each exposes ``run(ctx, requests) -> list[Response | AgentError]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.protocol import TaskKind


def handler(task: TaskKind) -> Callable[..., list[Any]]:
    """The batch function of a task kind (imported lazily: task modules pull in torch).

    Classify requests over the agent's ``limits`` are refused before the batch runs.
    """
    from agents.tasks import chat, classify, embed, extract, generate, tool_call

    if task == TaskKind.CLASSIFY:
        return _within_limits(classify.run)
    return {
        TaskKind.GENERATE: generate.run,
        TaskKind.CHAT: chat.run,
        TaskKind.CLASSIFY: classify.run,
        TaskKind.EXTRACT: extract.run,
        TaskKind.TOOL_CALL: tool_call.run,
        TaskKind.EMBED: embed.run,
    }[task]


def _within_limits(run: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    """``run`` on the requests within the agent spec's ``limits``; the others get InvalidRequest naming the limit."""

    def limited(ctx: Any, requests: list[Any]) -> list[Any]:
        from agents.errors import AgentError, InvalidRequest
        from agents.tasks.classify import method_for

        out: list[Any] = [None] * len(requests)
        keep: list[int] = []
        for i, req in enumerate(requests):
            try:
                problem = ctx.spec.limits.classify_problem(req, method_for(ctx, req))
            except AgentError:
                problem = None  # the task itself reports a method it cannot serve
            if problem:
                out[i] = InvalidRequest(problem, agent=ctx.spec.name)
            else:
                keep.append(i)
        if keep:
            for i, res in zip(keep, run(ctx, [requests[i] for i in keep]), strict=True):
                out[i] = res
        return out

    return limited


__all__ = ["handler"]
