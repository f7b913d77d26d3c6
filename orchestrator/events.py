"""Events of a run (step started, retried, finished, skipped), for progress displays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from time import time


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    STEP_STARTED = "step_started"
    STEP_RETRIED = "step_retried"
    STEP_FINISHED = "step_finished"
    STEP_SKIPPED = "step_skipped"
    RUN_FINISHED = "run_finished"


@dataclass(slots=True, frozen=True)
class Event:
    kind: EventKind
    run_id: str
    step: str | None = None
    attempt: int | None = None
    status: str | None = None
    error: str | None = None
    at: float = field(default_factory=time)


Listener = Callable[[Event], None]


class EventStream:
    """Fan-out of one run's events to listeners; emitting costs nothing while nobody listens."""

    __slots__ = ("_closed", "listeners")

    def __init__(self) -> None:
        self.listeners: list[Listener] = []
        self._closed = False

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)
        if event.kind is EventKind.RUN_FINISHED:
            self._closed = True

    def subscribe(self) -> AsyncIterator[Event]:
        """Events from now on, ending after RUN_FINISHED."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.listeners.append(queue.put_nowait)
        closed_already = self._closed

        async def iterate() -> AsyncIterator[Event]:
            if closed_already:
                return
            try:
                while True:
                    event = await queue.get()
                    yield event
                    if event.kind is EventKind.RUN_FINISHED:
                        return
            finally:
                if queue.put_nowait in self.listeners:
                    self.listeners.remove(queue.put_nowait)

        return iterate()
