"""GGUF files re-quantised to Q4_0 for llama.cpp's batched CPU kernels, cached on disk.

llama.cpp repacks Q4_0 weights at load into the interleaved layout its x86 and ARM GEMM
kernels read, so a decode step of several sequences (continuous batching) costs far less per
sequence. Q4_1, the type of the shipped SmolLM2 file, has no such kernel here: a step of 4
sequences costs about 2.5x a step of one, against 1.8x on Q4_0 (RESULTS.md, "Q4_0 weights").

``requantized(path)`` writes a copy whose block weight matrices (``blk.*``) are Q4_0, every
other tensor (embeddings, norms, a tied output) byte for byte as it was. Each 32-value
block's scale is searched for the least squared error against the source's values, among
scales no smaller than llama.cpp's own (max/-8), so no block's largest weight is clipped. The
copy is a different model (a second 4-bit rounding): agents opt in with ``requantize``, and
LoRA specialists train on the copy's weights. It is written once under ``$SLMFLOW_CACHE``
(atomically: replicas may load at once) and found again by the source's path, size and mtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import structlog

from agents.models.cache import cache_root, file_digest
from agents.models.gguf_copy import cached_file, write_copy

log = structlog.get_logger("agents.models.requant")

QUANTS = ("q4_0",)
_BLOCK = 32
# Candidate scales as fractions of llama.cpp's max/-8. Never below 1: a smaller scale clips the
# block's largest weight, and on SmolLM2 clipping outliers cost more (KL divergence from the
# source model) than the squared error it saved.
_SCALES = np.linspace(1.0, 1.2, 17)


def requantized_path(source: Path, quant: str = "q4_0") -> Path:
    """Where the ``quant`` copy of ``source`` is cached (keyed by path, size and mtime)."""
    return cache_root() / "gguf-requant" / f"{source.stem}-{file_digest(source, quant)}.{quant.upper()}.gguf"


def requantized(source: Path, quant: str = "q4_0") -> Path:
    """The cached ``quant`` copy of the GGUF file ``source``, written first if missing."""
    if quant not in QUANTS:
        raise ValueError(f"unknown requantization {quant!r}; known: {', '.join(QUANTS)}")
    final = requantized_path(source, quant)
    if final.is_file():
        return final
    log.info("gguf_requantize_start", gguf=str(source), cache=str(final), quant=quant)
    cached_file(final, lambda tmp: _write_q4_0(source, tmp))
    log.info("gguf_requantize_done", cache=str(final))
    return final


def _convertible(tensor: Any) -> bool:
    from gguf import GGMLQuantizationType as Q

    return (tensor.name.startswith("blk.") and len(tensor.shape) == 2 and int(tensor.shape[0]) % _BLOCK == 0
            and tensor.tensor_type in (Q.F32, Q.F16, Q.BF16, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0))


def _write_q4_0(source: Path, target: Path) -> None:
    import gguf
    from gguf import GGMLQuantizationType as Q
    from gguf.quants import dequantize

    def rewrite(tensor: Any) -> tuple[np.ndarray, Any] | None:
        if not _convertible(tensor):
            return None
        return q4_0_blocks(dequantize(tensor.data, tensor.tensor_type)), Q.Q4_0

    write_copy(source, target, rewrite, gguf.LlamaFileType.MOSTLY_Q4_0)


def q4_0_blocks(weights: np.ndarray) -> np.ndarray:
    """``weights`` (rows, cols) as Q4_0 blocks (rows, cols / 32 * 18 bytes), each with its searched scale."""
    rows, cols = weights.shape
    b = weights.reshape(-1, _BLOCK).astype(np.float32)
    peak = b[np.arange(len(b)), np.abs(b).argmax(axis=1)]
    d = _best_scale(b, peak / -8.0, _SCALES)
    q = (np.clip(np.round(b * _inverse(d)[:, None]), -8, 7) + 8).astype(np.uint8)
    # Q4_0 block: fp16 scale, then values 0-15 in the low nibbles and 16-31 in the high ones.
    nibbles = q[:, :16] | (q[:, 16:] << 4)
    blocks = np.concatenate([d.astype(np.float16).view(np.uint8).reshape(-1, 2), nibbles], axis=1)
    return blocks.reshape(rows, cols // _BLOCK * 18)


def _best_scale(b: np.ndarray, around: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Per block, the scale among ``around * fractions`` with the least squared error."""
    best_err = best_d = None
    for f in fractions:
        # Scales are stored as fp16; search over the values the file can hold.
        d = (around * f).astype(np.float16).astype(np.float32)
        q = np.clip(np.round(b * _inverse(d)[:, None]), -8, 7)
        err = ((q * d[:, None] - b) ** 2).sum(axis=1)
        if best_err is None or best_d is None:
            best_err, best_d = err, d
        else:
            better = err < best_err
            best_err, best_d = np.where(better, err, best_err), np.where(better, d, best_d)
    assert best_d is not None
    return best_d


def _inverse(d: np.ndarray) -> np.ndarray:
    return np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
