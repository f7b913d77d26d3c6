"""One module per task kind; each exposes ``run(ctx, requests) -> list[Response | AgentError]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agents.protocol import TaskKind


def handler(task: TaskKind) -> Callable[..., list[Any]]:
    """The batch function of a task kind (imported lazily: task modules pull in torch)."""
    from agents.tasks import chat, classify, embed, extract, generate, tool_call

    return {
        TaskKind.GENERATE: generate.run,
        TaskKind.CHAT: chat.run,
        TaskKind.CLASSIFY: classify.run,
        TaskKind.EXTRACT: extract.run,
        TaskKind.TOOL_CALL: tool_call.run,
        TaskKind.EMBED: embed.run,
    }[task]


__all__ = ["handler"]
