"""Q4_1 weights split into Q4_0 blocks plus offsets (`agents.models.q4_split`): the same
weights exactly, on random blocks and on the tiny real GGUF served by llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize, quantize

from agents.models.q4_split import block_sums, offsets, q4_0_part, split_q4_1
from agents.runtime import ModelRunner
from tests.agents.test_llama_cpp_engine import gguf_spec

MESSAGES = [{"role": "user", "content": "the quick brown fox"}]
LABELS = ["refund", "order", "spam", "hello world"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLMFLOW_CACHE", str(tmp_path))
    return tmp_path


def test_q4_0_blocks_plus_offsets_are_the_q4_1_weights() -> None:
    rng = np.random.default_rng(0)
    # Weights that span zero, and blocks that are all positive (a minimum above zero).
    weights = np.concatenate([rng.normal(size=(8, 128)), rng.uniform(0.5, 2.0, size=(8, 128))]).astype(np.float32)
    raw = quantize(weights, Q.Q4_1)
    blocks = raw.reshape(len(weights), -1, 20)
    w0 = dequantize(q4_0_part(blocks), Q.Q4_0)
    c = offsets(blocks)
    exact = dequantize(raw, Q.Q4_1)
    np.testing.assert_allclose(w0 + np.repeat(c, 32, axis=1), exact, rtol=1e-6, atol=1e-7)
    # As llama.cpp computes it: the Q4_0 product plus the low-rank offset term.
    x = rng.normal(size=128).astype(np.float32)
    np.testing.assert_allclose(w0 @ x + c @ (block_sums(4) @ x), exact @ x, rtol=1e-5, atol=1e-5)


def test_split_files_hold_q4_0_blocks_and_an_offsets_adapter(tiny_q4_1_gguf: Path, cache: Path) -> None:
    split = split_q4_1(tiny_q4_1_gguf)
    assert split is not None and split.model.is_relative_to(cache)
    source = {t.name: t for t in GGUFReader(tiny_q4_1_gguf).tensors}
    model = {t.name: t for t in GGUFReader(split.model).tensors}
    lora = {t.name: t for t in GGUFReader(split.offsets).tensors}
    assert source.keys() == model.keys()
    matrices = [n for n, t in source.items() if t.tensor_type == Q.Q4_1]
    assert len(matrices) == 14  # 7 per layer, 2 layers
    for name, t in model.items():
        if name in matrices:
            assert t.tensor_type == Q.Q4_0
            rows = t.data.shape[0]
            restored = dequantize(t.data, Q.Q4_0) + np.repeat(np.asarray(lora[f"{name}.lora_b"].data), 32, axis=1)
            np.testing.assert_allclose(restored, dequantize(source[name].data, Q.Q4_1).reshape(rows, -1),
                                       rtol=1e-6, atol=1e-7)
        else:
            assert t.tensor_type == source[name].tensor_type and np.array_equal(t.data, source[name].data), name
    assert set(lora) == {f"{n}.lora_{ab}" for n in matrices for ab in "ab"}
    assert GGUFReader(split.offsets).fields["general.type"].contents() == "adapter"
    stamp = split.model.stat().st_mtime_ns
    assert split_q4_1(tiny_q4_1_gguf) == split and split.model.stat().st_mtime_ns == stamp


def test_files_without_q4_1_or_of_other_architectures_are_not_split(tiny_gguf: Path, tiny_q4_1_gguf: Path,
                                                                     cache: Path, tmp_path: Path) -> None:
    assert split_q4_1(tiny_gguf) is None  # f32
    other = tmp_path / "other-arch.gguf"
    reader = GGUFReader(tiny_q4_1_gguf)
    writer = GGUFWriter(other, "qwen2")
    for t in reader.tensors:
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert split_q4_1(other) is None
    assert not (cache / "gguf-q4-split").exists()


def scores(spec_path: Path, **over: object) -> tuple[list[float], ModelRunner]:
    runner = ModelRunner(gguf_spec(spec_path, **over)).load()
    return runner.engine.label_logprobs(MESSAGES, LABELS)[0], runner


def test_the_engine_serves_the_split_and_it_scores_as_the_q4_1_file(tiny_q4_1_gguf: Path, cache: Path) -> None:
    native, runner = scores(tiny_q4_1_gguf, split_q4_1=False)
    assert runner.info()["q4_1_split"] is False and runner.engine.path == tiny_q4_1_gguf
    runner.engine.close()
    served, runner = scores(tiny_q4_1_gguf)
    split = split_q4_1(tiny_q4_1_gguf)
    assert split is not None and runner.engine.path == split.model and runner.info()["q4_1_split"] is True
    [out] = runner.run_batch("generate", [{"prompt": "The quick brown", "max_new_tokens": 6}])
    assert out.usage.tokens_out == 6
    runner.engine.close()
    # The Q4_0 blocks without their offsets: a different model, which the comparison tells apart.
    alone, runner = scores(split.model, split_q4_1=False)
    runner.engine.close()
    gap = max(abs(a - b) for a, b in zip(alone, native, strict=True))
    assert gap > 0.01
    assert max(abs(a - b) for a, b in zip(served, native, strict=True)) < gap / 20


def first_tokens(runner: ModelRunner, adapter: str | None, slot: int = 0) -> list[tuple[int, float]]:
    """The greedy next token and its log-probability after a few prompts, with ``adapter``.
    (Texts are too coarse: two exact computations of one model still round differently, and
    greedy text drifts apart after a near-tie.)"""
    from agents.engines.base import Job

    out = []
    for prompt in ("The quick brown", "Hello there", "Order A1"):
        body = runner.engine._body(Job(prompt=prompt, max_new_tokens=1, adapter=adapter))
        # Letters only: a random tiny model's greedy token may be a partial UTF-8 byte, whose
        # log-probability llama.cpp withholds.
        resp = runner.engine._call({**body, "n_probs": 1, "grammar": "root ::= [a-zA-Z ]+"}, slot)
        [token] = resp["choices"][0]["logprobs"]["content"]
        out.append((token["id"], token["logprob"]))
    return out


def test_adapters_and_the_lane_apply_on_top_of_the_offsets(tiny_q4_1_gguf: Path, tiny_loras: dict[str, Path],
                                                           cache: Path) -> None:
    adapters = [str(p) for p in tiny_loras.values()]
    lane = {"max_batch_size": 2, "express_slots": 2, "express_threads": 1}
    seen = {}
    for split in (False, True):
        runner = ModelRunner(gguf_spec(tiny_q4_1_gguf, adapters=adapters, split_q4_1=split, batching=lane)).load()
        assert runner.info()["q4_1_split"] is split and runner.engine._lane is not None
        # Slot 0 is the main context's, slot 2 the lane's.
        seen[split] = {(a, slot): first_tokens(runner, a, slot) for a in (None, "invoice", "support") for slot in (0, 2)}
        runner.engine.close()
    assert len({str(v) for (a, slot), v in seen[True].items() if slot == 0}) == 3, "each adapter changes the model"
    for key, native in seen[False].items():
        for (token, lp), (split_token, split_lp) in zip(native, seen[True][key], strict=True):
            # Q4_0 and Q4_1 kernels quantize activations differently (Q8_0 vs Q8_1 rows).
            assert token == split_token and abs(lp - split_lp) < 3e-2, key
