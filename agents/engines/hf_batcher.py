"""Continuous batching for transformers causal LMs: one decode loop over every in-flight sequence.

A worker thread owns the model. Each iteration either prefills the requests that just
arrived (one left-padded forward pass) and merges their KV caches into the running batch,
or decodes one token for every running sequence in one forward pass. A sequence leaves the
batch the moment it finishes, and its rows are dropped from the cache; new requests join at
the next iteration instead of waiting for the longest member of a static batch.

The running batch is one ``DynamicCache`` with left padding: joining pads the shorter side
on the left and concatenates along the batch; leaving selects the remaining rows and cuts
columns that only padding uses. Copies happen on joins and leaves, never per token.

Per row: temperature and nucleus sampling (a seeded request samples from its own
generator, so no request's seed touches another's), an xgrammar matcher for JSON-schema
jobs, stop strings, token limits, streaming and cancellation. Waiting requests join the batch
by earliest virtual deadline (``agents.engines.admission.virtual_deadline``): the loop takes
them from a priority queue, so no caller's thread has to hold a place.
"""

from __future__ import annotations

import itertools
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.engines.admission import virtual_deadline
from agents.engines.base import GenResult, OnText
from agents.errors import AgentError
from agents.models.loader import LoadedModel
from agents.tasks._generation import GenItem, eos_ids, nucleus
from orchestrator.logging import get_logger

log = get_logger(component="hf_batcher")


@dataclass
class _Row:
    item: GenItem
    future: Future[GenResult]
    on_text: OnText | None
    generator: torch.Generator | None
    matcher: Any = None
    tokens: list[int] = field(default_factory=list)
    sent: int = 0
    grammar_failed: bool = False
    reason: str | None = None
    next_token: int = -1
    # The end-of-sequence token counts as generated (as in the static path) but is not text.
    ended: bool = False


class ContinuousBatcher:
    """Runs ``GenItem``s for one loaded causal LM; ``submit`` is thread-safe and returns a future."""

    def __init__(self, lm: LoadedModel, max_batch: int, model_lock: threading.Lock, name: str) -> None:
        self.lm = lm
        self.name = name
        self.max_batch = max(1, max_batch)
        # Held around every forward pass, so other users of the model (likelihood
        # classification) run between steps, never during one.
        self.model_lock = model_lock
        self.eos = set(eos_ids(lm))
        tok = lm.tokenizer
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else eos_ids(lm)[0]
        self.vocab = lm.model.get_output_embeddings().weight.shape[0]
        # (deadline, arrival order, row); a row of None closes the loop.
        self._incoming: queue.PriorityQueue[tuple[float, int, _Row | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._rows: list[_Row] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None
        self._bitmask: Any = None
        import inspect

        self._cache_kwarg = "cache" in inspect.signature(lm.model.forward).parameters
        self.steps = 0
        self.joins = 0
        self._thread = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------

    def run(self, item: GenItem, seed: int | None = None, on_text: OnText | None = None) -> GenResult:
        """Generate ``item`` in the running batch; blocks the caller until it finishes."""
        return self.submit(item, seed, on_text).result()

    def submit(self, item: GenItem, seed: int | None = None, on_text: OnText | None = None) -> Future[GenResult]:
        gen = None
        if seed is not None and item.temperature > 0:
            gen = torch.Generator(device=self.lm.device).manual_seed(int(seed))
        row = _Row(item=item, future=Future(), on_text=on_text, generator=gen)
        if item.grammar is not None:
            import xgrammar as xgr

            row.matcher = xgr.GrammarMatcher(item.grammar)
        self._incoming.put((virtual_deadline(item.max_new_tokens), next(self._order), row))
        return row.future

    def close(self) -> None:
        self._incoming.put((float("inf"), next(self._order), None))

    def stats(self) -> dict[str, Any]:
        return {"running": len(self._rows), "waiting": self._incoming.qsize(), "batch_limit": self.max_batch,
                "decode_steps": self.steps, "joins": self.joins}

    # -- the loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            new: list[_Row] = []
            if not self._rows:
                _, _, first = self._incoming.get()
                if first is None:
                    return
                new.append(first)
            while len(self._rows) + len(new) < self.max_batch:
                try:
                    _, _, row = self._incoming.get_nowait()
                except queue.Empty:
                    break
                if row is None:
                    self._fail_all(AgentError("engine closed", agent=self.name))
                    return
                new.append(row)
            try:
                with self.model_lock, torch.inference_mode():
                    if new:
                        self._prefill(new)
                    else:
                        self._decode()
            except Exception as exc:  # a failed forward fails the sequences in it, not the loop
                log.error("batch_step_failed", agent=self.name, error=f"{type(exc).__name__}: {exc}")
                self._fail_all(AgentError(f"generation failed: {type(exc).__name__}: {exc}", agent=self.name),
                               extra=new)

    def _fail_all(self, error: AgentError, extra: list[_Row] | None = None) -> None:
        for row in [*self._rows, *(extra or [])]:
            if not row.future.done():
                row.future.set_exception(error)
        self._rows, self._cache, self._mask = [], None, None

    def _prefill(self, new: list[_Row]) -> None:
        from transformers import DynamicCache

        width = max(len(r.item.input_ids) for r in new)
        ids = torch.full((len(new), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(new), width), dtype=torch.long)
        for i, r in enumerate(new):
            n = len(r.item.input_ids)
            ids[i, width - n:] = torch.tensor(r.item.input_ids, dtype=torch.long)
            mask[i, width - n:] = 1
        ids, mask = ids.to(self.lm.device), mask.to(self.lm.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits, cache = self._forward(ids, mask, positions, DynamicCache())
        self._merge(cache, mask)
        self._rows.extend(new)
        self.joins += len(new)
        self._advance(new, logits, offset=len(self._rows) - len(new))

    def _decode(self) -> None:
        assert self._mask is not None
        ids = torch.tensor([[r.next_token] for r in self._rows], dtype=torch.long, device=self.lm.device)
        positions = self._mask.sum(-1, keepdim=True)
        self._mask = torch.cat([self._mask, torch.ones_like(positions)], dim=-1)
        logits, self._cache = self._forward(ids, self._mask, positions, self._cache)
        self.steps += 1
        self._advance(self._rows, logits, offset=0)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                 cache: Any) -> tuple[torch.Tensor, Any]:
        """One forward pass; the last position's logits only (a prompt's other positions
        would cost a vocabulary-wide projection each) and the updated cache."""
        kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "position_ids": positions,
                                  "use_cache": True, "logits_to_keep": 1}
        # transformers 5.x renamed ``past_key_values`` to ``cache``.
        kwargs["cache" if self._cache_kwarg else "past_key_values"] = cache
        out = self.lm.model(**kwargs)
        new_cache = out.cache if hasattr(out, "cache") else out.past_key_values
        return out.logits[:, -1, :], new_cache

    # -- the KV cache of the running batch --------------------------------------------------

    def _merge(self, cache: Any, mask: torch.Tensor) -> None:
        """Join ``cache`` (rows just prefilled) to the running batch, left-padding the shorter."""
        if self._cache is None or self._mask is None:
            self._cache, self._mask = cache, mask
            return
        from transformers import DynamicCache

        old_len, new_len = self._mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)
        merged = DynamicCache()
        for idx, (a, b) in enumerate(zip(self._cache.layers, cache.layers, strict=True)):
            keys = torch.cat([_pad_left(a.keys, width), _pad_left(b.keys, width)], dim=0)
            values = torch.cat([_pad_left(a.values, width), _pad_left(b.values, width)], dim=0)
            merged.update(keys, values, idx)
        self._cache = merged
        self._mask = torch.cat([_pad_left_mask(self._mask, width), _pad_left_mask(mask, width)], dim=0)

    def _drop(self, keep: list[int]) -> None:
        """Keep only rows ``keep``; cut the columns that only padding uses."""
        if not keep:
            self._cache, self._mask = None, None
            return
        assert self._mask is not None
        index = torch.tensor(keep, dtype=torch.long, device=self._mask.device)
        mask = self._mask.index_select(0, index)
        used = mask.any(dim=0).nonzero()
        start = int(used[0]) if len(used) else 0
        for layer in self._cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, start:, :]
            layer.values = layer.values.index_select(0, index)[:, :, start:, :]
        self._mask = mask[:, start:]

    # -- sampling, grammars, stops ----------------------------------------------------------

    def _advance(self, rows: list[_Row], logits: torch.Tensor, offset: int) -> None:
        logits = logits.float()
        self._apply_grammars(rows, logits)
        chosen = self._sample(rows, logits)
        finished: set[int] = set()
        for i, (row, token) in enumerate(zip(rows, chosen, strict=True)):
            if self._take(row, token):
                finished.add(offset + i)
        if finished:
            keep = [i for i in range(len(self._rows)) if i not in finished]
            for i in sorted(finished):
                self._finish(self._rows[i])
            self._rows = [self._rows[i] for i in keep]
            self._drop(keep)

    def _apply_grammars(self, rows: list[_Row], logits: torch.Tensor) -> None:
        live = [i for i, r in enumerate(rows) if r.matcher is not None and not r.matcher.is_terminated()
                and not r.grammar_failed]
        if not live:
            return
        import xgrammar as xgr

        if self._bitmask is None or self._bitmask.shape[0] < len(rows):
            self._bitmask = xgr.allocate_token_bitmask(max(self.max_batch, len(rows)), self.vocab)
        for i in live:
            rows[i].matcher.fill_next_token_bitmask(self._bitmask, i)
        target = logits if logits.device.type in ("cpu", "cuda") else logits.cpu()
        xgr.apply_token_bitmask_inplace(target, self._bitmask[: len(rows)].to(target.device),
                                        vocab_size=min(self.vocab, logits.shape[-1]), indices=live)
        if target is not logits:
            logits.copy_(target.to(logits.device))

    def _sample(self, rows: list[_Row], logits: torch.Tensor) -> list[int]:
        chosen = logits.argmax(dim=-1).tolist()
        for i, row in enumerate(rows):
            temp, top_p = row.item.temperature, row.item.top_p
            if temp <= 0:
                continue
            scores = logits[i] / temp
            if top_p < 1:
                nucleus(scores, top_p)
            probs = torch.softmax(scores, dim=-1)
            chosen[i] = int(torch.multinomial(probs, 1, generator=row.generator))
        return chosen

    def _take(self, row: _Row, token: int) -> bool:
        """Record ``token`` for ``row``; True when the row is finished."""
        live = row.matcher is not None and not row.matcher.is_terminated() and not row.grammar_failed
        if live and not row.matcher.accept_token(token):
            row.grammar_failed = True
        if token in self.eos:
            row.reason, row.ended = "stop", True
            return True
        row.tokens.append(token)
        row.next_token = token
        tok = self.lm.tokenizer
        if row.item.stop:
            tail = tok.decode(row.tokens[-16:], skip_special_tokens=True)
            if any(s in tail for s in row.item.stop):
                row.reason = "stop"
                return True
        if row.on_text is not None:
            text = tok.decode(row.tokens, skip_special_tokens=True)
            # Hold back an incomplete multi-byte character until its last byte arrives.
            if not text.endswith("\ufffd") and len(text) > row.sent:
                stop = bool(row.on_text(text[row.sent:]))
                row.sent = len(text)
                if stop:
                    row.reason = "stop"
                    return True
        if len(row.tokens) >= row.item.max_new_tokens:
            row.reason = "length"
            return True
        return False

    def _finish(self, row: _Row) -> None:
        text = self.lm.tokenizer.decode(row.tokens, skip_special_tokens=True)
        reason = row.reason or "length"
        cut = [text.find(s) for s in row.item.stop if s in text]
        if cut:
            text, reason = text[: min(cut)], "stop"
        row.future.set_result(GenResult(text=text, finish_reason=reason,  # type: ignore[arg-type]
                                        tokens_in=len(row.item.input_ids), tokens_out=len(row.tokens) + row.ended,
                                        grammar_failed=row.grammar_failed))


def _pad_left(t: torch.Tensor, width: int) -> torch.Tensor:
    """[batch, heads, length, dim] left-padded with zeros to ``width`` positions."""
    missing = width - t.shape[2]
    if missing <= 0:
        return t
    pad = torch.zeros((*t.shape[:2], missing, t.shape[3]), dtype=t.dtype, device=t.device)
    return torch.cat([pad, t], dim=2)


def _pad_left_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    missing = width - mask.shape[1]
    if missing <= 0:
        return mask
    return torch.cat([torch.zeros((mask.shape[0], missing), dtype=mask.dtype, device=mask.device), mask], dim=1)


__all__ = ["ContinuousBatcher"]
