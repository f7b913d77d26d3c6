"""Loading an agent's model and tokenizer once, on the right device and dtype."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
import torch

from agents.errors import ModelLoadError, SpecError
from agents.models.cache import cached_conversion, convert_gguf
from agents.models.device import resolve_device, resolve_dtype
from agents.models.source import ModelSource
from agents.protocol import TaskKind

log = structlog.get_logger("agents.models.loader")

_CAUSAL_TASKS = {TaskKind.GENERATE, TaskKind.CHAT, TaskKind.EXTRACT, TaskKind.TOOL_CALL}


@dataclass
class LoadedModel:
    """A model ready for inference, with what the task modules need to know about it."""

    model: Any
    tokenizer: Any
    kind: Literal["causal", "encoder"]
    device: torch.device
    dtype: torch.dtype
    source: ModelSource
    pooling: Literal["mean", "cls"] = "mean"
    load_s: float = 0.0
    gguf_cache: str | None = None
    gguf_cache_hit: bool | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def max_positions(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "max_position_embeddings", 0) or 1 << 20)


def _is_causal(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    archs = getattr(config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") for a in archs):
        return True
    if archs:
        return False
    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not getattr(config, "is_encoder_decoder", False)


def _pooling(folder: Path | None) -> Literal["mean", "cls"]:
    """Sentence-transformers folders say how they pool; default to mean pooling."""
    if folder is None:
        return "mean"
    cfg = folder / "1_Pooling" / "config.json"
    if cfg.is_file():
        try:
            if json.loads(cfg.read_text()).get("pooling_mode_cls_token"):
                return "cls"
        except (OSError, ValueError):
            pass
    return "mean"


def load_model(
    *,
    name: str,
    source: ModelSource,
    tokenizer_source: ModelSource | None,
    dtype: str,
    device: str,
    tasks: list[TaskKind],
) -> LoadedModel:
    """Load weights and tokenizer; raises ModelLoadError with the reason when it cannot."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    location = source.location
    cache_dir: str | None = None
    cache_hit: bool | None = None
    if source.is_gguf:
        gguf_path = source.gguf_path
        if gguf_path is None:
            # A GGUF file inside a hub repo: let transformers fetch and dequantise it.
            raise SpecError(
                "gguf_file on a hub model is not cached by slmflow; download the file and point model at it",
                agent=name,
            )
        cache_hit = cached_conversion(gguf_path) is not None
        try:
            folder = convert_gguf(gguf_path)
        except Exception as exc:
            raise ModelLoadError(f"cannot convert GGUF file {gguf_path}: {exc}", agent=name) from exc
        location, cache_dir = str(folder), str(folder)
    tok_location = location
    if tokenizer_source is not None and tokenizer_source.reference != source.reference:
        tok_location = tokenizer_source.location
    try:
        config = AutoConfig.from_pretrained(location)
        causal = _is_causal(config)
        needs_causal = sorted(t.value for t in tasks if t in _CAUSAL_TASKS)
        if needs_causal and not causal:
            raise ModelLoadError(
                f"tasks {needs_causal} need a causal language model, but {source.reference!r} is "
                f"{(config.architectures or [config.model_type])[0]}",
                agent=name,
            )
        cls = AutoModelForCausalLM if causal else AutoModel
        model = cls.from_pretrained(location, dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(tok_location)
    except ModelLoadError:
        raise
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelLoadError(f"out of GPU memory loading {source.reference!r}: {exc}", agent=name) from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot load {source.reference!r} from {location}: {exc}", agent=name) from exc
    try:
        model.to(dev)
    except torch.cuda.OutOfMemoryError as exc:
        raise ModelLoadError(
            f"{source.reference!r} does not fit this replica's GPU memory share: {exc}", agent=name
        ) from exc
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        kind="causal" if causal else "encoder",
        device=dev,
        dtype=torch_dtype,
        source=source,
        pooling=_pooling(Path(location) if source.kind == "local" or cache_dir else None),
        load_s=time.perf_counter() - t0,
        gguf_cache=cache_dir,
        gguf_cache_hit=cache_hit,
    )
    log.info(
        "model_loaded",
        agent=name,
        model=source.reference,
        kind=loaded.kind,
        device=str(dev),
        dtype=str(torch_dtype),
        load_s=round(loaded.load_s, 2),
        gguf_cache_hit=cache_hit,
    )
    return loaded
