"""``classify``: a label and a score per label, by embedding similarity or label likelihood.

Similarity (encoder models): the text's normalised embedding against each label's vector,
the mean of its description's and its few-shot examples' embeddings (cached).
Likelihood (causal LMs): every (prompt, label) pair in one forward pass, the label's mean
token log-probability as its score; no sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from agents.errors import AgentError, InvalidRequest
from agents.protocol import ClassifyRequest, ClassifyResponse, Usage
from agents.tasks._context import TaskContext
from agents.tasks._embedding import encode

# Cosine similarities of sentence embeddings sit in a narrow band; dividing by this before
# the softmax turns them into usable label probabilities.
SIMILARITY_TEMPERATURE = 0.05


def method_for(ctx: TaskContext, req: ClassifyRequest) -> str:
    method = req.method or ctx.spec.classify_method
    if method is None:
        method = "likelihood" if ctx.lm.kind == "causal" else "similarity"
    if method == "likelihood" and ctx.lm.kind != "causal":
        raise InvalidRequest("likelihood classification needs a causal LM; use method='similarity'", agent=ctx.name)
    return method


def run(ctx: TaskContext, requests: list[ClassifyRequest]) -> list[ClassifyResponse | AgentError]:
    out: list[ClassifyResponse | AgentError | None] = [None] * len(requests)
    sim: list[int] = []
    lik: list[int] = []
    for i, req in enumerate(requests):
        try:
            (sim if method_for(ctx, req) == "similarity" else lik).append(i)
        except AgentError as exc:
            out[i] = exc
    if sim:
        for i, resp in zip(sim, _similarity(ctx, [requests[i] for i in sim]), strict=True):
            out[i] = resp
    if lik:
        for i, resp in zip(lik, _likelihood(ctx, [requests[i] for i in lik]), strict=True):
            out[i] = resp
    return out  # type: ignore[return-value]


def _label_text(req: ClassifyRequest, label: str) -> str:
    return (req.label_descriptions or {}).get(label, label)


def _similarity(ctx: TaskContext, requests: list[ClassifyRequest]) -> list[ClassifyResponse]:
    cache = ctx.cache("label_embeddings", 4096)
    wanted = {_label_text(r, lab) for r in requests for lab in r.labels}
    wanted |= {ex.text for r in requests for ex in r.examples or []}
    missing = sorted(t for t in wanted if t not in cache)
    texts = [r.text for r in requests]
    # One pass embeds the inputs and every label text not cached yet.
    vectors, counts = encode(ctx, texts + missing)
    vectors = F.normalize(vectors, dim=-1)
    for t, v in zip(missing, vectors[len(texts) :], strict=True):
        cache.get_or(t, lambda v=v: v)
    out = []
    for k, req in enumerate(requests):
        label_vecs = []
        for lab in req.labels:
            parts = [cache.get_or(_label_text(req, lab), lambda: None)]
            parts += [cache.get_or(ex.text, lambda: None) for ex in req.examples or [] if ex.label == lab]
            label_vecs.append(F.normalize(torch.stack(parts).mean(0), dim=-1))
        sims = torch.stack(label_vecs) @ vectors[k]
        probs = torch.softmax(sims / SIMILARITY_TEMPERATURE, dim=-1).tolist()
        scores = dict(zip(req.labels, probs, strict=True))
        out.append(
            ClassifyResponse(label=max(scores, key=scores.__getitem__), scores=scores, usage=Usage(tokens_in=counts[k]))
        )
    return out


def _likelihood_messages(req: ClassifyRequest) -> list[dict[str, str]]:
    labels = ", ".join(req.labels)
    system = req.instruction or f"Classify the text. Answer with exactly one of these labels: {labels}."
    if req.label_descriptions:
        system += "\n" + "\n".join(f"{lab}: {desc}" for lab, desc in req.label_descriptions.items())
    msgs = [{"role": "system", "content": system}]
    for ex in req.examples or []:
        msgs += [{"role": "user", "content": ex.text}, {"role": "assistant", "content": ex.label}]
    msgs.append({"role": "user", "content": req.text})
    return msgs


def _likelihood(ctx: TaskContext, requests: list[ClassifyRequest]) -> list[ClassifyResponse | AgentError]:
    lm = ctx.lm
    tok = lm.tokenizer
    rows: list[tuple[int, list[int], list[int]]] = []  # (request index, prompt ids, label ids)
    out: list[ClassifyResponse | AgentError | None] = [None] * len(requests)
    prompt_lens: dict[int, int] = {}
    for k, req in enumerate(requests):
        try:
            prompt = ctx.chat_ids(_likelihood_messages(req))
            ctx.check_length(prompt, max(len(tok(lab, add_special_tokens=False)["input_ids"]) for lab in req.labels))
        except AgentError as exc:
            out[k] = exc
            continue
        prompt_lens[k] = len(prompt)
        for lab in req.labels:
            rows.append((k, prompt, list(tok(lab, add_special_tokens=False)["input_ids"])))
    if not rows:
        return out  # type: ignore[return-value]
    width = max(len(p) + len(lab) for _, p, lab in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, (_, p, lab) in enumerate(rows):
        seq = p + lab
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
    # Logits only where a label token is predicted: the full [rows, width, vocab] tensor
    # would dwarf the model.
    positions = [(r, len(p) - 1 + j, t) for r, (_, p, lab) in enumerate(rows) for j, t in enumerate(lab)]
    with torch.inference_mode():
        hidden = lm.model.base_model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).last_hidden_state
        picked = hidden[[r for r, _, _ in positions], [c for _, c, _ in positions]]
        logprobs = torch.log_softmax(lm.model.get_output_embeddings()(picked).float(), dim=-1)
        token_lp = logprobs[torch.arange(len(positions)), torch.tensor([t for _, _, t in positions])].cpu()
    per_row: list[list[float]] = [[] for _ in rows]
    for (r, _, _), lp in zip(positions, token_lp.tolist(), strict=True):
        per_row[r].append(lp)
    by_request: dict[int, list[float]] = {}
    for (k, _, _), lps in zip(rows, per_row, strict=True):
        by_request.setdefault(k, []).append(sum(lps) / len(lps) if lps else -math.inf)
    for k, means in by_request.items():
        req = requests[k]
        probs = torch.softmax(torch.tensor(means), dim=-1).tolist()
        scores = dict(zip(req.labels, probs, strict=True))
        tokens_in = prompt_lens[k] + sum(len(lab) for kk, _, lab in rows if kk == k)
        out[k] = ClassifyResponse(
            label=max(scores, key=scores.__getitem__), scores=scores, usage=Usage(tokens_in=tokens_in)
        )
    return out  # type: ignore[return-value]
