"""Group calls into task types and judge which groups a specialist SLM should take over.

The article's Step 1 (collect and analyse) and Step 2 (migrate frequent, narrow tasks
first): calls from a log are embedded and clustered; calls recorded in the run store
are grouped by agent and task kind. Each group gets spend, latency and tokens, an
example, a verdict and a projection of cost and latency on a specialist.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from workflows.migration.calls import Call
from workflows.migration.clustering import cluster
from workflows.migration.embedding import Embedder


class Thresholds(BaseModel):
    """When a group counts as an SLM candidate."""

    model_config = ConfigDict(extra="forbid")
    min_calls: int = Field(default=20, ge=1, description="frequent: at least this many calls")
    min_call_share: float = Field(default=0.05, ge=0, le=1, description="frequent: at least this share of calls")
    min_spend_share: float = Field(default=0.05, ge=0, le=1, description="costly: at least this share of spend")
    min_cohesion: float = Field(default=0.45, ge=-1, le=1, description="narrow: mean cosine to the group centre")
    max_tokens_out: float = Field(default=400, gt=0, description="narrow: mean completion tokens at most this")


class Specialist(BaseModel):
    """What a call would cost and take on a specialist SLM (article: $0.001/1K tokens, ~45 ms)."""

    model_config = ConfigDict(extra="forbid")
    usd_per_1k_tokens: float = Field(default=0.001, ge=0)
    base_latency_ms: float = Field(default=45.0, ge=0)
    ms_per_output_token: float = Field(default=4.0, ge=0)


class Example(BaseModel):
    prompt: str
    response: str


class Group(BaseModel):
    id: str
    name: str
    source: str
    call_ids: list[str]
    count: int
    call_share: float
    cost_usd: float
    spend_share: float
    p50_latency_ms: float
    mean_tokens_in: float
    mean_tokens_out: float
    cohesion: float | None
    models: list[str]
    example: Example | None
    candidate: bool
    reasons: list[str]
    projected_cost_usd: float
    projected_p50_latency_ms: float

    @property
    def saving_share(self) -> float:
        return 1 - self.projected_cost_usd / self.cost_usd if self.cost_usd else 0.0


class Analysis(BaseModel):
    total_calls: int
    total_cost_usd: float
    k: int | None = None
    silhouette: float | None = None
    silhouette_by_k: dict[int, float] = Field(default_factory=dict)
    pii_redacted: dict[str, int] = Field(default_factory=dict)
    groups: list[Group]
    candidate_cost_usd: float = 0.0
    candidate_projected_cost_usd: float = 0.0

    def group(self, key: str) -> Group:
        for g in self.groups:
            if key in (g.id, g.name):
                return g
        raise KeyError(f"no group {key!r}; groups are: {', '.join(f'{g.id} ({g.name})' for g in self.groups)}")


_STOP = frozenset(["a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "is", "are", "be", "this", "that", "it", "as", "at", "from", "your", "you", "i", "my", "me", "we", "our", "please", "answer", "reply", "return", "only", "output", "following", "below", "given", "one", "which", "should", "what", "how", "into", "text", "user", "system", "assistant", "json", "word", "label"])


def _keywords(texts: Sequence[str], groups: Sequence[Sequence[int]], n: int = 3) -> list[str]:
    """A readable name per group: the `n` words with the highest mean tf-idf over its calls.

    Every call is a document, so a word common to all calls (boilerplate) weighs little
    and a word frequent in one group's calls names it.
    """
    vectorizer = TfidfVectorizer(token_pattern=r"(?u)\b[a-z][a-z_]{2,}\b", lowercase=True,
                                 stop_words=sorted(_STOP | ENGLISH_STOP_WORDS), binary=True)
    try:
        matrix = vectorizer.fit_transform(texts)
    except ValueError:  # no word left after stop words (e.g. only numbers)
        return ["group"] * len(groups)
    vocab = vectorizer.get_feature_names_out()
    names = []
    for idx in groups:
        mean = np.asarray(matrix[list(idx)].mean(axis=0)).ravel()
        # Highest weight first; ties by word so names are stable from run to run.
        order = sorted((i for i in np.flatnonzero(mean)), key=lambda i: (-round(float(mean[i]), 12), vocab[i]))
        names.append("-".join(vocab[i] for i in order[:n]) or "group")
    return names


def _embed_text(call: Call) -> str:
    # System prompt and request carry the task; the answer's form (a label, JSON, SQL) too.
    return (call.prompt_text + "\nassistant: " + call.response)[:1500]


def _stats(calls: list[Call], total_calls: int, total_cost: float, spec: Specialist) -> dict[str, Any]:
    cost = sum(c.cost_usd for c in calls)
    lat = [c.latency_ms for c in calls]
    tin = float(np.mean([c.tokens_in for c in calls]))
    tout = float(np.mean([c.tokens_out for c in calls]))
    projected = sum((c.tokens_in + c.tokens_out) / 1000 * spec.usd_per_1k_tokens for c in calls)
    return {
        "count": len(calls),
        "call_share": len(calls) / total_calls,
        "cost_usd": cost,
        "spend_share": cost / total_cost if total_cost else 0.0,
        "p50_latency_ms": statistics.median(lat),
        "mean_tokens_in": tin,
        "mean_tokens_out": tout,
        "projected_cost_usd": projected,
        "projected_p50_latency_ms": statistics.median(
            spec.base_latency_ms + spec.ms_per_output_token * c.tokens_out for c in calls),
        "models": sorted({c.model for c in calls}),
        "call_ids": [c.id for c in calls],
    }


def _verdict(s: dict[str, Any], cohesion: float | None, th: Thresholds) -> tuple[bool, list[str]]:
    frequent = s["count"] >= th.min_calls and s["call_share"] >= th.min_call_share
    costly = s["spend_share"] >= th.min_spend_share
    narrow = s["mean_tokens_out"] <= th.max_tokens_out and (cohesion is None or cohesion >= th.min_cohesion)
    reasons = [
        f"{'frequent' if frequent else 'infrequent'} ({s['count']} calls, {s['call_share']:.0%})",
        f"{'costly' if costly else 'cheap'} ({s['spend_share']:.0%} of spend)",
        f"{'narrow' if narrow else 'broad'} (~{s['mean_tokens_out']:.0f} output tokens"
        + (f", cohesion {cohesion:.2f})" if cohesion is not None else ")"),
    ]
    return frequent and costly and narrow, reasons


def analyze(
    calls: list[Call],
    embedder: Embedder | None = None,
    *,
    k: int | None = None,
    k_max: int = 10,
    thresholds: Thresholds | None = None,
    specialist: Specialist | None = None,
    pii_counts: Counter[str] | None = None,
) -> Analysis:
    """Group `calls` (already redacted) and report per group; log calls need `embedder`."""
    if not calls:
        raise ValueError("no calls to analyse: give a log with --log or record runs first (--from-store)")
    th, spec = thresholds or Thresholds(), specialist or Specialist()
    total_calls, total_cost = len(calls), sum(c.cost_usd for c in calls)
    groups: list[tuple[str, list[Call], float | None]] = []
    result: dict[str, Any] = {}

    logged = [c for c in calls if c.group_hint is None]
    if logged:
        if embedder is None:
            raise ValueError("log calls need an embedder to be grouped")
        vectors = embedder([_embed_text(c) for c in logged])
        clustering = cluster(vectors, k=k, k_max=k_max)
        result.update(k=clustering.k, silhouette=round(clustering.silhouette, 4), silhouette_by_k=clustering.scores)
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        for j in range(clustering.k):
            idx = np.flatnonzero(clustering.labels == j)
            if len(idx):
                cohesion = float(np.mean(unit[idx] @ clustering.centroids[j]))
                groups.append(("log", [logged[i] for i in idx], cohesion))
    by_hint: dict[str, list[Call]] = {}
    for c in calls:
        if c.group_hint is not None:
            by_hint.setdefault(c.group_hint, []).append(c)
    groups.extend(("store", members, None) for members in by_hint.values())

    position = {id(c): i for i, c in enumerate(logged)}
    log_groups = [[position[id(c)] for c in members] for source, members, _ in groups if source == "log"]
    log_names = iter(_keywords([c.prompt_text for c in logged], log_groups))

    built = []
    for source, members, cohesion in groups:
        s = _stats(members, total_calls, total_cost, spec)
        candidate, reasons = _verdict(s, cohesion, th)
        if source == "log":
            name = next(log_names)
            ex = members[0]
            example = Example(prompt=ex.prompt_text[:400], response=ex.response[:200])
        else:
            name, example = f"agent {members[0].group_hint}", None
        built.append({**s, "source": source, "name": name, "cohesion": cohesion, "example": example,
                      "candidate": candidate, "reasons": reasons})
    built.sort(key=lambda g: -g["cost_usd"])
    out = [Group(id=f"g{i + 1}", **g) for i, g in enumerate(built)]
    return Analysis(
        total_calls=total_calls,
        total_cost_usd=total_cost,
        pii_redacted=dict(pii_counts or {}),
        groups=out,
        candidate_cost_usd=sum(g.cost_usd for g in out if g.candidate),
        candidate_projected_cost_usd=sum(g.projected_cost_usd for g in out if g.candidate),
        **result,
    )


def export_group(analysis: Analysis, calls: list[Call], key: str, path: str | Path) -> int:
    """Write group `key` (id or name) as a chat-format fine-tuning JSONL; returns the row count."""
    group = analysis.group(key)
    if group.source != "log":
        raise ValueError(f"group {group.id} ({group.name}) comes from the run store, which keeps no texts to export")
    by_id = {c.id: c for c in calls}
    rows = 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for cid in group.call_ids:
            c = by_id[cid]
            messages = [*c.messages, {"role": "assistant", "content": c.response}]
            fh.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            rows += 1
    return rows
