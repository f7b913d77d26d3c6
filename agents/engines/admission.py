"""Which waiting request enters the engine next: shortest expected work first, with aging.

An engine decodes every admitted sequence in every step, so on a CPU a step of 16
sequences takes several times as long as a step of 2. Admitting requests in arrival order
lets a burst of long generations hold every slot while an 8-token request waits behind
them (head-of-line blocking). Here each request gets a virtual deadline, its arrival time
plus the time its tokens would take alone (``max_new_tokens * seconds_per_token``), and the
free slot goes to the earliest deadline. A short request therefore overtakes long ones that
arrived shortly before it, and a long request is never starved: once its deadline is the
earliest, nothing that arrives later can pass it.

The same idea as vLLM's and SGLang's priority scheduling, without preemption: a sequence
that has started runs to its end.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

# The decode time a token is charged in a request's deadline: sets how long a long request
# can be overtaken before nothing that arrives later passes it.
SECONDS_PER_TOKEN = 0.03


def virtual_deadline(max_new_tokens: int, seconds_per_token: float = SECONDS_PER_TOKEN,
                     now: float | None = None) -> float:
    """Arrival time plus the time the request's tokens would take alone: the smaller, the sooner."""
    return (time.monotonic() if now is None else now) + max(1, max_new_tokens) * seconds_per_token


class Admission:
    """At most ``limit`` requests inside the engine; the rest wait in deadline order.

    Thread-safe; ``enter`` blocks only its caller. The number of waiting callers is bounded
    by whoever calls (the Serve replica's ``max_ongoing_requests`` threads)."""

    def __init__(self, limit: int, seconds_per_token: float = SECONDS_PER_TOKEN) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.seconds_per_token = seconds_per_token
        self._lock = threading.Lock()
        self._active = 0
        self._waiting: list[tuple[float, int, threading.Event]] = []
        self._order = itertools.count()
        self.admitted = 0
        self.overtakes = 0

    @contextmanager
    def enter(self, max_new_tokens: int) -> Iterator[None]:
        """Hold one of the engine's places for the duration of the block."""
        self._acquire(virtual_deadline(max_new_tokens, self.seconds_per_token))
        try:
            yield
        finally:
            self._release()

    def _acquire(self, deadline: float) -> None:
        with self._lock:
            self.admitted += 1
            if self._active < self.limit and not self._waiting:
                self._active += 1
                return
            turn = threading.Event()
            entry = (deadline, next(self._order), turn)
            if self._waiting and deadline < max(w[0] for w in self._waiting):
                self.overtakes += 1
            heapq.heappush(self._waiting, entry)
        # The releasing thread hands its place over directly (``_active`` is unchanged),
        # so no later arrival can slip in between.
        turn.wait()

    def _release(self) -> None:
        with self._lock:
            if self._waiting:
                _, _, turn = heapq.heappop(self._waiting)
                turn.set()
            else:
                self._active -= 1

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"admission_limit": self.limit, "active": self._active, "waiting": len(self._waiting),
                    "overtakes": self.overtakes}


__all__ = ["SECONDS_PER_TOKEN", "Admission", "virtual_deadline"]
