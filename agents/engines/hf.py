"""The ``transformers`` engine: any Hugging Face model (folder, hub id, or GGUF dequantised to
fp32 once and cached), on CPU or CUDA.

A causal LM generates by continuous batching (``agents.engines.hf_batcher``): every
request joins one running decode loop and leaves it the moment it finishes, so the
engine is ``concurrent`` and the replica submits each request from its own thread.
Encoders embed and classify by similarity in whole batches, which is right for them: the
Serve replica collects those with ``@serve.batch`` (``concurrent = False``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from agents.engines.base import LRU, GenResult, Job, OnText
from agents.errors import AgentError, InvalidRequest, ModelLoadError
from agents.models.loader import LoadedModel

if TYPE_CHECKING:
    from agents.spec import AgentSpec


@dataclass
class TransformersEngine:
    engine_name: ClassVar[str] = "transformers"
    lm: LoadedModel
    spec: AgentSpec
    caches: dict[str, LRU] = field(default_factory=dict)
    compile_threads: int = 8
    _compiler: Any = None
    _batcher: Any = None
    # Held by every forward pass: the decode loop's steps and likelihood classification.
    _model_lock: threading.Lock = field(default_factory=threading.Lock)
    # Fast tokenizers are not safe to share between threads that encode at the same time.
    _tok_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def concurrent(self) -> bool:
        return self._batcher is not None

    @classmethod
    def load(cls, spec: AgentSpec, *, threads: int, gpu_fraction: float | None) -> TransformersEngine:
        from agents.models.device import cap_cuda_memory, resolve_device
        from agents.models.loader import load_model
        from agents.spec import GPU_FIXED_HEADROOM_BYTES, GPU_WEIGHT_OVERHEAD

        device = resolve_device(spec.device)
        if threads and device.type == "cpu":
            import torch

            # Process-wide: one engine per replica process is the deployment model.
            torch.set_num_threads(threads)
        if device.type == "cuda" and gpu_fraction is not None:
            need = None
            try:
                from agents.models.size import estimate_weight_bytes

                need = int(estimate_weight_bytes(spec) * GPU_WEIGHT_OVERHEAD + GPU_FIXED_HEADROOM_BYTES)
            except AgentError:
                pass  # Unknown size: the cap alone still protects the neighbours.
            cap_cuda_memory(gpu_fraction, need_bytes=need, device=device)
        lm = load_model(
            name=spec.name,
            source=spec.source(),
            tokenizer_source=spec.tokenizer_source() if spec.tokenizer else None,
            dtype=spec.dtype,
            device=spec.device,
            tasks=list(spec.tasks),
        )
        if lm.kind == "encoder" and spec.classify_method == "likelihood":
            raise ModelLoadError(
                "classify_method 'likelihood' needs a causal LM; this model is an encoder", agent=spec.name
            )
        engine = cls(lm=lm, spec=spec, compile_threads=threads or 8)
        if lm.kind == "causal":
            from agents.engines.hf_batcher import ContinuousBatcher

            engine._batcher = ContinuousBatcher(lm, spec.batching.max_batch_size, engine._model_lock, spec.name)
        return engine

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()

    def cache(self, name: str, maxsize: int = 1024) -> LRU:
        if name not in self.caches:
            self.caches[name] = LRU(maxsize)
        return self.caches[name]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> Literal["causal", "encoder"]:
        return self.lm.kind

    # Prompting -------------------------------------------------------------------------

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` under the tokenizer's chat template, ready for the reply."""
        tok = self.lm.tokenizer
        with self._tok_lock:
            if getattr(tok, "chat_template", None):
                text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
                return list(tok(text, add_special_tokens=False)["input_ids"])
            # Models without a template get a plain transcript.
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
            return list(tok(text)["input_ids"])

    def prompt_ids(self, prompt: str) -> list[int]:
        with self._tok_lock:
            return list(self.lm.tokenizer(prompt)["input_ids"])

    def check_length(self, ids: list[int], max_new_tokens: int) -> None:
        limit = min(self.spec.max_input_tokens, self.lm.max_positions - max_new_tokens)
        if len(ids) > limit:
            raise InvalidRequest(
                f"input is {len(ids)} tokens; this agent takes at most {limit} "
                f"(max_input_tokens={self.spec.max_input_tokens}, model context {self.lm.max_positions}, "
                f"max_new_tokens={max_new_tokens})",
                agent=self.name,
            )

    # Grammars --------------------------------------------------------------------------

    def grammar(self, schema: dict[str, Any]) -> Any:
        """The compiled xgrammar grammar of a JSON schema (cached per schema)."""
        import xgrammar as xgr

        if self._compiler is None:
            from agents.tasks._generation import eos_ids

            vocab = self.lm.model.get_output_embeddings().weight.shape[0]
            info = xgr.TokenizerInfo.from_huggingface(
                self.lm.tokenizer, vocab_size=vocab, stop_token_ids=eos_ids(self.lm)
            )
            self._compiler = xgr.GrammarCompiler(info, max_threads=self.compile_threads)
        # Property order matters (a tool's name must come before its arguments): key on the
        # schema as written, not sorted.
        key = json.dumps(schema)

        def compile_() -> Any:
            try:
                return self._compiler.compile_json_schema(key, any_whitespace=False, strict_mode=True)
            except Exception as exc:
                raise InvalidRequest(f"JSON schema cannot be compiled to a grammar: {exc}", agent=self.name) from exc

        return self.cache("grammars", 256).get_or(key, compile_)

    # Engine interface -------------------------------------------------------------------

    def _item(self, job: Job) -> Any:
        from agents.tasks._generation import GenItem

        if job.adapter is not None:
            raise InvalidRequest(
                f"adapter {job.adapter!r}: LoRA adapters are served by the llama_cpp engine; this agent "
                "runs on transformers", agent=self.name)
        ids = self.chat_ids(job.messages) if job.messages is not None else self.prompt_ids(job.prompt or "")
        self.check_length(ids, job.max_new_tokens)
        grammar = self.grammar(job.json_schema) if job.json_schema is not None else None
        return GenItem(input_ids=ids, max_new_tokens=job.max_new_tokens, temperature=job.temperature,
                       top_p=job.top_p, stop=list(job.stop), grammar=grammar)

    def generate(self, jobs: list[Job]) -> list[GenResult | AgentError]:
        if self._batcher is None:
            raise InvalidRequest("this model is an encoder: it embeds and classifies, it does not generate",
                                 agent=self.name)
        out: list[GenResult | AgentError | None] = [None] * len(jobs)
        pending = []
        for i, job in enumerate(jobs):
            try:
                pending.append((i, self._batcher.submit(self._item(job), seed=job.seed)))
            except AgentError as exc:
                exc.agent = exc.agent or self.name
                out[i] = exc
        for i, future in pending:
            try:
                out[i] = future.result()
            except AgentError as exc:
                out[i] = exc
        return out  # type: ignore[return-value]

    def stats(self) -> dict[str, Any]:
        """The decode loop's counters and waiting queue (empty for an encoder)."""
        return self._batcher.stats() if self._batcher is not None else {}

    def stream(self, job: Job, on_text: OnText) -> GenResult:
        if self._batcher is None:
            raise InvalidRequest("this model is an encoder: it does not generate", agent=self.name)
        return self._batcher.run(self._item(job), seed=job.seed, on_text=on_text)

    def label_logprobs(self, messages: list[dict[str, str]], labels: list[str]) -> tuple[list[float], int]:
        """Every (prompt, label) pair in one forward pass; each label's mean token log-probability."""
        import torch

        lm = self.lm
        tok = lm.tokenizer
        prompt = self.chat_ids(messages)
        label_ids = [list(tok(lab, add_special_tokens=False)["input_ids"]) for lab in labels]
        self.check_length(prompt, max(len(ids) for ids in label_ids))
        width = max(len(prompt) + len(ids) for ids in label_ids)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.full((len(labels), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, lab in enumerate(label_ids):
            seq = prompt + lab
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
        # Logits only where a label token is predicted: the full [rows, width, vocab] tensor
        # would dwarf the model.
        positions = [(r, len(prompt) - 1 + j, t) for r, lab in enumerate(label_ids) for j, t in enumerate(lab)]
        with self._model_lock, torch.inference_mode():
            hidden = lm.model.base_model(input_ids=ids.to(lm.device), attention_mask=mask.to(lm.device)).last_hidden_state
            picked = hidden[[r for r, _, _ in positions], [c for _, c, _ in positions]]
            logprobs = torch.log_softmax(lm.model.get_output_embeddings()(picked).float(), dim=-1)
            token_lp = logprobs[torch.arange(len(positions)), torch.tensor([t for _, _, t in positions])].cpu()
        per_label: list[list[float]] = [[] for _ in labels]
        for (r, _, _), lp in zip(positions, token_lp.tolist(), strict=True):
            per_label[r].append(lp)
        means = [sum(lps) / len(lps) if lps else float("-inf") for lps in per_label]
        return means, len(prompt) + sum(len(x) for x in label_ids)

    def info(self) -> dict[str, Any]:
        from agents.protocol import TaskKind

        lm = self.lm
        params = list(lm.model.parameters())
        method = self.spec.classify_method
        if method is None and TaskKind.CLASSIFY in self.spec.tasks:
            method = "likelihood" if lm.kind == "causal" else "similarity"
        return {
            "agent": self.spec.name,
            "model": self.spec.model,
            "engine": "transformers",
            "architecture": (getattr(lm.model.config, "architectures", None) or [type(lm.model).__name__])[0],
            "kind": lm.kind,
            "parameters": sum(p.numel() for p in params),
            "weight_bytes": sum(p.numel() * p.element_size() for p in params),
            "device": str(lm.device),
            "dtype": str(lm.dtype).removeprefix("torch."),
            "tasks": [t.value for t in self.spec.tasks],
            "classify_method": method,
            "load_s": round(lm.load_s, 3),
            "batching": "continuous" if self._batcher is not None else "whole batch",
            **self.stats(),
            "gguf_cache": lm.gguf_cache,
            "gguf_cache_hit": lm.gguf_cache_hit,
        }


__all__ = ["TransformersEngine"]
