"""Q4_1 weights served exactly, on llama.cpp's batched Q4_0 kernels: Q4_0 blocks plus offsets.

A Q4_1 block of 32 weights stores a scale ``d``, a minimum ``m`` and 4-bit values ``q``:
``w = d*q + m``. That is ``d*(q - 8)``, a Q4_0 block with the same ``d`` and nibbles, plus
a constant ``c = m + 8*d`` for the whole block. So ``W @ x = W0 @ x + C @ S @ x``, where ``W0``
is the Q4_0 matrix, ``S`` sums ``x`` over each block of 32 columns and ``C`` holds the
blocks' constants: a low-rank term (rank = columns / 32), which llama.cpp applies as a LoRA
adapter (``lora_a = S``, ``lora_b = C``, in f32: ``m + 8*d`` of two fp16 numbers is exact).

llama.cpp repacks Q4_0 for its x86/ARM GEMM kernels, and has no such kernel for Q4_1, so a
decode step of several sequences costs much less on the split model, while its weights are
the source's own (RESULTS.md, "Q4_1 split"). The adapter is applied on every request.

Only architectures whose every block matrix llama.cpp multiplies through its LoRA path are
split (a matrix it multiplied without would silently lose its offsets); others are served
as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from agents.models.cache import cache_root, file_digest
from agents.models.gguf_copy import architecture, cached_file, write_copy, write_out

log = structlog.get_logger("agents.models.q4_split")

_BLOCK = 32
_Q4_1_BYTES = 20  # fp16 d, fp16 m, 16 bytes of nibbles
# Checked against the unsplit file (tests/agents/test_q4_split.py, RESULTS.md).
ARCHITECTURES = frozenset({"llama"})
_MATRICES = frozenset({"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"})


@dataclass(frozen=True)
class SplitWeights:
    """The Q4_0 model file and the offsets adapter that together hold the source's weights."""

    model: Path
    offsets: Path


def split_q4_1(source: Path) -> SplitWeights | None:
    """The cached split of the GGUF file ``source``, written first if missing; None when it
    has no Q4_1 block matrix or its architecture is not one llama.cpp applies LoRA to throughout."""
    import gguf

    reader = gguf.GGUFReader(source)
    arch = architecture(reader)
    if not any(_splittable(t) for t in reader.tensors):
        return None
    if arch not in ARCHITECTURES:
        log.info("q4_1_split_skipped", gguf=str(source), architecture=arch, split_for=sorted(ARCHITECTURES))
        return None
    key = file_digest(source, "q4_1-split")
    folder = cache_root() / "gguf-q4-split"
    split = SplitWeights(folder / f"{source.stem}-{key}.Q4_0.gguf", folder / f"{source.stem}-{key}.offsets.gguf")
    if split.model.is_file() and split.offsets.is_file():
        return split
    log.info("q4_1_split_start", gguf=str(source), cache=str(folder))
    # The offsets first: the model file's presence says both are complete.
    cached_file(split.offsets, lambda tmp: _write_offsets(reader, arch, tmp))
    cached_file(split.model, lambda tmp: _write_model(source, tmp))
    log.info("q4_1_split_done", model=str(split.model), offsets=str(split.offsets))
    return split


def _splittable(tensor: Any) -> bool:
    from gguf import GGMLQuantizationType as Q

    parts = tensor.name.split(".")
    return (tensor.tensor_type == Q.Q4_1 and len(parts) == 4 and parts[0] == "blk" and parts[2] in _MATRICES
            and len(tensor.shape) == 2)


def _blocks(tensor: Any) -> np.ndarray:
    """A Q4_1 tensor's raw bytes as (rows, blocks, 20)."""
    rows = tensor.data.shape[0]
    return tensor.data.reshape(rows, -1, _Q4_1_BYTES)


def q4_0_part(blocks: np.ndarray) -> np.ndarray:
    """Q4_1 blocks (rows, blocks, 20 bytes) without their minimum: Q4_0 blocks (rows, blocks * 18 bytes)."""
    rows = blocks.shape[0]
    return np.ascontiguousarray(np.concatenate([blocks[:, :, 0:2], blocks[:, :, 4:]], axis=2).reshape(rows, -1))


def offsets(blocks: np.ndarray) -> np.ndarray:
    """Each block's constant ``m + 8*d`` (rows, blocks), in f32."""
    d = blocks[:, :, 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    m = blocks[:, :, 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    return m + 8.0 * d


def block_sums(n_blocks: int) -> np.ndarray:
    """The (blocks, blocks * 32) matrix that sums a vector over each block of 32."""
    return np.kron(np.eye(n_blocks, dtype=np.float32), np.ones((1, _BLOCK), dtype=np.float32))


def _write_model(source: Path, target: Path) -> None:
    import gguf
    from gguf import GGMLQuantizationType as Q

    def rewrite(tensor: Any) -> tuple[np.ndarray, Any] | None:
        return (q4_0_part(_blocks(tensor)), Q.Q4_0) if _splittable(tensor) else None

    write_copy(source, target, rewrite, gguf.LlamaFileType.MOSTLY_Q4_0)


def _write_offsets(reader: Any, arch: str, target: Path) -> None:
    import gguf

    writer = gguf.GGUFWriter(target, arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    # No alpha: llama.cpp then scales the adapter by the request's scale alone (1), not by alpha/rank.
    writer.add_float32("adapter.lora.alpha", 0.0)
    for tensor in reader.tensors:
        if _splittable(tensor):
            c = offsets(_blocks(tensor))
            writer.add_tensor(f"{tensor.name}.lora_a", block_sums(c.shape[1]))
            writer.add_tensor(f"{tensor.name}.lora_b", np.ascontiguousarray(c))
    write_out(writer)
