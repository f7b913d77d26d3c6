"""``classify``: a label and a score per label, by embedding similarity or label likelihood.

Similarity (encoder models): the text's normalised embedding against each label's vector,
the mean of its description's and its few-shot examples' embeddings (cached).
Likelihood (causal LMs): every (prompt, label) pair in one forward pass, the label's mean
token log-probability as its score; no sampling.
Trained head (a specialist's version folder, see ``agents.specialists``): the normalised
embedding through the head's linear layer and softmax; the head knows its labels, so a
request may leave ``labels`` out, or name a subset to choose among.
"""

from __future__ import annotations

from typing import Any

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
        method = "likelihood" if ctx.kind == "causal" else "similarity"
    if method == "likelihood" and ctx.kind != "causal":
        raise InvalidRequest("likelihood classification needs a causal LM; use method='similarity'", agent=ctx.name)
    return method


def run(ctx: TaskContext, requests: list[ClassifyRequest]) -> list[ClassifyResponse | AgentError]:
    out: list[ClassifyResponse | AgentError | None] = [None] * len(requests)
    sim: list[int] = []
    lik: list[int] = []
    headed: list[int] = []
    try:
        head = _trained_head(ctx)
    except AgentError as exc:
        return [exc] * len(requests)
    for i, req in enumerate(requests):
        try:
            method = method_for(ctx, req)
            if head is not None:
                _check_head_labels(ctx, head, req)
                headed.append(i)
            elif req.labels is None:
                raise InvalidRequest(
                    "labels are required: this agent has no trained head (a specialist knows its labels)",
                    agent=ctx.name,
                )
            else:
                (sim if method == "similarity" else lik).append(i)
        except AgentError as exc:
            out[i] = exc
    if headed:
        for i, resp in zip(headed, _with_head(ctx, head, [requests[i] for i in headed]), strict=True):
            out[i] = resp
    if sim:
        for i, resp in zip(sim, _similarity(ctx, [requests[i] for i in sim]), strict=True):
            out[i] = resp
    if lik:
        for i, resp in zip(lik, _likelihood(ctx, [requests[i] for i in lik]), strict=True):
            out[i] = resp
    return out  # type: ignore[return-value]


def _trained_head(ctx: TaskContext) -> Any:
    """The head in the agent's model folder (a specialist version), loaded once; None without one."""
    if getattr(ctx, "kind", None) != "encoder":
        return None
    src = ctx.lm.source
    if src.kind != "local" or src.is_gguf:
        return None
    from agents.specialists.head import HeadError, find_head

    try:
        return ctx.cache("specialist_head", 1).get_or(src.location, lambda: find_head(src.location))
    except HeadError as exc:
        raise AgentError(f"cannot use the trained head: {exc}", agent=ctx.name) from exc


def _check_head_labels(ctx: TaskContext, head: Any, req: ClassifyRequest) -> None:
    if req.labels is None:
        return
    unknown = [lab for lab in req.labels if lab not in head.labels]
    if unknown:
        raise InvalidRequest(
            f"labels {unknown} are not labels of this specialist; it knows {head.labels} "
            "(leave labels out, or give a subset of those)",
            agent=ctx.name,
        )


def _with_head(ctx: TaskContext, head: Any, requests: list[ClassifyRequest]) -> list[ClassifyResponse | AgentError]:
    from agents.specialists.head import HeadError

    vectors, counts = encode(ctx, [r.text for r in requests])
    try:
        probs = head.probabilities(F.normalize(vectors, dim=-1).numpy())
    except HeadError as exc:
        return [AgentError(f"cannot use the trained head: {exc}", agent=ctx.name)] * len(requests)
    out: list[ClassifyResponse | AgentError] = []
    for k, req in enumerate(requests):
        scores = {lab: float(p) for lab, p in zip(head.labels, probs[k], strict=True)}
        if req.labels is not None:
            # A subset: the head's probabilities renormalised over the labels asked for.
            total = sum(scores[lab] for lab in req.labels) or 1.0
            scores = {lab: scores[lab] / total for lab in req.labels}
        out.append(
            ClassifyResponse(label=max(scores, key=scores.__getitem__), scores=scores, usage=Usage(tokens_in=counts[k]))
        )
    return out


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
    """Each label's mean token log-probability as the reply, from the engine; softmax over labels."""
    out: list[ClassifyResponse | AgentError] = []
    for req in requests:
        if not req.labels:
            out.append(InvalidRequest("likelihood classification needs labels", agent=ctx.name))
            continue
        try:
            means, tokens_in = ctx.label_logprobs(_likelihood_messages(req), list(req.labels))
        except AgentError as exc:
            exc.agent = exc.agent or ctx.name
            out.append(exc)
            continue
        probs = torch.softmax(torch.tensor(means), dim=-1).tolist()
        scores = dict(zip(req.labels, probs, strict=True))
        out.append(
            ClassifyResponse(label=max(scores, key=scores.__getitem__), scores=scores, usage=Usage(tokens_in=tokens_in))
        )
    return out
