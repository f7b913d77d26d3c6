"""LoRA specialists on a tiny real GGUF: train (PEFT on the transformers copy), write the GGUF
LoRA into a registry version, serve it from the base agent's `adapters`, refuse bad data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.protocol import ExtractResponse
from agents.runtime import ModelRunner
from agents.spec import AgentSpec
from agents.specialists.adapters import ADAPTER_FILE, compact, infer_schema, load_rows, train_adapter
from agents.specialists.data import DataError
from agents.specialists.registry import Registry

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
    for key in ("schema_valid", "exact_fields", "exact_match"):
        assert 0.0 <= result.metrics[key] <= 1.0 and key in result.metrics["base"]
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
                                        "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["name"] == "tinycli" and report["version"] >= 1
    assert {"schema_valid", "exact_fields", "base"} <= set(report["metrics"])
