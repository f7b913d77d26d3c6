"""The llama_cpp engine on a tiny real GGUF (written by a fixture with the gguf package):
every task kind, continuous batching, streaming and cancellation, prefix reuse."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import validate

from agents.errors import InvalidOutput, InvalidRequest
from agents.protocol import (
    ChatResponse,
    ClassifyResponse,
    ExtractResponse,
    GenerateResponse,
    ToolCallResponse,
)
from agents.runtime import ModelRunner
from agents.spec import AgentSpec

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 6}, "age": {"type": "integer", "minimum": 0, "maximum": 120}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
TOOLS = [
    {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 5}},
                                           "required": ["city"], "additionalProperties": False}},
    {"name": "ping", "parameters": {"type": "object", "properties": {}, "additionalProperties": False}},
]
# A random model decoding greedily repeats one token and never ends on its own: a long request.
LONG = {"prompt": "The quick brown", "max_new_tokens": 1000}


def gguf_spec(path: Path, **over: Any) -> AgentSpec:
    data = {
        "name": "tinygguf",
        "model": str(path),
        "tasks": ["generate", "chat", "classify", "extract", "tool_call"],
        "device": "cpu",
        "batching": {"max_batch_size": 4},
        "generation": {"max_new_tokens": 16},
        **over,
    }
    return AgentSpec.model_validate(data)


@pytest.fixture(scope="module")
def runner(tiny_gguf: Path) -> ModelRunner:
    return ModelRunner(gguf_spec(tiny_gguf)).load()


def test_gguf_defaults_to_llama_cpp_and_engine_can_be_chosen(tiny_gguf: Path, tiny_llm_dir: Path) -> None:
    assert gguf_spec(tiny_gguf).resolved_engine == "llama_cpp"
    assert gguf_spec(tiny_gguf, engine="transformers").resolved_engine == "transformers"
    assert gguf_spec(tiny_llm_dir).resolved_engine == "transformers"
    with pytest.raises(ValueError, match="engine 'llama_cpp' runs GGUF files"):
        gguf_spec(tiny_llm_dir, engine="llama_cpp")
    with pytest.raises(ValueError, match="do not embed"):
        gguf_spec(tiny_gguf, engine="llama_cpp", tasks=["embed"])


def test_every_task_kind(runner: ModelRunner) -> None:
    assert runner.concurrent and runner.info()["engine"] == "llama_cpp"
    [gen] = runner.run_batch("generate", [{"prompt": "The quick brown", "max_new_tokens": 5}])
    assert isinstance(gen, GenerateResponse) and gen.usage.tokens_out == 5 and gen.finish_reason == "length"
    [chat] = runner.run_batch("chat", [{"messages": [{"role": "user", "content": "hi"}], "max_new_tokens": 4}])
    assert isinstance(chat, ChatResponse) and chat.usage.tokens_in > 3  # the chat template wrapped the message
    [cls] = runner.run_batch("classify", [{"text": "I love it", "labels": ["positive", "negative", "spam"]}])
    assert isinstance(cls, ClassifyResponse) and set(cls.scores) == {"positive", "negative", "spam"}
    assert abs(sum(cls.scores.values()) - 1) < 1e-4 and len(set(cls.scores.values())) > 1
    [ext] = runner.run_batch("extract", [{"text": "Alice is 31", "json_schema": PERSON, "max_new_tokens": 64}])
    if isinstance(ext, InvalidOutput):  # only a token limit may cut a constrained answer short
        assert "max_new_tokens" in str(ext)
    else:
        assert isinstance(ext, ExtractResponse)
        validate(ext.data, PERSON)
    [tool] = runner.run_batch("tool_call", [{"text": "weather in Paris?", "tools": TOOLS, "max_new_tokens": 48}])
    if not isinstance(tool, InvalidOutput):
        assert isinstance(tool, ToolCallResponse) and tool.name in {"get_weather", "ping"}


def test_extract_under_a_token_limit_is_invalid_output_not_garbage(runner: ModelRunner) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "minLength": 200}}, "required": ["s"]}
    [res] = runner.run_batch("extract", [{"text": "x", "json_schema": schema, "max_new_tokens": 8}])
    assert isinstance(res, InvalidOutput) and "max_new_tokens" in str(res) and res.raw


def test_too_long_input_is_refused_with_the_sizes(runner: ModelRunner) -> None:
    [res] = runner.run_batch("generate", [{"prompt": "fox " * 5000}])
    assert isinstance(res, InvalidRequest) and "tokens" in str(res)


def test_short_request_admitted_mid_generation_returns_before_the_long_one(runner: ModelRunner) -> None:
    pieces: list[str] = []
    started = threading.Event()
    long_done: dict[str, Any] = {}

    def on_text(piece: str) -> bool:
        pieces.append(piece)
        started.set()
        return False

    def long_call() -> None:
        long_done["result"] = runner.stream("generate", LONG, on_text)
        long_done["at"] = time.perf_counter()

    t = threading.Thread(target=long_call)
    t.start()
    assert started.wait(30)
    [short] = runner.run_batch("generate", [{"prompt": "Alice", "max_new_tokens": 2}])
    short_at = time.perf_counter()
    # The long request was still generating when the short one finished, so the short one
    # was admitted into the running batch rather than queued behind it.
    assert "at" not in long_done
    t.join(60)
    assert isinstance(short, GenerateResponse) and short.usage.tokens_out == 2
    assert long_done["at"] > short_at
    assert long_done["result"].usage.tokens_out == 1000


def test_stream_stopped_by_the_caller_frees_its_slot(runner: ModelRunner) -> None:
    pieces: list[str] = []
    res = runner.stream("generate", LONG, lambda p: pieces.append(p) or len(pieces) >= 3)
    assert isinstance(res, GenerateResponse) and 3 <= res.usage.tokens_out < 100
    engine = runner.engine
    deadline = time.monotonic() + 5
    while engine.busy_slots() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine.busy_slots() == 0


def test_shared_prefix_is_reused(runner: ModelRunner) -> None:
    before = runner.engine.stats()["cached_prompt_tokens"]
    doc = "Send an email to bob@example.com about the meeting at 3pm. " * 4
    for q in ["Who?", "When?"]:
        runner.run_batch("chat", [{"messages": [{"role": "system", "content": doc}, {"role": "user", "content": q}],
                                   "max_new_tokens": 2}])
    assert runner.engine.stats()["cached_prompt_tokens"] - before > 30


def test_seeded_sampling_is_reproducible(runner: ModelRunner) -> None:
    req = {"prompt": "The quick", "max_new_tokens": 8, "temperature": 1.0, "seed": 7}
    a = runner.run_batch("generate", [req])[0].text
    b = runner.run_batch("generate", [req])[0].text
    assert a == b


def test_two_adapters_on_one_engine_mixed_in_one_batch(tiny_gguf: Path, tiny_loras: dict[str, Path]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    spec = gguf_spec(tiny_gguf, adapters=[str(p) for p in tiny_loras.values()])
    runner = ModelRunner(spec).load()
    assert runner.info()["adapters"] == ["invoice", "support"]

    def text(adapter: str | None) -> str:
        [r] = runner.run_batch("generate", [{"prompt": "The quick brown", "max_new_tokens": 8, "adapter": adapter}])
        assert isinstance(r, GenerateResponse), r
        return r.text

    alone = {a: text(a) for a in [None, "invoice", "support"]}
    assert len(set(alone.values())) == 3, alone  # each adapter changes what the model writes
    # Mixed in the same decode steps, each request still gets its own adapter (and the base
    # request none, whatever its slot ran before).
    order = [None, "invoice", "support"] * 3
    with ThreadPoolExecutor(len(order)) as pool:
        mixed = list(pool.map(text, order))
    assert mixed == [alone[a] for a in order]
    [bad] = runner.run_batch("generate", [{"prompt": "x", "adapter": "nope"}])
    assert isinstance(bad, InvalidRequest) and "invoice, support" in str(bad)


def test_adapters_need_the_llama_cpp_engine(tiny_llm_dir: Path, tiny_loras: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="adapters are served by the llama_cpp engine"):
        gguf_spec(tiny_llm_dir, adapters=[str(tiny_loras["invoice"])])
    with pytest.raises(ValueError, match="no GGUF LoRA file"):
        gguf_spec(tiny_llm_dir, adapters=[str(tmp_path / "missing.gguf")])


def test_objects_take_no_extra_keys_unless_the_schema_allows_them() -> None:
    from agents.engines.llama_cpp import _strict

    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}},
                                                "c": {"type": "array", "items": {"type": "object", "properties": {}}}},
              "$defs": {"d": {"type": "object", "properties": {"e": {"type": "integer"}}}}}
    strict = _strict(schema)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["a"]["additionalProperties"] is False
    assert strict["properties"]["c"]["items"]["additionalProperties"] is False
    assert strict["$defs"]["d"]["additionalProperties"] is False
    open_schema = {"type": "object", "properties": {}, "additionalProperties": True}
    assert _strict(open_schema)["additionalProperties"] is True


def test_tool_call_with_non_object_arguments_is_invalid_output(runner: ModelRunner) -> None:
    tools = [{"name": "f", "parameters": {"type": "string", "enum": ["x"]}}]
    [res] = runner.run_batch("tool_call", [{"text": "call f", "tools": tools, "max_new_tokens": 32}])
    assert isinstance(res, InvalidOutput) and "object arguments" in str(res)


def test_a_vanishing_temperature_decodes_greedily(runner: ModelRunner, tiny_llm_runner: ModelRunner) -> None:
    for r in (runner, tiny_llm_runner):
        greedy = r.run_batch("generate", [{"prompt": "The quick", "max_new_tokens": 4, "temperature": 0}])[0]
        tiny = r.run_batch("generate", [{"prompt": "The quick", "max_new_tokens": 4, "temperature": 6.9e-229}])[0]
        assert isinstance(tiny, GenerateResponse), tiny  # not "probability tensor contains inf"
        assert tiny.text == greedy.text


def test_a_short_request_waiting_for_a_slot_overtakes_a_long_one_that_came_first(tiny_gguf: Path) -> None:
    # One slot: while a stream holds it, a long request and then a short one queue for it.
    # The short one must enter first (shortest expected work first), not in arrival order.
    runner = ModelRunner(gguf_spec(tiny_gguf, batching={"max_batch_size": 1})).load()
    admission = runner.engine.admission
    release = threading.Event()
    finished: dict[str, float] = {}

    def hold() -> None:
        runner.stream("generate", LONG, lambda _piece: release.is_set())

    def call(name: str, tokens: int) -> None:
        runner.run_batch("generate", [{"prompt": name, "max_new_tokens": tokens}])
        finished[name] = time.perf_counter()

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.monotonic() + 30
    while admission.stats()["active"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    long_t = threading.Thread(target=call, args=("long", 300))
    long_t.start()
    while admission.stats()["waiting"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    short_t = threading.Thread(target=call, args=("short", 2))
    short_t.start()
    while admission.stats()["waiting"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert admission.stats()["waiting"] == 2
    release.set()
    for t in (holder, long_t, short_t):
        t.join(60)
    assert finished["short"] < finished["long"]
    assert admission.stats() == {"admission_limit": 1, "active": 0, "waiting": 0, "overtakes": 1, "affinity_picks": 0}


def test_a_freed_slot_goes_to_the_waiting_request_that_shares_its_cached_prefix(tiny_gguf: Path) -> None:
    # One slot, busy with an extraction-like prompt; a reply-like request queues, then another
    # extraction. The second extraction needs a little more decoding but none of its prompt
    # recomputed, so it enters first and finds its prefix cached (in arrival order it would
    # come second, into a slot that had just cached the other prompt).
    runner = ModelRunner(gguf_spec(tiny_gguf, batching={"max_batch_size": 1})).load()
    admission = runner.engine.admission
    extract, reply = "Extract the order fields as JSON. " * 12, "Write a short polite reply. " * 12
    release = threading.Event()
    done: dict[str, Any] = {}

    def hold() -> None:
        runner.stream("generate", {**LONG, "prompt": extract + "mail 0"}, lambda _piece: release.is_set())

    def call(name: str, prompt: str, tokens: int) -> None:
        [done[name]] = runner.run_batch("generate", [{"prompt": prompt, "max_new_tokens": tokens}])

    holder = threading.Thread(target=hold)
    holder.start()
    deadline = time.monotonic() + 30
    while admission.stats()["active"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    callers = [threading.Thread(target=call, args=("reply", reply + "mail 1", 2)),
               threading.Thread(target=call, args=("extract", extract + "mail 2", 4))]
    for n, t in enumerate(callers, start=1):
        t.start()
        while admission.stats()["waiting"] < n and time.monotonic() < deadline:
            time.sleep(0.01)
    release.set()
    for t in (holder, *callers):
        t.join(60)
    usage = done["extract"].usage
    assert usage.cached_tokens >= usage.tokens_in - 8, usage
    assert admission.stats()["affinity_picks"] == 1


def test_a_short_request_runs_in_an_express_slot_while_a_long_one_holds_the_regular_slot(tiny_gguf: Path) -> None:
    runner = ModelRunner(gguf_spec(tiny_gguf, batching={"max_batch_size": 1, "express_slots": 1})).load()
    assert runner.info()["express_slots"] == 1
    release = threading.Event()
    holder = threading.Thread(target=lambda: runner.stream("generate", LONG, lambda _piece: release.is_set()))
    holder.start()
    deadline = time.monotonic() + 30
    while runner.engine.admission.stats()["active"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        # Without the express slot this would wait for the 1000-token stream to end.
        [short] = runner.run_batch("generate", [{"prompt": "Hi", "max_new_tokens": 2}])
        assert isinstance(short, GenerateResponse) and holder.is_alive()
    finally:
        release.set()
        holder.join(60)
    assert runner.engine.admission.stats()["express_admits"] == 1


def test_an_express_lane_is_a_context_of_its_own_that_answers_as_the_main_one(tiny_gguf: Path) -> None:
    lane = ModelRunner(gguf_spec(tiny_gguf, batching={"max_batch_size": 1, "express_slots": 1,
                                                      "express_threads": 1})).load()
    assert lane.info()["express_threads"] == 1 and lane.engine._lane is not None
    release = threading.Event()
    holder = threading.Thread(target=lambda: lane.stream("generate", LONG, lambda _piece: release.is_set()))
    holder.start()
    deadline = time.monotonic() + 30
    while lane.engine.busy_slots() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        [short] = lane.run_batch("generate", [{"prompt": "The quick brown", "max_new_tokens": 6}])
        assert isinstance(short, GenerateResponse) and holder.is_alive()
        assert lane.engine.admission.stats()["express_admits"] == 1
    finally:
        release.set()
        holder.join(60)
    # Greedy decoding in the lane's context gives what the main context gives.
    plain = ModelRunner(gguf_spec(tiny_gguf, batching={"max_batch_size": 1})).load()
    [same] = plain.run_batch("generate", [{"prompt": "The quick brown", "max_new_tokens": 6}])
    assert short.text == same.text
    for r in (lane, plain):
        r.engine.close()
    with pytest.raises(ValueError, match="express_threads needs express_slots"):
        gguf_spec(tiny_gguf, batching={"express_threads": 1})


def test_express_slots_are_refused_on_the_transformers_engine(tiny_gguf: Path) -> None:
    with pytest.raises(ValueError, match="express_slots is for the llama_cpp engine"):
        gguf_spec(tiny_gguf, engine="transformers", batching={"express_slots": 1})
