"""Which waiting request enters the engine next, and into which slot.

**Order.** An engine decodes every admitted sequence in every step, so on a CPU a step of 16
sequences takes several times as long as a step of 2. Admitting requests in arrival order
lets a burst of long generations hold every slot while an 8-token request waits behind
them (head-of-line blocking). Here each request gets a virtual deadline, its arrival time
plus the time its work would take alone, and a free slot goes to the earliest deadline. A
short request therefore overtakes long ones that arrived shortly before it, and a long
request is never starved: once its deadline is the earliest, nothing that arrives later can
pass it. (vLLM's and SGLang's priority scheduling, without preemption: a sequence that has
started runs to its end.)

**Slots and prefix affinity.** Each slot keeps the key/value cache of the last prompt it
ran, and a prompt that shares a prefix with it (the chat template, the task instruction,
the schema, the worked example) recomputes only the rest. On a 2-core machine prefill costs
~4 ms a token, as much as several decode steps, so where a request runs matters as much
as when. The work charged in a deadline therefore includes the prompt characters the slot
has *not* cached: a freed slot goes to the waiting request that would finish earliest *in
that slot*, and a free slot is chosen by the longest shared prefix. Requests of one kind
keep landing in slots that hold their prefix (SGLang's cache-aware scheduling, in small);
the bonus is bounded by a prompt's own length, so it cannot starve anyone either.

**Express slots.** Without preemption, a burst of long generations that arrives first holds
every slot, and a short request behind it waits for the first of them to end. ``express``
extra slots take only short requests (``max_new_tokens <= express_max_new_tokens``), so a
short request finds a slot at once unless ``express`` short ones are already running; a
step then decodes at most ``limit + express`` sequences.

**A lane.** When the express slots are a context of their own with their own threads
(``lane=True``), the two pools are kept apart: short requests run only in the lane, where no
step of long sequences slows them, and long ones only in the regular slots. A short request
may then wait for the lane while a regular slot is idle; it waits for other short requests.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# The decode time a token is charged in a request's deadline: sets how long a long request
# can be overtaken before nothing that arrives later passes it.
SECONDS_PER_TOKEN = 0.03
# The prefill time a prompt character is charged when the slot has not cached it (~4 ms
# a token of ~4 characters on the 2-core machine; RESULTS.md).
SECONDS_PER_PROMPT_CHAR = 0.001


def virtual_deadline(max_new_tokens: int, seconds_per_token: float = SECONDS_PER_TOKEN,
                     now: float | None = None) -> float:
    """Arrival time plus the time the request's tokens would take alone: the smaller, the sooner."""
    return (time.monotonic() if now is None else now) + max(1, max_new_tokens) * seconds_per_token


def shared_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search over C-speed slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass(eq=False)
class _Waiter:
    deadline: float
    order: int
    prompt: str
    short: bool
    turn: threading.Event = field(default_factory=threading.Event)
    slot: int = -1


class Admission:
    """``limit`` slots for any request plus ``express`` for short ones; at most one request
    in each, the rest wait. Slots ``limit`` and up are the express ones.

    ``enter(max_new_tokens, prompt)`` yields the slot to run in. Thread-safe; it blocks only
    its caller. The number of waiting callers is bounded by whoever calls (the Serve
    replica's ``max_ongoing_requests`` threads)."""

    def __init__(self, limit: int, seconds_per_token: float = SECONDS_PER_TOKEN,
                 seconds_per_prompt_char: float = SECONDS_PER_PROMPT_CHAR, *, express: int = 0,
                 express_max_new_tokens: int = 16, lane: bool = False) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if express < 0:
            raise ValueError(f"express must be at least 0, got {express}")
        self.limit = limit
        self.express = express
        self.express_max_new_tokens = express_max_new_tokens
        self.lane = lane
        self.seconds_per_token = seconds_per_token
        self.seconds_per_prompt_char = seconds_per_prompt_char
        self._lock = threading.Lock()
        self._free = list(range(limit + express))
        # What each slot last ran: its cache holds this prompt's prefix.
        self._cached = [""] * (limit + express)
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()
        self.admitted = 0
        self.overtakes = 0
        self.affinity_picks = 0
        self.express_admits = 0

    @contextmanager
    def enter(self, max_new_tokens: int, prompt: str = "") -> Iterator[int]:
        """Hold one of the engine's slots for the duration of the block; yields its index."""
        slot = self._acquire(virtual_deadline(max_new_tokens, self.seconds_per_token), prompt,
                             max_new_tokens <= self.express_max_new_tokens)
        try:
            yield slot
        finally:
            self._release(slot)

    def _uncached(self, prompt: str, slot: int) -> float:
        return (len(prompt) - shared_prefix(prompt, self._cached[slot])) * self.seconds_per_prompt_char

    def _fits(self, slot: int, short: bool) -> bool:
        if self.lane:
            return (slot >= self.limit) == short
        return short or slot < self.limit

    def _acquire(self, deadline: float, prompt: str, short: bool) -> int:
        with self._lock:
            self.admitted += 1
            free = [s for s in self._free if self._fits(s, short)]
            # Waiters come first, except that a short request may take a free express slot:
            # a waiter that could use it would already hold it. (In a lane the pools are
            # apart, and a pool with a free slot has no waiters.)
            if free and (self.lane or not self._waiting or all(s >= self.limit for s in free)):
                # Regular slots first: express ones stay free for the next short request.
                slot = max(free, key=lambda s: (s < self.limit, shared_prefix(prompt, self._cached[s])))
                self._free.remove(slot)
                self._cached[slot] = prompt
                if slot >= self.limit:
                    self.express_admits += 1
                return slot
            waiter = _Waiter(deadline, next(self._order), prompt, short)
            if self._waiting and deadline < max(w.deadline for w in self._waiting):
                self.overtakes += 1
            self._waiting.append(waiter)
        # The releasing thread hands its slot over directly, so no later arrival can slip
        # in between.
        waiter.turn.wait()
        return waiter.slot

    def _release(self, slot: int) -> None:
        with self._lock:
            waiting = [w for w in self._waiting if self._fits(slot, w.short)]
            if not waiting:
                self._free.append(slot)
                return
            nxt = min(waiting, key=lambda w: (w.deadline + self._uncached(w.prompt, slot), w.order))
            if nxt is not min(waiting, key=lambda w: (w.deadline, w.order)):
                self.affinity_picks += 1
            if slot >= self.limit:
                self.express_admits += 1
            self._waiting.remove(nxt)
            self._cached[slot] = nxt.prompt
            nxt.slot = slot
            nxt.turn.set()

    def stats(self) -> dict[str, int]:
        with self._lock:
            out = {"admission_limit": self.limit, "active": self.limit + self.express - len(self._free),
                   "waiting": len(self._waiting), "overtakes": self.overtakes,
                   "affinity_picks": self.affinity_picks}
            if self.express:
                out |= {"express_slots": self.express, "express_admits": self.express_admits}
            return out


__all__ = ["SECONDS_PER_PROMPT_CHAR", "SECONDS_PER_TOKEN", "Admission", "shared_prefix", "virtual_deadline"]
