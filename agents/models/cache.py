"""On-disk cache of GGUF files converted to transformers checkpoints.

Dequantising a GGUF file takes seconds to minutes; the converted weights are saved once
under ``$SLMFLOW_CACHE`` (default ``~/.cache/slmflow``) and later loads read them directly.
The write is atomic (temp folder + rename) because several replicas may load at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import structlog

log = structlog.get_logger("agents.models.cache")

CACHE_ENV = "SLMFLOW_CACHE"
_COMPLETE = "slmflow-complete.json"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "slmflow").expanduser()


def file_digest(path: Path, *extra: str) -> str:
    """A short key for what is cached from ``path``: its absolute path, size and mtime (and ``extra``)."""
    st = path.stat()
    key = "|".join([str(path.resolve()), str(st.st_size), str(st.st_mtime_ns), *extra])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def gguf_cache_dir(gguf_path: Path) -> Path:
    """The cache folder of a GGUF file, keyed by its absolute path, size and mtime."""
    return cache_root() / "gguf" / f"{gguf_path.stem}-{file_digest(gguf_path)}"


def cached_conversion(gguf_path: Path) -> Path | None:
    """The converted checkpoint folder if a complete one is cached."""
    folder = gguf_cache_dir(gguf_path)
    return folder if (folder / _COMPLETE).is_file() else None


def convert_gguf(gguf_path: Path) -> Path:
    """Dequantise ``gguf_path`` into a cached transformers folder (model + tokenizer); return it."""
    found = cached_conversion(gguf_path)
    if found is not None:
        return found
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = gguf_cache_dir(gguf_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    log.info("gguf_convert_start", gguf=str(gguf_path), cache=str(final))
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    # The weights are dense after dequantisation; drop the GGUF quantiser, which refuses to save.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _COMPLETE).write_text(
            json.dumps({"source": str(gguf_path.resolve()), "size": gguf_path.stat().st_size})
        )
        if final.exists() and cached_conversion(gguf_path) is None:
            # A folder without the completion marker is not ours to trust (e.g. hand-made): replace it.
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another replica finished first (rename onto a non-empty folder fails): use theirs.
            if cached_conversion(gguf_path) is None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("gguf_convert_done", cache=str(final))
    return final
