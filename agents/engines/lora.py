"""LoRA adapters as llama.cpp loads them: a PEFT adapter (trained on the transformers copy of a
GGUF base) written as a GGUF LoRA file.

llama.cpp applies an adapter per request (``lora: [{"id", "scale"}]``), so any number of
adapters share one loaded base: each costs only its own A/B matrices. The layout follows
llama.cpp's ``convert_lora_to_gguf.py``: ``general.type = adapter``, ``adapter.type = lora``,
``adapter.lora.alpha``, and for each adapted weight ``<gguf name>.lora_a`` (r x in) and
``<gguf name>.lora_b`` (out x r); q/k rows get the same rotary permutation as the base.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# Hugging Face Llama-family module -> GGUF tensor (per layer).
_MODULES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_PEFT_KEY = re.compile(r"layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")


def _permute(w: Any, n_head: int) -> Any:
    """HF stores the rotary halves split; llama.cpp interleaves them (rows of q/k)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_lora_gguf(
    out: Path,
    state: dict[str, Any],
    *,
    alpha: float,
    n_head: int,
    n_kv_head: int,
    architecture: str = "llama",
) -> Path:
    """Write the PEFT ``state`` (``...layers.N.<module>.lora_A/B.weight`` tensors) as a GGUF LoRA."""
    import gguf
    import numpy as np

    pairs: dict[tuple[int, str], dict[str, Any]] = {}
    for key, tensor in state.items():
        m = _PEFT_KEY.search(key)
        if m is None:
            continue
        layer, module, which = int(m.group(1)), m.group(2), m.group(3)
        if module not in _MODULES:
            raise ValueError(f"LoRA on {module!r} has no llama.cpp tensor; adapt {sorted(_MODULES)}")
        pairs.setdefault((layer, module), {})[which] = tensor.detach().float().cpu()
    if not pairs:
        raise ValueError("no LoRA A/B tensors found in the adapter state")
    writer = gguf.GGUFWriter(str(out), architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    for (layer, module), ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ValueError(f"layer {layer} {module}: LoRA needs both A and B")
        a, b = ab["A"], ab["B"]
        if module == "self_attn.q_proj":
            b = _permute(b, n_head)
        elif module == "self_attn.k_proj":
            b = _permute(b, n_kv_head)
        name = f"blk.{layer}.{_MODULES[module]}.weight"
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a.numpy(), dtype=np.float32))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b.numpy(), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


__all__ = ["write_lora_gguf"]
