"""Continuous batching on the transformers engine (tiny real Llama from the fixtures): requests
join a running decode loop, leave it when they finish, and get what they would get alone."""

from __future__ import annotations

import threading
import time
from typing import Any

from agents.protocol import GenerateResponse
from agents.runtime import ModelRunner

SAMPLED = {"temperature": 1.0, "top_p": 0.95}


def _generate(runner: ModelRunner, **req: Any) -> GenerateResponse:
    [res] = runner.run_batch("generate", [req])
    assert isinstance(res, GenerateResponse), res
    return res


def test_the_engine_batches_its_callers_itself(tiny_llm_runner: ModelRunner, tiny_bert_runner: ModelRunner) -> None:
    assert tiny_llm_runner.concurrent and tiny_llm_runner.info()["batching"] == "continuous"
    # An encoder's whole-batch forward pass stays with @serve.batch.
    assert not tiny_bert_runner.concurrent


def test_a_request_joining_mid_generation_gets_what_it_gets_alone(tiny_llm_runner: ModelRunner) -> None:
    # Seeded sampling draws from the request's own generator, so the text is the same alone
    # and joined into a running batch only if the merged KV cache, the left padding and the
    # positions are right for every row (greedy output of a random model repeats one token,
    # which would not tell).
    requests = [
        {"prompt": "The quick brown fox jumps over the lazy dog", "max_new_tokens": 40, "seed": 11, **SAMPLED},
        {"prompt": "Alice", "max_new_tokens": 12, "seed": 22, **SAMPLED},
        {"prompt": "Bob and Carol went to the market on", "max_new_tokens": 25, "seed": 33, **SAMPLED},
    ]
    alone = [_generate(tiny_llm_runner, **r).text for r in requests]
    engine = tiny_llm_runner.engine
    joins = engine.stats()["joins"]
    together: dict[int, str] = {}

    def call(i: int) -> None:
        together[i] = _generate(tiny_llm_runner, **requests[i]).text

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
        time.sleep(0.05)  # each joins while the earlier ones are decoding
    for t in threads:
        t.join(60)
    assert [together[i] for i in range(len(requests))] == alone
    assert engine.stats()["joins"] - joins == len(requests)


def test_a_short_request_admitted_mid_generation_returns_before_the_long_one(tiny_llm_runner: ModelRunner) -> None:
    started = threading.Event()
    done: dict[str, float] = {}

    def long_call() -> None:
        tiny_llm_runner.stream("generate", {"prompt": "The quick brown", "max_new_tokens": 200},
                               lambda _piece: started.set() or False)
        done["long"] = time.perf_counter()

    t = threading.Thread(target=long_call)
    t.start()
    assert started.wait(30)
    res = _generate(tiny_llm_runner, prompt="Alice", max_new_tokens=2)
    done["short"] = time.perf_counter()
    assert "long" not in done  # it returned while the long one was still decoding
    t.join(60)
    assert res.usage.tokens_out == 2 and done["long"] > done["short"]


def test_a_stream_stopped_by_the_caller_leaves_the_batch(tiny_llm_runner: ModelRunner) -> None:
    pieces: list[str] = []
    res = tiny_llm_runner.stream("generate", {"prompt": "Alice", "max_new_tokens": 200},
                                 lambda p: pieces.append(p) or len(pieces) >= 3)
    assert 3 <= res.usage.tokens_out < 200
    assert tiny_llm_runner.engine.stats()["running"] == 0


def test_a_bad_request_fails_alone_in_a_running_batch(tiny_llm_runner: ModelRunner) -> None:
    out = tiny_llm_runner.run_batch("generate", [
        {"prompt": "Alice", "max_new_tokens": 4},
        {"prompt": "x " * 5000, "max_new_tokens": 4},
        {"prompt": "Bob", "max_new_tokens": 3},
    ])
    assert isinstance(out[0], GenerateResponse) and out[0].usage.tokens_out == 4
    assert "tokens" in str(out[1])
    assert isinstance(out[2], GenerateResponse) and out[2].usage.tokens_out == 3


def test_waiting_requests_join_by_deadline_so_a_short_one_overtakes(tiny_llm_runner: ModelRunner) -> None:
    import threading as th

    from agents.engines.hf_batcher import ContinuousBatcher
    from agents.tasks._generation import GenItem

    engine = tiny_llm_runner.engine
    batcher = ContinuousBatcher(engine.lm, 1, th.Lock(), "one-row")
    release = th.Event()
    holder = batcher.submit(GenItem(input_ids=engine.prompt_ids("hold"), max_new_tokens=500),
                            on_text=lambda _piece: release.is_set())
    deadline = time.monotonic() + 30
    while batcher.stats()["running"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    long = batcher.submit(GenItem(input_ids=engine.prompt_ids("long"), max_new_tokens=300))
    short = batcher.submit(GenItem(input_ids=engine.prompt_ids("short"), max_new_tokens=2))
    assert batcher.stats()["waiting"] == 2
    finished: dict[str, float] = {}
    long.add_done_callback(lambda _f: finished.setdefault("long", time.perf_counter()))
    short.add_done_callback(lambda _f: finished.setdefault("short", time.perf_counter()))
    release.set()
    holder.result(60), long.result(60), short.result(60)
    batcher.close()
    assert finished["short"] < finished["long"]
