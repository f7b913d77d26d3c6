"""Admission order: earliest virtual deadline (arrival + expected decode time) first."""

from __future__ import annotations

import threading
import time

import pytest

from agents.engines.admission import Admission, shared_prefix


def _wait_until_waiting(admission: Admission, n: int) -> None:
    deadline = time.monotonic() + 5
    while admission.stats()["waiting"] < n and time.monotonic() < deadline:
        time.sleep(0.001)


def _queue(admission: Admission, tokens: list[int]) -> list[int]:
    """Hold the only place, queue one caller per entry of ``tokens`` (in that order), then
    let them in one at a time; returns the order in which they entered."""
    return _queue_prompts(admission, "", [(n, "") for n in tokens])


def _queue_prompts(admission: Admission, held: str, waiting: list[tuple[int, str]]) -> list[int]:
    """Like ``_queue`` with prompts: the only slot last ran ``held``."""
    entered: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        tokens, prompt = waiting[i]
        with admission.enter(tokens, prompt), lock:
            entered.append(i)

    with admission.enter(1, held):
        threads = []
        for i in range(len(waiting)):
            threads.append(threading.Thread(target=call, args=(i,)))
            threads[-1].start()
            _wait_until_waiting(admission, i + 1)
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


def test_shared_prefix_length() -> None:
    assert shared_prefix("", "abc") == 0
    assert shared_prefix("abcd", "abXd") == 2
    assert shared_prefix("abc", "abc") == 3
    assert shared_prefix("abc" * 500, "abc" * 500 + "x") == 1500


def test_a_free_slot_is_the_one_that_cached_the_longest_shared_prefix() -> None:
    admission = Admission(3)
    instruction = "Extract the order as JSON. " * 20
    with admission.enter(8, "Write a reply. " * 20 + "mail 1") as reply_slot:
        pass
    with admission.enter(8, instruction + "mail 1") as extract_slot:
        pass
    assert extract_slot != reply_slot
    with admission.enter(8, instruction + "mail 2") as slot:
        assert slot == extract_slot
    with admission.enter(8, "Write a reply. " * 20 + "mail 2") as slot:
        assert slot == reply_slot


def test_a_freed_slot_goes_to_the_request_that_finishes_soonest_in_it_counting_its_cached_prompt() -> None:
    schema = "You extract orders. Schema: {...}. " * 30  # ~1000 characters, cached by the slot
    other = "You write replies to customers. " * 30
    # 16 tokens with 1000 prompt characters cached beats 8 tokens with all of them to compute.
    order = _queue_prompts(Admission(1), schema + "mail 0", [(8, other + "mail 1"), (16, schema + "mail 2")])
    assert order == [1, 0]
    # But the bonus is bounded by what the prompt would cost: a short request still passes a
    # long one whose cached prefix saves less than the long request's extra decoding.
    order = _queue_prompts(Admission(1), schema + "mail 0", [(8, "short mail"), (128, schema + "mail 2")])
    assert order == [0, 1]


def test_a_short_request_takes_a_free_express_slot_while_long_ones_wait() -> None:
    admission = Admission(1, express=1, express_max_new_tokens=16)
    entered: list[str] = []

    def call(name: str, tokens: int) -> None:
        with admission.enter(tokens) as slot:
            entered.append(f"{name}@{slot}")

    with admission.enter(128) as held:
        assert held == 0  # a long request never gets the express slot
        long_t = threading.Thread(target=call, args=("long", 64))
        long_t.start()
        _wait_until_waiting(admission, 1)
        short_t = threading.Thread(target=call, args=("short", 8))
        short_t.start()
        short_t.join(5)
        # The short one ran in slot 1 while slot 0 was still held; the long one still waits.
        assert entered == ["short@1"] and admission.stats()["waiting"] == 1
    long_t.join(5)
    assert entered == ["short@1", "long@0"]
    assert admission.stats()["express_admits"] == 1


def test_in_a_lane_short_and_long_requests_keep_to_their_own_slots() -> None:
    # The express slots are a context of their own: a short request is faster there than in
    # a regular slot's steps, so it waits for the lane rather than take an idle regular slot.
    admission = Admission(1, express=1, express_max_new_tokens=16, lane=True)
    order: list[str] = []
    with admission.enter(8) as short:
        assert short == 1
        waiter = threading.Thread(target=_enter_and_log, args=(admission, "short", 8, order))
        waiter.start()
        _wait_until_waiting(admission, 1)
        # A long request behind the waiting short one still takes the idle regular slot.
        with admission.enter(128) as long:
            assert long == 0 and order == []
    waiter.join(5)
    assert order == ["short@1"]
    shared = Admission(1, express=1, express_max_new_tokens=16)
    with shared.enter(8) as first_short:
        assert first_short == 0  # without a lane the regular slot comes first


def test_a_freed_express_slot_goes_only_to_a_short_request() -> None:
    admission = Admission(1, express=1, express_max_new_tokens=16)
    order: list[str] = []
    with admission.enter(128):
        with admission.enter(8) as express:
            assert express == 1
            threads = [threading.Thread(target=lambda n=n, t=t: _enter_and_log(admission, n, t, order))
                       for n, t in (("long", 32), ("short", 16))]
            for n, t in enumerate(threads, start=1):
                t.start()
                _wait_until_waiting(admission, n)
        # The express slot is free now: the short waiter takes it, the long one keeps waiting.
        threads[1].join(5)
        assert order == ["short@1"]
    threads[0].join(5)
    assert order == ["short@1", "long@0"]


def _enter_and_log(admission: Admission, name: str, tokens: int, order: list[str]) -> None:
    with admission.enter(tokens) as slot:
        order.append(f"{name}@{slot}")
