"""A loop-lag watchdog: notices when code blocks the event loop (an async step calling
`time.sleep`, a CPU-bound loop without an await) and says so in the log and the run record.

Blocking code on the loop cannot be preempted: every run on that loop, their timeouts and
deadlines included, waits until it returns. The watchdog cannot stop it either, but it makes
it visible. A daemon thread sends the loop a beat every quarter of the threshold; when a
beat goes unanswered for longer than the threshold, the thread logs where the loop thread is
stuck (and which step, when a step's own code is on the stack) while it is still stuck, and
once the loop runs again the beat itself records the stall on the runs it held up.

The threshold is `SLMFLOW_LOOP_LAG_S` seconds (default 1.0; 0 turns the watchdog off).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import weakref
from types import CodeType, FrameType
from typing import TYPE_CHECKING

from orchestrator.logging import get_logger

if TYPE_CHECKING:
    from orchestrator._engine import Run

log = get_logger(component="orchestrator.watchdog")

_DEFAULT_THRESHOLD = 1.0


def threshold() -> float:
    try:
        return max(0.0, float(os.environ.get("SLMFLOW_LOOP_LAG_S", _DEFAULT_THRESHOLD)))
    except ValueError:
        return _DEFAULT_THRESHOLD


class LoopWatchdog:
    """Watches one event loop while runs are active on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float) -> None:
        # Weak: the watchdog lives in a table keyed weakly by its loop, which it must not keep alive.
        self._loop = weakref.ref(loop)
        self.limit = limit
        self.runs: set[Run] = set()
        self._lock = threading.Lock()
        self._loop_thread = threading.get_ident()
        self._answered = threading.Event()
        self._thread: threading.Thread | None = None
        self._culprit: tuple[str, str | None] | None = None  # (where, step name) seen while stuck

    def add(self, run: Run) -> None:
        with self._lock:
            self.runs.add(run)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="slmflow-loop-watchdog", daemon=True)
                self._thread.start()

    def discard(self, run: Run) -> None:
        self.runs.discard(run)

    def _watch(self) -> None:
        pause = self.limit / 4
        while True:
            with self._lock:
                loop = self._loop()
                if not self.runs or loop is None or loop.is_closed():
                    self._thread = None
                    return
            sent = time.monotonic()
            self._answered.clear()
            self._culprit = None
            try:
                loop.call_soon_threadsafe(self._beat, sent)
            except RuntimeError:  # the loop closed meanwhile
                with self._lock:
                    self._thread = None
                return
            if not self._answered.wait(self.limit):
                self._culprit = culprit = self._locate()
                log.warning(
                    "event loop blocked",
                    seconds_so_far=round(time.monotonic() - sent, 3),
                    where=culprit[0],
                    step=culprit[1],
                    runs=len(self.runs),
                    hint="an async step is running blocking code; make it a plain def (it then runs "
                    "in a thread) or await an async equivalent",
                )
                while not self._answered.wait(self.limit):
                    if loop.is_closed():
                        with self._lock:
                            self._thread = None
                        return
            del loop
            time.sleep(pause)

    def _beat(self, sent: float) -> None:
        self._answered.set()
        lag = time.monotonic() - sent
        if lag < self.limit:
            return
        where, step = self._culprit or ("unknown (the watchdog did not see the loop thread's stack)", None)
        stalled = [r for r in self.runs if step is None or r.has_step_named(step)] or list(self.runs)
        text = (
            f"the event loop was blocked for {lag:.2f}s in {where}"
            + (f" (step {step!r})" if step else "")
            + ": blocking code on the loop holds up every run on it, and cannot be timed out"
        )
        log.warning("event loop was blocked", seconds=round(lag, 3), where=where, step=step)
        for run in self.runs:
            run.warnings.append(text if run in stalled else f"held up {lag:.2f}s by a blocked event loop ({where})")

    def _locate(self) -> tuple[str, str | None]:
        frame: FrameType | None = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return "an unknown place", None
        codes: dict[CodeType, str] = {}
        for run in list(self.runs):
            codes.update(run.step_codes())
        top = f"{frame.f_code.co_filename}:{frame.f_lineno} ({frame.f_code.co_name})"
        while frame is not None:
            name = codes.get(frame.f_code)
            if name is not None:
                return f"{frame.f_code.co_filename}:{frame.f_lineno} ({frame.f_code.co_name}); innermost {top}", name
            frame = frame.f_back
        return top, None


_WATCHDOGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopWatchdog] = weakref.WeakKeyDictionary()


def watch(loop: asyncio.AbstractEventLoop, run: Run) -> LoopWatchdog | None:
    """Watch `loop` while `run` is active on it (None when the watchdog is turned off)."""
    dog = _WATCHDOGS.get(loop)
    if dog is None:
        limit = threshold()
        if limit <= 0:
            return None
        dog = _WATCHDOGS[loop] = LoopWatchdog(loop, limit)
    dog.add(run)
    return dog
