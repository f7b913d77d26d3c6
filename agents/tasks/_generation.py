"""Whole-batch generation for causal LMs: left padding, per-row sampling, stops and grammars.

The transformers engine generates by continuous batching (``agents.engines.hf_batcher``,
which shares ``GenItem`` and ``eos_ids`` from here); ``generate_batch`` is the static
reference it is checked and measured against (benchmarks/hf_continuous.py, gpu_check.py).

One ``model.generate`` call serves a whole batch even when its requests ask for different
temperatures, stop strings, token limits or JSON grammars: those are applied per row by
the logits processors and stopping criterion below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria

from agents.engines.base import GenResult, OnText
from agents.models.loader import LoadedModel


@dataclass
class GenItem:
    input_ids: list[int]
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    grammar: Any = None  # xgrammar.CompiledGrammar


def eos_ids(lm: LoadedModel) -> list[int]:
    ids: list[int] = []
    gen_eos = getattr(lm.model.generation_config, "eos_token_id", None)
    for value in (gen_eos, lm.tokenizer.eos_token_id):
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            if v not in ids:
                ids.append(int(v))
    return ids


class _RowSampling(LogitsProcessor):
    """Per-row temperature and nucleus filtering; greedy rows keep only their argmax."""

    def __init__(self, temperatures: list[float], top_ps: list[float]) -> None:
        self.temperatures = temperatures
        self.top_ps = top_ps

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float()
        for i, (temp, top_p) in enumerate(zip(self.temperatures, self.top_ps, strict=True)):
            row = scores[i]
            if temp == 0:
                best = int(torch.argmax(row))
                keep = row[best].clone()
                row.fill_(float("-inf"))
                row[best] = keep
                continue
            row.div_(temp)
            if top_p < 1:
                nucleus(row, top_p)
        return scores


def nucleus(row: torch.Tensor, top_p: float) -> None:
    """Top-p filtering of one row of logits, in place: keep the smallest set of tokens whose
    probability adds up to ``top_p`` (the most likely token always stays)."""
    ordered, order = torch.sort(row, descending=True)
    drop = torch.softmax(ordered, dim=-1).cumsum(-1) > top_p
    drop[1:] = drop[:-1].clone()
    drop[0] = False
    row[order[drop]] = float("-inf")


class _GrammarMask(LogitsProcessor):
    """Masks each grammar row to the tokens its xgrammar matcher allows; rows without one pass."""

    def __init__(self, grammars: list[Any], vocab_size: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(g) if g is not None else None for g in grammars]
        self.failed = [False] * len(grammars)
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab_size)
        self.vocab_size = vocab_size
        self.started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.started:
            for i, m in enumerate(self.matchers):
                # A finished row keeps receiving padding; only live rows feed their matcher.
                live = m is not None and not m.is_terminated() and not self.failed[i]
                if live and not m.accept_token(int(input_ids[i, -1])):
                    self.failed[i] = True
        self.started = True
        rows = []
        for i, m in enumerate(self.matchers):
            if m is not None and not m.is_terminated() and not self.failed[i]:
                m.fill_next_token_bitmask(self.bitmask, i)
                rows.append(i)
        if rows:
            on_cpu = scores.device.type == "cpu"
            target = scores if on_cpu or scores.device.type == "cuda" else scores.cpu()
            self._xgr.apply_token_bitmask_inplace(
                target, self.bitmask.to(target.device), vocab_size=min(self.vocab_size, scores.shape[-1]), indices=rows
            )
            if target is not scores:
                scores = target.to(scores.device)
        return scores


class _RowStops(StoppingCriteria):
    """Per-row token limits and stop strings; remembers where each row stopped and why."""

    def __init__(self, items: list[GenItem], prompt_len: int, tokenizer: Any) -> None:
        self.items = items
        self.prompt_len = prompt_len
        self.tokenizer = tokenizer
        self.stopped_at: list[int | None] = [None] * len(items)
        self.reason: list[str | None] = [None] * len(items)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        n = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i, item in enumerate(self.items):
            if self.stopped_at[i] is not None:
                done[i] = True
                continue
            if item.stop:
                tail = self.tokenizer.decode(input_ids[i, max(self.prompt_len, input_ids.shape[1] - 16) :])
                if any(s in tail for s in item.stop):
                    self.stopped_at[i], self.reason[i] = n, "stop"
                    done[i] = True
                    continue
            if n >= item.max_new_tokens:
                self.stopped_at[i], self.reason[i] = n, "length"
                done[i] = True
        return done


class _TextStreamer:
    """Passes each new piece of a one-row generation to ``on_text``; stops when it says so."""

    def __init__(self, tokenizer: Any, on_text: OnText, eos: set[int]) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.eos = eos
        self.ids: list[int] = []
        self.sent = 0
        self.prompt_seen = False
        self.cancelled = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        self.ids.extend(int(t) for t in value.reshape(-1).tolist() if int(t) not in self.eos)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        # Hold back an incomplete multi-byte character until its last byte arrives.
        if text.endswith("\ufffd"):
            return
        if len(text) > self.sent and not self.cancelled:
            self.cancelled = bool(self.on_text(text[self.sent :]))
            self.sent = len(text)

    def end(self) -> None:
        pass


class _Cancelled(StoppingCriteria):
    def __init__(self, streamer: _TextStreamer) -> None:
        self.streamer = streamer

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.streamer.cancelled, dtype=torch.bool, device=input_ids.device)


def generate_batch(
    lm: LoadedModel, items: list[GenItem], seed: int | None = None, on_text: OnText | None = None
) -> list[GenResult]:
    """Generate for every item in one batched ``generate`` call.

    ``seed`` seeds this call only (the process RNG is restored after); ``on_text`` streams a
    one-item batch piece by piece and stops it early when it returns True.
    """
    tok = lm.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos_ids(lm)[0]
    width = max(len(it.input_ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for i, it in enumerate(items):
        # Left padding keeps every row's last prompt token in the last column.
        ids[i, width - len(it.input_ids) :] = torch.tensor(it.input_ids, dtype=torch.long)
        mask[i, width - len(it.input_ids) :] = 1
    ids, mask = ids.to(lm.device), mask.to(lm.device)

    processors = LogitsProcessorList()
    grammar_mask = None
    if any(it.grammar is not None for it in items):
        vocab = lm.model.get_output_embeddings().weight.shape[0]
        grammar_mask = _GrammarMask([it.grammar for it in items], vocab)
        processors.append(grammar_mask)
    sampled = any(it.temperature > 0 for it in items)
    if sampled or any(it.top_p < 1 for it in items):
        processors.append(_RowSampling([it.temperature for it in items], [it.top_p for it in items]))
    stops = _RowStops(items, width, tok)
    eos = eos_ids(lm)
    criteria: list[StoppingCriteria] = [stops]
    streamer = None
    if on_text is not None:
        if len(items) != 1:
            raise ValueError("streaming generates one item at a time")
        streamer = _TextStreamer(tok, on_text, set(eos))
        criteria.append(_Cancelled(streamer))
    config = GenerationConfig(
        max_new_tokens=max(it.max_new_tokens for it in items),
        do_sample=sampled,
        temperature=1.0,
        top_p=1.0,
        top_k=None,
        pad_token_id=pad_id,
        eos_token_id=eos,
        bos_token_id=getattr(lm.model.generation_config, "bos_token_id", None),
    )
    with torch.random.fork_rng(devices=[lm.device] if lm.device.type == "cuda" else []), torch.inference_mode():
        if seed is not None:
            torch.manual_seed(seed)
        out = lm.model.generate(
            input_ids=ids,
            attention_mask=mask,
            generation_config=config,
            logits_processor=processors,
            stopping_criteria=criteria,
            streamer=streamer,
        )
    results = []
    eos_set = set(eos)
    for i, it in enumerate(items):
        gen = out[i, width:].tolist()
        end = len(gen)
        reason = "length"
        for j, t in enumerate(gen):
            if t in eos_set:
                end, reason = j + 1, "stop"
                break
        if stops.stopped_at[i] is not None and stops.stopped_at[i] < end:
            end, reason = stops.stopped_at[i], stops.reason[i] or "length"
        end = min(end, it.max_new_tokens)
        text = tok.decode(gen[:end], skip_special_tokens=True)
        cut = [text.find(s) for s in it.stop if s in text]
        if cut:
            text, reason = text[: min(cut)], "stop"
        results.append(
            GenResult(
                text=text,
                finish_reason=reason,  # type: ignore[arg-type]
                tokens_in=len(it.input_ids),
                tokens_out=end,
                grammar_failed=bool(grammar_mask and grammar_mask.failed[i]),
            )
        )
    return results
