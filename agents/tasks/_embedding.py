"""Sentence embeddings: pooled last hidden states, batched."""

from __future__ import annotations

import torch

from agents.tasks._context import TaskContext

CHUNK = 64


def encode(ctx: TaskContext, texts: list[str]) -> tuple[torch.Tensor, list[int]]:
    """(embeddings [n, dim] in float32 on CPU, unnormalised; tokens per text)."""
    lm = ctx.lm
    tok = lm.tokenizer
    limit = min(ctx.spec.max_input_tokens, lm.max_positions)
    vectors: list[torch.Tensor] = []
    counts: list[int] = []
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start : start + CHUNK]
        enc = tok(chunk, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        enc = {k: v.to(lm.device) for k, v in enc.items()}
        mask = enc["attention_mask"]
        with torch.inference_mode():
            if lm.kind == "causal":
                hidden = lm.model.base_model(input_ids=enc["input_ids"], attention_mask=mask).last_hidden_state
            else:
                hidden = lm.model(**enc).last_hidden_state
        hidden = hidden.float()
        if lm.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        vectors.append(pooled.cpu())
        counts.extend(int(c) for c in mask.sum(1).tolist())
    return torch.cat(vectors), counts
