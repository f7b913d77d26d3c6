"""Copies of GGUF files with some tensors rewritten, written once into the cache.

Both ways of serving a GGUF file on llama.cpp's batched kernels (``agents.models.requant``,
``agents.models.q4_split``) write a copy of the source: its metadata as it was, some tensors
in another type, every other tensor byte for byte. Replicas may load at once, so a copy
appears under its final name only when complete (temp file + rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# (data, GGML type) for a tensor to rewrite; None keeps it as it is.
Rewrite = Callable[[Any], "tuple[np.ndarray, Any] | None"]


def cached_file(final: Path, write: Callable[[Path], None]) -> Path:
    """``final``, written by ``write(tmp)`` and renamed into place if it is not there yet."""
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}-", dir=final.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from replicas run as other users
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final


def write_copy(source: Path, target: Path, rewrite: Rewrite, file_type: Any) -> int:
    """Write ``source`` to ``target`` with the tensors ``rewrite`` replaces; return how many."""
    import gguf

    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, architecture(reader))
    for field in reader.fields.values():
        # The writer adds the architecture and GGUF.* header fields itself.
        if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.FILE_TYPE) or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    writer.add_file_type(file_type)
    rewritten = 0
    for tensor in reader.tensors:
        new = rewrite(tensor)
        if new is None:
            writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
        else:
            writer.add_tensor(tensor.name, new[0], raw_dtype=new[1])
            rewritten += 1
    write_out(writer)
    return rewritten


def architecture(reader: Any) -> str:
    import gguf

    return str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents())


def write_out(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
