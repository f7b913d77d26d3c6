"""Admission order: earliest virtual deadline (arrival + expected decode time) first."""

from __future__ import annotations

import threading
import time

import pytest

from agents.engines.admission import Admission


def _queue(admission: Admission, tokens: list[int]) -> list[int]:
    """Hold the only place, queue one caller per entry of ``tokens`` (in that order), then
    let them in one at a time; returns the order in which they entered."""
    entered: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        with admission.enter(tokens[i]), lock:
            entered.append(i)

    with admission.enter(1):
        threads = []
        for i in range(len(tokens)):
            threads.append(threading.Thread(target=call, args=(i,)))
            threads[-1].start()
            deadline = time.monotonic() + 5
            while admission.stats()["waiting"] < i + 1 and time.monotonic() < deadline:
                time.sleep(0.001)
            time.sleep(0.002)  # distinct arrival times
    for t in threads:
        t.join(5)
    return entered


def test_shorter_expected_work_enters_first() -> None:
    assert _queue(Admission(1), [128, 8, 64, 8, 16]) == [1, 3, 4, 2, 0]


def test_a_long_wait_outweighs_length_so_nothing_starves() -> None:
    # With no cost per token the deadline is the arrival time: first come, first served.
    assert _queue(Admission(1, seconds_per_token=0.0), [128, 8, 64, 8]) == [0, 1, 2, 3]


def test_never_more_than_the_limit_inside() -> None:
    admission = Admission(3)
    inside, peak = 0, 0
    lock = threading.Lock()

    def call(n: int) -> None:
        nonlocal inside, peak
        with admission.enter(n):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=call, args=(n % 7 + 1,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak == 3 and admission.stats()["active"] == 0 and admission.stats()["waiting"] == 0


def test_a_failing_request_gives_its_place_back() -> None:
    admission = Admission(1)
    with pytest.raises(RuntimeError), admission.enter(4):
        raise RuntimeError("boom")
    with admission.enter(4):
        assert admission.stats()["active"] == 1
    assert admission.stats()["active"] == 0


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(0)
