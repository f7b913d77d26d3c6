"""LoRA specialists on a tiny real GGUF: train (PEFT on the transformers copy), write the GGUF
LoRA into a registry version, serve it from the base agent's `adapters`, refuse bad data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.protocol import ExtractRequest, ExtractResponse
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from agents.specialists.adapters import (
    ADAPTER_FILE,
    _batch_loss,
    compact,
    infer_schema,
    load_rows,
    shared_prefix,
    space_token_ids,
    train_adapter,
    value_starts,
)
from agents.specialists.data import DataError
from agents.specialists.registry import Registry
from agents.tasks._spans import spans, use_spans

ROWS = [{"text": f"{n} is {a}.", "output": {"name": n, "age": a}} for n, a in [("Al", 3), ("Bo", 4), ("Cy", 5)] * 2]


@pytest.fixture(scope="module")
def trained(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, object]:
    folder = tmp_path_factory.mktemp("adapter-data")
    data = folder / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    registry = Registry()
    result = train_adapter("tinyorders", task="extract", base=str(tiny_gguf), data=data, epochs=2, batch_size=3,
                           lr=1e-2, layers=None, registry=registry)
    return registry, result


def test_training_writes_a_versioned_lora_specialist(trained: tuple[Registry, object]) -> None:
    registry, result = trained
    meta = registry.meta("tinyorders")
    assert meta.version == result.version and meta.task == "extract" and meta.method == "lora"
    assert (Path(result.path) / ADAPTER_FILE).is_file()
    hp = meta.hyperparameters
    assert hp["steps"] == 4 and hp["final_loss"] < hp["first_loss"]
    # The rows' prompts share the system message: trained once per batch, not once per row.
    assert hp["shared_prefix_tokens"] > 10
    for key in ("schema_valid", "exact_fields", "exact_match"):
        assert 0.0 <= result.metrics[key] <= 1.0 and key in result.metrics["base"]
    # The report says which fields fail and shows the wrong answers.
    assert set(result.metrics["per_field"]) == {"name", "age"}
    assert len(result.metrics["mistakes"]) == min(10, round((1 - result.metrics["exact_match"]) * len(ROWS)))
    assert meta.data.rows == len(ROWS) and len(meta.data.sha256) == 64


def test_the_base_agent_serves_the_specialist_adapter(trained: tuple[Registry, object], tiny_gguf: Path) -> None:
    spec = AgentSpec(name="tinybase", model=str(tiny_gguf), tasks=["extract"], adapters=["specialist:tinyorders"],
                     generation={"max_new_tokens": 24})
    runner = ModelRunner(spec).load()
    assert runner.info()["adapters"] == ["tinyorders"]
    schema = infer_schema([r["output"] for r in ROWS])
    [with_adapter] = runner.run_batch("extract", [{"text": "Al is 3.", "json_schema": schema, "adapter": "tinyorders"}])
    [without] = runner.run_batch("extract", [{"text": "Al is 3.", "json_schema": schema}])
    raw = [getattr(r, "raw", None) for r in (with_adapter, without)]
    assert raw[0] != raw[1], "the adapter must change what the model writes"
    if isinstance(with_adapter, ExtractResponse):
        assert set(with_adapter.data) == {"name", "age"}

    # Every training answer copied its input, so the specialist is served extractive unless
    # a request says otherwise.
    registry, _ = trained
    assert registry.meta("tinyorders").hyperparameters["extractive"] is True
    ask = ExtractRequest(text="Al is 3.", json_schema=schema, adapter="tinyorders")
    assert use_spans(runner.engine, ask)
    assert not use_spans(runner.engine, ask.model_copy(update={"extractive": False}))
    assert not use_spans(runner.engine, ask.model_copy(update={"adapter": None}))
    names = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
             "additionalProperties": False}
    [named] = runner.run_batch("extract", [{"text": "Al is 3.", "json_schema": names, "adapter": "tinyorders"}])
    assert isinstance(named, ExtractResponse) and named.data["name"] in spans("Al is 3."), named


def test_rows_are_checked_with_the_line_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "output": {"x": 1}}\n{"text": "b"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        load_rows(bad, "extract")
    chat = tmp_path / "chat.jsonl"
    chat.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(DataError, match="ending with the assistant"):
        load_rows(chat, "chat")


def test_answers_are_written_as_the_grammar_writes_them() -> None:
    assert compact({"name": "Al", "tags": ["a", "b"]}) == '{"name": "Al", "tags": ["a", "b"]}'
    schema = infer_schema([{"a": 1, "b": "x"}, {"a": 2.5, "b": None}])
    assert schema["required"] == ["a", "b"] and schema["additionalProperties"] is False
    assert schema["properties"]["a"]["type"] == ["integer", "number"]


def test_slmflow_train_extract_prints_the_report_as_json(tiny_gguf: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from agents.specialists.cli import train

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    result = CliRunner().invoke(train, ["tinycli", "--task", "extract", "--base", str(tiny_gguf), "--data", str(data),
                                        "--epochs", "1", "--no-extractive", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["name"] == "tinycli" and report["version"] >= 1
    assert {"schema_valid", "exact_fields", "base"} <= set(report["metrics"])
    # The rows copy their input, so only the flag keeps this one from being served extractive.
    assert report["metrics"]["extractive"] is False


def test_shared_prefix_leaves_every_prompt_its_last_token() -> None:
    assert shared_prefix([([1, 2, 3, 4], [9]), ([1, 2, 5], [9]), ([1, 2, 3, 7, 8], [9])]) == 2
    assert shared_prefix([([1, 2, 3], [9]), ([1, 2, 3], [8])]) == 2
    assert shared_prefix([([4, 2], [9]), ([1, 2], [9])]) == 0


def test_a_shared_prefix_gives_the_loss_and_gradients_of_whole_sequences(tiny_llm_dir: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                             init_lora_weights=False))
    model.train()
    prefix = [5, 9, 11, 3, 7, 8, 2, 1, 4]
    batch = [([*prefix, 12, 13], [20, 21, 22]), ([*prefix, 14], [23, 24]), ([*prefix, 15, 16, 17], [25])]
    shared = shared_prefix(batch)
    assert shared == len(prefix)
    out = []
    for n in (0, shared):
        model.zero_grad()
        loss = _batch_loss(model, batch, n, pad=0)
        loss.backward()
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])
        out.append((float(loss.detach()), grads))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-5)
    assert float(out[0][1].abs().max()) > 0
    torch.testing.assert_close(out[0][1], out[1][1], atol=1e-5, rtol=1e-4)


def test_value_starts_are_the_first_tokens_of_string_values(tiny_llm_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llm_dir)
    text = compact({"name": "Al Bo", "id": "A1", "n": 3, "tags": ["x y", " z"], "empty": "", "q": 'say "hi"'})
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    got = [enc["offset_mapping"][k][0] for k in value_starts(text, enc["offset_mapping"])]
    # Values, not keys; not the one that starts with a space, not the empty one.
    want = [text.index(v) for v in ('Al Bo"', 'A1"', 'x y"', 'say \\"')]
    # A value whose first character shares a token with its opening quote has no own start token.
    assert set(got) <= set(want) and len(got) >= 3, (got, want)
    spaces = set(space_token_ids(tok))
    assert spaces and all(tok.decode([i])[:1].isspace() for i in spaces)
    assert not any(tok.decode([i])[:1].isspace() for i in range(len(tok)) if i not in spaces)


def test_the_space_penalty_adds_the_unlikelihood_of_a_leading_space(tiny_llm_dir: Path) -> None:
    """The loss with ``space_weight`` is cross-entropy plus -log(1 - p(space token)) at the
    value starts, and a step on it makes a leading space less likely there."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                             init_lora_weights=False))
    prefix = [5, 9, 11, 3, 7, 8, 2, 1, 4]
    batch = [([*prefix, 12, 13], [20, 21, 22]), ([*prefix, 14], [23, 24])]
    starts = [[1, 2], [1]]
    space = torch.tensor([30, 31, 32, 33])

    def p_space() -> torch.Tensor:
        with torch.no_grad():
            rows = [([*p, *a], len(p)) for p, a in batch]
            probs = []
            for (ids, n), ks in zip(rows, starts, strict=True):
                logits = model(input_ids=torch.tensor([ids])).logits[0]
                probs += [torch.softmax(logits[n + k - 1], -1)[space].sum() for k in ks]
            return torch.stack(probs)

    shared = shared_prefix(batch)
    plain = _batch_loss(model, batch, shared, 0)
    with_penalty = _batch_loss(model, batch, shared, 0, starts, space, 2.0)
    before = p_space()
    assert float(with_penalty) == pytest.approx(float(plain) + 2.0 * float(-torch.log1p(-before).mean()), rel=1e-4)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    (with_penalty - plain).backward()
    opt.step()
    assert float(p_space().sum()) < float(before.sum())
