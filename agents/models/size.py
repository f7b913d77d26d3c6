"""Weight sizes read from file headers, without loading a model (for ``num_gpus: auto``)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from agents.errors import SpecError

if TYPE_CHECKING:
    from agents.spec import AgentSpec

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
_ST_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def _safetensors_params(path: Path) -> tuple[int, int]:
    """(parameter count, bytes as stored) from a safetensors header."""
    with path.open("rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    params = stored = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for d in meta["shape"]:
            count *= d
        params += count
        stored += count * _ST_BYTES.get(meta["dtype"], 4)
    return params, stored


def _gguf_params(path: Path) -> int:
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return sum(int(t.n_elements) for t in reader.tensors)


def count_parameters(folder: Path, gguf_file: str | None = None) -> tuple[int, int] | None:
    """(parameters, bytes on disk as stored) for a local model, or None if unknown."""
    if gguf_file is not None:
        params = _gguf_params(folder / gguf_file)
        return params, (folder / gguf_file).stat().st_size
    files = sorted(folder.glob("*.safetensors"))
    if files:
        totals = [_safetensors_params(f) for f in files]
        return sum(p for p, _ in totals), sum(b for _, b in totals)
    return None


def estimate_weight_bytes(spec: AgentSpec, device_has_gpu: bool = True) -> int:
    """Bytes the weights take once loaded in the spec's dtype (GPU: auto = 16-bit)."""
    src = spec.source()
    per_param = _DTYPE_BYTES.get(spec.dtype, 2 if device_has_gpu else 4)
    if src.kind == "local":
        counted = count_parameters(Path(src.location), src.gguf_file)
        if counted is None:
            raise SpecError(
                f"cannot size {src.location} (no safetensors or gguf files); give resources.num_gpus as a fraction",
                agent=spec.name,
            )
        return counted[0] * per_param
    try:
        from huggingface_hub import get_safetensors_metadata

        meta = get_safetensors_metadata(src.location)
        return sum(meta.parameter_count.values()) * per_param
    except Exception as exc:
        raise SpecError(
            f"resources.num_gpus='auto' cannot size hub model {src.location!r} ({exc}); "
            "give a fraction instead",
            agent=spec.name,
        ) from exc
