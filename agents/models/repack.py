"""GGUF weights rewritten as Q8_0, once, for CPUs where prompt processing is the bottleneck.

llama.cpp's CPU build multiplies a batch of prompt tokens with a fast GEMM only for some
weight types (F32, F16, Q8_0, Q4_0 and a few more on AVX2). Q4_1, the type of the shipped
SmolLM2 file, falls back to per-row dot products: prefill ran at ~245 tokens/s on 2 threads,
against ~375 for the same weights as Q8_0 (RESULTS.md). Q8_0 holds every Q4_1 value to
within 1/254 of its block's largest weight, so the model is the same up to rounding far
below its own quantisation error; the file is ~1.7x larger and single-sequence decoding
is somewhat slower, so this is an opt-in (``gguf_repack: q8_0``) for prompt-heavy agents.

The rewritten file is cached under ``$SLMFLOW_CACHE/gguf-repack`` keyed by the source's
path, size and mtime, and written atomically (several replicas may load at once).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import structlog

from agents.models.cache import cache_root, gguf_cache_dir

log = structlog.get_logger("agents.models.repack")

RepackTarget = Literal["q8_0"]


def repacked_path(gguf_path: Path, to: RepackTarget = "q8_0") -> Path:
    return cache_root() / "gguf-repack" / f"{gguf_cache_dir(gguf_path).name}.{to}.gguf"


def repack_gguf(gguf_path: Path, to: RepackTarget = "q8_0") -> Path:
    """``gguf_path`` with every tensor quantised below 8 bits rewritten as Q8_0; the cached
    copy if there is one. Float tensors and Q8_0 ones are copied as they are."""
    import gguf

    final = repacked_path(gguf_path, to)
    if final.is_file():
        return final
    types = gguf.GGMLQuantizationType
    floats = {types.F32, types.F16, types.BF16}
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}-", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    log.info("gguf_repack_start", gguf=str(gguf_path), to=to, cache=str(final))
    try:
        rewrite_gguf(gguf_path, tmp, types.Q8_0, lambda kind, _shape: kind not in floats | {types.Q8_0})
        # Same content whoever wins a race, so replacing is safe.
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("gguf_repack_done", cache=str(final), bytes=final.stat().st_size)
    return final


def rewrite_gguf(src: Path, dst: Path, target: Any, convert: Callable[[Any, tuple[int, ...]], bool]) -> None:
    """Copy the GGUF ``src`` to ``dst``: metadata as it is, each tensor for which
    ``convert(type, shape)`` holds re-quantised as ``target``, the others as they are."""
    import gguf

    reader = gguf.GGUFReader(str(src))
    arch = bytes(reader.fields[gguf.Keys.General.ARCHITECTURE].parts[-1]).decode()
    writer = gguf.GGUFWriter(str(dst), arch)
    for field in reader.fields.values():
        # The writer adds the architecture and the GGUF.* header fields itself.
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    for tensor in reader.tensors:
        if not convert(tensor.tensor_type, tuple(int(n) for n in tensor.shape)):
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
            continue
        try:
            values = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
            packed = gguf.quants.quantize(values, target)
        except (NotImplementedError, ValueError) as exc:
            raise ValueError(f"cannot convert tensor {tensor.name} of {src.name} from "
                             f"{tensor.tensor_type.name} to {target.name}: {exc}") from exc
        writer.add_tensor(tensor.name, packed, raw_dtype=target)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


__all__ = ["RepackTarget", "repack_gguf", "repacked_path", "rewrite_gguf"]
