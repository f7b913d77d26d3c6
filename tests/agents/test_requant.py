"""GGUF files re-quantised to Q4_0 for llama.cpp's batched kernels (`agents.models.requant`),
on the tiny real GGUF a fixture writes, and on random weights for the block format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader
from gguf.quants import dequantize, quantize

from agents.models.requant import q4_0_blocks, requantized
from agents.protocol import GenerateResponse
from agents.runtime import ModelRunner
from tests.agents.test_llama_cpp_engine import gguf_spec


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLMFLOW_CACHE", str(tmp_path))
    return tmp_path


def test_block_matrices_become_q4_0_and_everything_else_is_copied_as_it_was(tiny_gguf: Path, cache: Path) -> None:
    copy = requantized(tiny_gguf)
    assert copy.is_relative_to(cache)
    source = {t.name: t for t in GGUFReader(tiny_gguf).tensors}
    target = {t.name: t for t in GGUFReader(copy).tensors}
    assert source.keys() == target.keys()
    converted = [n for n, t in source.items() if n.startswith("blk.") and len(t.shape) == 2]
    assert converted, "the tiny model has block matrices"
    for name, t in target.items():
        if name in converted:
            assert t.tensor_type == Q.Q4_0, name
            original = source[name].data.astype(np.float32)
            error = np.linalg.norm(dequantize(t.data, Q.Q4_0) - original) / np.linalg.norm(original)
            assert error < 0.15, (name, error)
        else:
            assert t.tensor_type == source[name].tensor_type and np.array_equal(t.data, source[name].data), name
    fields = GGUFReader(copy).fields
    assert fields["tokenizer.ggml.tokens"].contents() == GGUFReader(tiny_gguf).fields["tokenizer.ggml.tokens"].contents()
    # Found again, not rewritten.
    stamp = copy.stat().st_mtime_ns
    assert requantized(tiny_gguf) == copy and copy.stat().st_mtime_ns == stamp


def test_searched_scales_err_less_than_llama_cpp_reference_rounding_and_clip_no_peak() -> None:
    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(64, 256)).astype(np.float32)
    ours = dequantize(q4_0_blocks(gaussian), Q.Q4_0)
    reference = dequantize(quantize(gaussian, Q.Q4_0), Q.Q4_0)
    assert ((ours - gaussian) ** 2).sum() < 0.97 * ((reference - gaussian) ** 2).sum()
    # Heavy-tailed blocks: the largest weight of every block survives within half a step.
    heavy = rng.standard_t(2, size=(64, 256)).astype(np.float32)
    blocks = q4_0_blocks(heavy).reshape(-1, 18)
    step = np.abs(blocks[:, :2].copy().view(np.float16).astype(np.float32)[:, 0])
    values = heavy.reshape(-1, 32)
    peak = np.abs(values).argmax(axis=1)
    rows = np.arange(len(values))
    error = np.abs(dequantize(q4_0_blocks(heavy), Q.Q4_0).reshape(-1, 32)[rows, peak] - values[rows, peak])
    assert (error <= step / 2 + 1e-6).all()
    assert q4_0_blocks(heavy).shape == (64, 256 // 32 * 18)


def test_the_engine_serves_the_q4_0_copy(tiny_gguf: Path, cache: Path) -> None:
    runner = ModelRunner(gguf_spec(tiny_gguf, requantize="q4_0")).load()
    try:
        assert runner.engine.path == requantized(tiny_gguf)
        # Block matrices shrink ~7x (f32 -> 4.5 bits); the tiny model is mostly its f32 embeddings.
        assert runner.info()["weight_bytes"] < 0.6 * tiny_gguf.stat().st_size
        [out] = runner.run_batch("generate", [{"prompt": "The quick brown", "max_new_tokens": 6}])
        assert isinstance(out, GenerateResponse) and out.usage.tokens_out == 6
    finally:
        runner.engine.close()


def test_requantize_is_refused_off_llama_cpp(tiny_gguf: Path) -> None:
    with pytest.raises(ValueError, match="requantize is for the llama_cpp engine"):
        gguf_spec(tiny_gguf, engine="transformers", requantize="q4_0")
    with pytest.raises(ValueError, match="requantize"):
        gguf_spec(tiny_gguf, requantize="q2_k")


def test_an_adapter_trains_on_the_weights_its_base_agent_serves(tiny_gguf: Path, cache: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from agents.models.cache import cached_conversion
    from agents.spec import FleetSpec
    from agents.specialists.adapters import resolve_gguf_base, train_adapter
    from agents.specialists.registry import Registry

    fleet = FleetSpec(agents=[{"name": "tinybase", "model": str(tiny_gguf), "tasks": ["extract"],
                               "requantize": "q4_0"}])
    base = resolve_gguf_base("tinybase", fleet)
    assert base.requantize == "q4_0" and base.weights() == str(requantized(tiny_gguf))
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(f'{{"text": "{n} is {a}.", "output": {{"name": "{n}", "age": {a}}}}}\n'
                            for n, a in [("Al", 3), ("Bo", 4), ("Cy", 5)] * 2))
    result = train_adapter("tinyq4", task="extract", base="tinybase", fleet=fleet, data=data, epochs=1,
                           batch_size=3, layers=None, registry=Registry(tmp_path / "specialists"))
    assert result.meta.hyperparameters["base_requantize"] == "q4_0"
    # Training loaded the Q4_0 copy (its transformers conversion is cached), not the f32 file.
    assert cached_conversion(requantized(tiny_gguf)) is not None
    assert cached_conversion(tiny_gguf) is None
    # Served on other weights than it learnt on, the adapter loads with a warning that says so.
    adapter = str(Path(result.path) / "adapter.gguf")
    for requantize, warned in ((None, True), ("q4_0", False)):
        capsys.readouterr()
        runner = ModelRunner(gguf_spec(tiny_gguf, adapters=[adapter], requantize=requantize)).load()
        runner.engine.close()
        assert ("adapter_trained_on_other_weights" in capsys.readouterr().err) == warned, requantize
