"""Fine-tune the top layers of a sentence encoder for a classify specialist (before its head).

A frozen encoder's embedding space was not made for the specialist's labels: requests that
differ only in the verb ("withdraw" vs "track") can sit closer together than two phrasings of
the same intent. Tuning the top ``layers`` transformer blocks with a cosine-softmax
classifier on the training texts (SetFit's idea, with a cross-entropy objective instead of
sentence pairs: one pass over n texts instead of O(n^2) pairs, so it fits the 60 s budget on
two cores) pulls each label's texts together. The logistic head is then fitted as before on
the tuned encoder's embeddings, which the serving path computes identically (mean pooling of
the same weights), and the tuned weights are saved in the version folder.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

Progress = Callable[[str, int, int], None]
WEIGHTS_FILE = "model.safetensors"
SCALE = 20.0  # cosine-softmax temperature: cosines span [-1, 1], logits need a wider range


def _layers(model: Any) -> list[Any]:
    encoder = getattr(model, "encoder", None)
    blocks = getattr(encoder, "layer", None) or getattr(encoder, "layers", None)
    if blocks is None:
        raise ValueError(f"{type(model).__name__} has no encoder.layer list to fine-tune")
    return list(blocks)


def finetune_encoder(lm: Any, texts: list[str], labels: list[str], *, layers: int = 2, epochs: int = 8,
                     lr: float = 1e-4, batch_size: int = 16, max_tokens: int = 128, seed: int = 0,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Tune the top ``layers`` blocks of ``lm.model`` (in place) on (text, label); returns training stats."""
    import torch

    torch.manual_seed(seed)
    model, tok = lm.model, lm.tokenizer
    blocks = _layers(model)
    layers = max(1, min(layers, len(blocks)))
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [p for b in blocks[-layers:] for p in b.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    names = sorted(set(labels))
    y_all = torch.tensor([names.index(x) for x in labels])
    dim = model.config.hidden_size
    classifier = torch.nn.Parameter(torch.randn(len(names), dim) * 0.02)
    opt = torch.optim.AdamW([{"params": trainable, "lr": lr}, {"params": [classifier], "lr": lr * 100}],
                            weight_decay=0.01)
    enc = tok(texts, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    order = list(range(len(texts)))
    rng = random.Random(seed)
    steps = epochs * ((len(texts) + batch_size - 1) // batch_size)
    done, losses = 0, []
    model.train()
    try:
        for _ in range(epochs):
            rng.shuffle(order)
            for start in range(0, len(order), batch_size):
                idx = torch.tensor(order[start : start + batch_size])
                mask = enc["attention_mask"][idx]
                width = int(mask.sum(1).max())
                batch = {k: v[idx, :width] for k, v in enc.items()}
                hidden = model(**batch).last_hidden_state
                m = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                # Mean pooling, as the serving path pools (agents.tasks._embedding.encode).
                pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)
                logits = SCALE * pooled @ torch.nn.functional.normalize(classifier, dim=-1).T
                loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
                loss.backward()
                opt.step()
                opt.zero_grad()
                losses.append(float(loss.detach()))
                done += 1
                if progress:
                    progress("fine-tuning encoder", done, steps)
    finally:
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
    tail = losses[-max(1, len(losses) // 5) :]
    return {"finetuned_layers": layers, "finetune_epochs": epochs, "finetune_lr": lr, "finetune_steps": steps,
            "finetune_batch_size": batch_size, "finetune_first_loss": round(losses[0], 4) if losses else None,
            "finetune_final_loss": round(sum(tail) / len(tail), 4) if tail else None}


def save_encoder(lm: Any, base_folder: Path, staging: Path) -> Path:
    """Write the tuned weights under the tensor names of the base's own weights file."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = base_folder / WEIGHTS_FILE
    if not src.is_file():
        raise ValueError(f"{base_folder}: no {WEIGHTS_FILE} to take tensor names from; cannot save a tuned encoder")
    state = lm.model.state_dict()
    prefix = getattr(lm.model, "base_model_prefix", "")
    out = {}
    with safe_open(str(src), framework="pt") as fh:
        meta = fh.metadata()
        for key in fh.keys():  # noqa: SIM118 (a safe_open handle is not a dict)
            value = state.get(key, state.get(key.removeprefix(f"{prefix}.")))
            # A tensor the model does not keep in its state (e.g. a non-persistent position_ids
            # buffer) is not tuned: it stays as the base has it.
            out[key] = (fh.get_tensor(key) if value is None else value.detach()).contiguous().cpu()
    dst = staging / WEIGHTS_FILE
    dst.unlink(missing_ok=True)  # never write through a hard link to the base's own file
    save_file(out, str(dst), metadata=meta)
    return dst


__all__ = ["WEIGHTS_FILE", "finetune_encoder", "save_encoder"]
