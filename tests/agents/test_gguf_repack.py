"""``gguf_repack: q8_0``: a GGUF's sub-8-bit weights rewritten once as Q8_0 and served by
llama.cpp (tiny real GGUF written by a fixture; no Ray)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
from pydantic import ValidationError

from agents.models.repack import repack_gguf, rewrite_gguf
from agents.protocol import GenerateResponse
from agents.runtime import ModelRunner
from agents.spec import AgentSpec

Q = gguf.GGMLQuantizationType


@pytest.fixture(scope="module")
def q4_1_gguf(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama with its matrices in Q4_1, as the shipped SmolLM2 file has them."""
    out = tmp_path_factory.mktemp("q4_1") / "tiny-llama.q4_1.gguf"
    rewrite_gguf(tiny_gguf, out, Q.Q4_1, lambda kind, shape: len(shape) == 2 and shape[0] % 32 == 0)
    assert Q.Q4_1 in {t.tensor_type for t in gguf.GGUFReader(str(out)).tensors}
    return out


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLMFLOW_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_repack_rewrites_sub_8_bit_tensors_as_q8_0_and_keeps_everything_else(q4_1_gguf: Path, cache: Path) -> None:
    out = repack_gguf(q4_1_gguf)
    assert out.is_relative_to(cache)
    before, after = gguf.GGUFReader(str(q4_1_gguf)), gguf.GGUFReader(str(out))
    assert [f.name for f in before.fields.values()] == [f.name for f in after.fields.values()]
    for name in ("tokenizer.chat_template", "llama.block_count", "tokenizer.ggml.tokens"):
        assert before.fields[name].contents() == after.fields[name].contents()
    old = {t.name: t for t in before.tensors}
    for t in after.tensors:
        was = old[t.name]
        assert t.tensor_type == (Q.Q8_0 if was.tensor_type == Q.Q4_1 else was.tensor_type)
        a = gguf.quants.dequantize(was.data, was.tensor_type)
        b = gguf.quants.dequantize(t.data, t.tensor_type)
        # Q8_0 holds each value to within half a step of 1/127 of its block's largest one.
        assert np.abs(a - b).max() <= np.abs(a).max() / 127 + 1e-6, t.name


def test_the_repacked_file_is_written_once(q4_1_gguf: Path, cache: Path) -> None:
    first = repack_gguf(q4_1_gguf)
    stamp = first.stat().st_mtime_ns
    assert repack_gguf(q4_1_gguf) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp file left


def test_llama_cpp_serves_the_repacked_weights(q4_1_gguf: Path, cache: Path) -> None:
    spec = AgentSpec(name="tiny", model=str(q4_1_gguf), tasks=["generate"], device="cpu", gguf_repack="q8_0",
                     generation={"max_new_tokens": 6})
    runner = ModelRunner(spec).load()
    [out] = runner.run_batch("generate", [{"prompt": "Hello there", "temperature": 0.0}])
    assert isinstance(out, GenerateResponse) and out.usage.tokens_out > 0
    info = runner.info()
    assert info["dtype"] == "gguf, repacked as q8_0"
    assert info["weight_bytes"] == repack_gguf(q4_1_gguf).stat().st_size > q4_1_gguf.stat().st_size


def test_repack_is_refused_where_the_engine_is_not_llama_cpp(tiny_gguf: Path) -> None:
    with pytest.raises(ValidationError, match="gguf_repack is for the llama_cpp engine"):
        AgentSpec(name="tiny", model=str(tiny_gguf), tasks=["generate"], engine="transformers", gguf_repack="q8_0")
