"""``embed``: one vector per text, every text of the batch in shared forward passes."""

from __future__ import annotations

import torch.nn.functional as F

from agents.errors import AgentError
from agents.protocol import EmbedRequest, EmbedResponse, Usage
from agents.tasks._context import TaskContext
from agents.tasks._embedding import encode


def run(ctx: TaskContext, requests: list[EmbedRequest]) -> list[EmbedResponse | AgentError]:
    texts = [t for r in requests for t in r.texts]
    vectors, counts = encode(ctx, texts)
    normed = F.normalize(vectors, dim=-1)
    out: list[EmbedResponse | AgentError] = []
    pos = 0
    for r in requests:
        n = len(r.texts)
        chosen = normed[pos : pos + n] if r.normalize else vectors[pos : pos + n]
        out.append(EmbedResponse(embeddings=chosen.tolist(), usage=Usage(tokens_in=sum(counts[pos : pos + n]))))
        pos += n
    return out
