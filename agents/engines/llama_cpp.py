"""The ``llama_cpp`` engine: a GGUF file on llama.cpp's own server engine, in-process.

The binding is ``xllamacpp`` (prebuilt CPU wheels on PyPI; see benchmarks/RESULTS.md for
why it was chosen over a source build of ``llama-cpp-python``). It embeds llama.cpp's C++
server loop, which is the field's reference for CPU serving:

- **continuous batching**: a fixed pool of slots (``batching.max_batch_size``, plus
  ``batching.express_slots`` that take only short requests, in a second context with threads
  of its own when ``batching.express_threads`` is set), each slot
  a KV-cache sequence; every step decodes one token for each generating slot plus prompt
  chunks of newly admitted requests in one ``llama_decode`` call, and a slot is freed the
  moment its request finishes;
- **admission**: requests beyond the slots wait in our queue, not llama.cpp's first-come
  queue, and enter shortest expected work first with aging (``agents.engines.admission``),
  so a short request is not stuck behind a burst of long generations;
- **prefix reuse**: our admission picks the slot (``id_slot``): the free slot whose cached
  prompt shares the longest prefix with the request, and for a freed slot the waiting
  request that would finish soonest in it, counting the prompt it would not have to
  recompute; the shared task instruction, schema and examples stay in the slots that use
  them;
- **grammars**: JSON schemas become llguidance grammars (the constrained-decoding library
  built into this llama.cpp), and the GGUF's own chat template renders messages.

Every public method is thread-safe and blocks only its caller: the Serve replica submits
each request from its own thread and llama.cpp batches them together.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from agents.engines.admission import Admission
from agents.engines.base import LRU, GenResult, Job, OnText
from agents.errors import AgentError, InvalidRequest, ModelLoadError, SpecError
from orchestrator.logging import get_logger

log = get_logger(component="llama_cpp")

# llama.cpp logs every slot event at info level; keep warnings and errors.
_QUIET = 1


def _usage(resp: dict[str, Any]) -> tuple[int, int, int]:
    u = resp.get("usage") or {}
    cached = int((u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), cached


class LlamaCppEngine:
    """One agent's GGUF model on llama.cpp. Build with ``LlamaCppEngine(spec, threads=...).load()``."""

    engine_name = "llama_cpp"
    concurrent = True
    kind: Literal["causal", "encoder"] = "causal"

    def __init__(self, spec: Any, *, threads: int = 1, device: str = "cpu") -> None:
        self.spec = spec
        self.name: str = spec.name
        self.threads = max(1, threads)
        self.device = device
        self.slots = spec.batching.max_batch_size
        self.express = spec.batching.express_slots
        self.slot_ctx = spec.max_input_tokens + spec.generation.max_new_tokens
        # llama.cpp's own queue is first come, first served; ours orders by expected work so
        # a short request is not stuck behind a burst of long ones.
        self.admission = Admission(self.slots, express=self.express,
                                   express_max_new_tokens=spec.batching.express_max_new_tokens,
                                   lane=bool(spec.batching.express_threads))
        self.caches: dict[str, LRU] = {}
        self.adapters: list[str] = []
        self._adapter_files: list[Path] = []
        # Adapter name -> its ToolRouter: tool_call requests on that adapter are routed first.
        self.routers: dict[str, Any] = {}
        # The split Q4_1 weights' offsets (agents.models.q4_split): adapter 0, on every request.
        self._offsets: Path | None = None
        self._server: Any = None
        # The express slots' own llama.cpp context (batching.express_threads), or None.
        self._lane: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._stats_lock = threading.Lock()
        self._prompt_tokens = 0
        self._cached_tokens = 0
        self._requests = 0
        self._cancelled = 0
        self.load_s = 0.0
        # The GGUF file served: the spec's, or its requantized copy.
        self.path: Path | None = None
        # Reuse cached prompt prefixes (benchmarks turn it off to measure what it saves).
        self.reuse_prefix = True

    # -- loading ------------------------------------------------------------------------

    def load(self) -> LlamaCppEngine:
        try:
            import xllamacpp as xlc
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise ModelLoadError(f"engine 'llama_cpp' needs the xllamacpp package: {exc}", agent=self.name) from exc
        source = self.spec.source()
        path = source.gguf_path
        if path is None:
            raise SpecError(
                f"engine 'llama_cpp' needs a local GGUF file; {self.spec.model!r} is not one "
                "(use engine: transformers for Hugging Face models)",
                agent=self.name,
            )
        started = time.perf_counter()
        if self.spec.requantize:
            from agents.models.requant import requantized

            try:
                path = requantized(path, self.spec.requantize)
            except Exception as exc:
                raise ModelLoadError(f"cannot requantize {path} to {self.spec.requantize}: {exc}",
                                     agent=self.name) from exc
        if self.spec.split_q4_1:
            from agents.models.q4_split import split_q4_1

            try:
                split = split_q4_1(path)
            except Exception as exc:
                raise ModelLoadError(f"cannot split the Q4_1 weights of {path}: {exc}", agent=self.name) from exc
            if split is not None:
                path, self._offsets = split.model, split.offsets
        self.path = path
        trained = _trained_context(path)
        if trained:
            # llama.cpp gives no slot more than the model was trained on.
            self.slot_ctx = min(self.slot_ctx, trained)
        from agents.spec import adapter_file, adapter_name

        # A context's parameters name the adapter files in this order; requests name them.
        # Resolved once: with a lane, two contexts load the same files.
        self.adapters = [adapter_name(ref) for ref in self.spec.adapters]
        self._adapter_files = [adapter_file(ref, None) for ref in self.spec.adapters]
        self._warn_mismatched_adapters()
        self.routers = self._load_routers()
        lane = self.spec.batching.express_threads
        main_slots = self.slots + (0 if lane else self.express)
        try:
            self._server = _running(xlc.Server(self._params(xlc, path, main_slots, self.threads)))
            if lane:
                # Same file, so the weights are mapped once; only the context is the lane's own.
                self._lane = _running(xlc.Server(self._params(xlc, path, self.express, lane)))
        except Exception as exc:
            raise ModelLoadError(f"llama.cpp cannot load {path}: {exc}", agent=self.name) from exc
        self._pool = ThreadPoolExecutor(max_workers=self.slots + self.express, thread_name_prefix=f"llama-{self.name}")
        self.load_s = time.perf_counter() - started
        log.info("model_loaded", agent=self.name, engine="llama_cpp", model=str(path), slots=self.slots,
                 express_slots=self.express, lane_threads=lane, slot_ctx=self.slot_ctx, threads=self.threads,
                 load_s=round(self.load_s, 2))
        return self

    def _warn_mismatched_adapters(self) -> None:
        """A LoRA learns the corrections its own base weights need: one trained on the file's
        weights loses quality on the Q4_0 copy and the other way round (RESULTS.md)."""
        from agents.spec import adapter_meta, adapter_name

        for ref in self.spec.adapters:
            meta = adapter_meta(ref)
            if meta is None or meta.method != "lora":
                continue
            trained = meta.hyperparameters.get("base_requantize")
            if trained != self.spec.requantize:
                log.warning("adapter_trained_on_other_weights", agent=self.name, adapter=adapter_name(ref),
                            trained_on=trained or "the file's own", served_on=self.spec.requantize or "the file's own",
                            fix="retrain it on this agent (slmflow train --base AGENT) or match requantize")

    def _load_routers(self) -> dict[str, Any]:
        """The tool routers trained with the adapters (``agents.specialists.router``), by adapter name."""
        if not any(t.value == "tool_call" for t in self.spec.tasks):
            return {}
        from agents.specialists.router import load_routers

        try:
            return load_routers(dict(zip(self.adapters, self._adapter_files, strict=True)), threads=self.threads)
        except Exception as exc:
            raise ModelLoadError(f"cannot load the adapters' tool routers: {exc}", agent=self.name) from exc

    def _params(self, xlc: Any, path: Any, slots: int, threads: int) -> Any:
        p = xlc.CommonParams()
        p.model.path = str(path)
        p.n_parallel = slots
        # One context per slot, each big enough for the agent's longest request: a longer
        # prompt is refused with the sizes named instead of evicting other sequences.
        p.n_ctx = slots * self.slot_ctx
        p.kv_unified = False
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.n_gpu_layers = 0 if self.device == "cpu" else -1
        p.verbosity = _QUIET
        p.endpoint_metrics = True
        # The embedded server also listens on a loopback port; nobody but this process
        # may use it, so it gets a key nobody knows.
        p.api_keys = [secrets.token_hex(24)]
        p.n_threads_http = 1
        p.warmup = True
        files = ([self._offsets] if self._offsets else []) + self._adapter_files
        if files:
            infos = []
            for path in files:
                info = xlc.CommonAdapterLoraInfo()
                info.path = str(path)
                # The offsets are part of the weights: on even for a request that names no scales.
                info.scale = 1.0 if path == self._offsets else 0.0
                infos.append(info)
            p.lora_adapters = infos
            # Loaded once, applied per request: every request names the scale of each.
            p.lora_init_without_apply = True
        return p

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.routers:
            from agents.specialists.router import close_routers

            close_routers(self.routers)
        self._server = None
        self._lane = None

    def cache(self, name: str, maxsize: int = 1024) -> LRU:
        if name not in self.caches:
            self.caches[name] = LRU(maxsize)
        return self.caches[name]

    # -- requests -----------------------------------------------------------------------

    def _body(self, job: Job) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": job.max_new_tokens,
            "temperature": job.temperature,
            "top_p": job.top_p,
            # Same sampling as the transformers engine: temperature and nucleus only.
            "top_k": 0,
            "min_p": 0.0,
            "cache_prompt": self.reuse_prefix,
        }
        if job.stop:
            body["stop"] = list(job.stop)
        if job.seed is not None:
            body["seed"] = int(job.seed)
        if job.json_schema is not None:
            body["grammar"] = _json_grammar(job.json_schema)
        if self._offsets or self.adapters or job.adapter is not None:
            body["lora"] = self._lora(job.adapter)
        if job.messages is not None:
            body["messages"] = job.messages
        else:
            body["prompt"] = job.prompt or ""
        return body

    def _lora(self, adapter: str | None) -> list[dict[str, Any]]:
        """The scale of every loaded adapter for one request. Always all of them: a request that
        names none would otherwise inherit whatever the slot last ran with."""
        if adapter is not None and adapter not in self.adapters:
            served = ", ".join(self.adapters) or "none"
            raise InvalidRequest(f"adapter {adapter!r} is not served by this agent; adapters: {served}",
                                 agent=self.name)
        offsets = [{"id": 0, "scale": 1.0}] if self._offsets else []
        first = len(offsets)
        return offsets + [{"id": first + i, "scale": 1.0 if name == adapter else 0.0}
                          for i, name in enumerate(self.adapters)]

    def _call(self, body: dict[str, Any], slot: int, on_chunk: Any = None) -> Any:
        """Run ``body`` in admission slot ``slot``: one of the main context's, or of the lane's."""
        server = self._server
        if self._lane is not None and slot >= self.slots:
            server, slot = self._lane, slot - self.slots
        if server is None:
            raise AgentError("llama.cpp engine is not loaded", agent=self.name)
        body = {**body, "id_slot": slot}
        handler = server.handle_chat_completions if "messages" in body else server.handle_completions
        if on_chunk is None:
            return handler(body)
        return handler({**body, "stream": True, "stream_options": {"include_usage": True}}, on_chunk)

    def _error(self, resp: dict[str, Any]) -> AgentError:
        err = resp.get("error") or {}
        msg = err.get("message") or str(resp)
        kind = err.get("type", "")
        if err.get("code") == 400 or kind in {"exceed_context_size_error", "invalid_request_error"}:
            if kind == "exceed_context_size_error":
                msg = (f"input is {err.get('n_prompt_tokens')} tokens; this agent takes at most "
                       f"{self.slot_ctx} per request (max_input_tokens + max_new_tokens)")
            return InvalidRequest(msg, agent=self.name)
        return AgentError(f"llama.cpp: {msg}", agent=self.name)

    def _record(self, tokens_in: int, cached: int) -> None:
        with self._stats_lock:
            self._requests += 1
            self._prompt_tokens += tokens_in
            self._cached_tokens += cached

    def _result(self, job: Job, resp: dict[str, Any]) -> GenResult | AgentError:
        if "error" in resp:
            return self._error(resp)
        choice = resp["choices"][0]
        text = choice["message"].get("content") or "" if "message" in choice else choice.get("text", "")
        tokens_in, tokens_out, cached = _usage(resp)
        self._record(tokens_in, cached)
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return GenResult(text=text, finish_reason=reason, tokens_in=tokens_in, tokens_out=tokens_out,
                         cached_tokens=cached)

    def _one(self, job: Job) -> GenResult | AgentError:
        try:
            body = self._body(job)
            with self.admission.enter(job.max_new_tokens, _cache_key(body)) as slot:
                resp = self._call(body, slot)
            return self._result(job, resp)
        except AgentError as exc:
            return exc
        except Exception as exc:
            return AgentError(f"llama.cpp failed: {type(exc).__name__}: {exc}", agent=self.name)

    def generate(self, jobs: list[Job]) -> list[GenResult | AgentError]:
        if len(jobs) == 1:
            return [self._one(jobs[0])]
        assert self._pool is not None
        # Submitted together so llama.cpp decodes them in the same steps.
        return list(self._pool.map(self._one, jobs))

    def stream(self, job: Job, on_text: OnText) -> GenResult:
        pieces: list[str] = []
        final: dict[str, Any] = {}
        error: dict[str, Any] = {}

        def on_chunk(chunk: dict[str, Any]) -> bool:
            if "error" in chunk:
                error.update(chunk)
                return True
            if chunk.get("usage"):
                final["usage"] = chunk["usage"]
            for choice in chunk.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
                if choice.get("finish_reason"):
                    final["finish_reason"] = choice["finish_reason"]
                if piece:
                    pieces.append(piece)
                    if on_text(piece):
                        final.setdefault("finish_reason", "stop")
                        with self._stats_lock:
                            self._cancelled += 1
                        return True
            return False

        body = self._body(job)
        with self.admission.enter(job.max_new_tokens, _cache_key(body)) as slot:
            self._call(body, slot, on_chunk)
        if error:
            raise self._error(error)
        tokens_in, tokens_out, cached = _usage(final)
        self._record(tokens_in, cached)
        reason = "length" if final.get("finish_reason") == "length" else "stop"
        return GenResult(text="".join(pieces), finish_reason=reason, tokens_in=tokens_in,
                         tokens_out=tokens_out or len(pieces), cached_tokens=cached)

    def label_logprobs(self, messages: list[dict[str, str]], labels: list[str]) -> tuple[list[float], int]:
        """Each label forced by a one-string grammar; its tokens' log-probabilities come from
        the raw distribution (before the grammar), which is the label's likelihood. The
        requests share the prompt, so all but the first reuse its KV cache."""

        def score(label: str) -> tuple[float, int]:
            grammar = "root ::= " + _gbnf_literal(label)
            body = {"messages": messages, "max_tokens": 64, "temperature": 0.0, "grammar": grammar,
                    "logprobs": True, "top_logprobs": 1, "cache_prompt": self.reuse_prefix}
            if self._offsets or self.adapters:
                body["lora"] = self._lora(None)
            with self.admission.enter(len(label), _cache_key(body)) as slot:
                resp = self._call(body, slot)
            if "error" in resp:
                raise self._error(resp)
            tokens_in, _, cached = _usage(resp)
            self._record(tokens_in, cached)
            content = (resp["choices"][0].get("logprobs") or {}).get("content") or []
            # The end-of-generation token after the label carries no label text.
            lps = [t["logprob"] for t in content if t.get("token")]
            return (sum(lps) / len(lps) if lps else float("-inf")), tokens_in

        assert self._pool is not None
        scored = list(self._pool.map(score, labels))
        return [s for s, _ in scored], (scored[0][1] if scored else 0)

    # -- reporting ----------------------------------------------------------------------

    def busy_slots(self) -> int:
        """Sequences llama.cpp is decoding right now (its own metric)."""
        busy = 0
        for server in (self._server, self._lane):
            if server is None:
                continue
            for line in server.handle_metrics().splitlines():
                if line.startswith("llamacpp:requests_processing"):
                    busy += int(float(line.split()[-1]))
        return busy

    def stats(self) -> dict[str, Any]:
        """Requests served, prompt tokens and how many came from reused prefixes, streams the
        caller stopped early."""
        with self._stats_lock:
            hit = self._cached_tokens / self._prompt_tokens if self._prompt_tokens else 0.0
            return {"requests": self._requests, "prompt_tokens": self._prompt_tokens,
                    "cached_prompt_tokens": self._cached_tokens, "prefix_cache_hit_rate": round(hit, 4),
                    "streams_cancelled": self._cancelled, **self.admission.stats()}

    def info(self) -> dict[str, Any]:
        size = 0
        if self._server and self.path:
            size = sum(os.path.getsize(p) for p in (self.path, self._offsets) if p)
        return {
            "agent": self.name,
            "model": self.spec.model,
            "engine": "llama_cpp",
            "kind": self.kind,
            "weight_bytes": size,
            "device": self.device,
            "dtype": "gguf",
            "tasks": [t.value for t in self.spec.tasks],
            "classify_method": "likelihood" if any(t.value == "classify" for t in self.spec.tasks) else None,
            "slots": self.slots,
            "express_slots": self.express,
            "express_threads": self.spec.batching.express_threads,
            "adapters": list(self.adapters),
            "tool_routers": sorted(self.routers),
            "q4_1_split": self._offsets is not None,
            "slot_context": self.slot_ctx,
            "threads": self.threads,
            "load_s": round(self.load_s, 3),
            **self.stats(),
        }


def _cache_key(body: dict[str, Any]) -> str:
    """What a slot's key/value cache will hold after this request, as text whose prefixes
    follow the prompt's: the adapter (another adapter's cache is of no use), then the
    messages in order or the prompt."""
    lora = ",".join(str(a["id"]) for a in body.get("lora") or [] if a["scale"])
    if "messages" in body:
        text = "".join(f"\x1e{m.get('role')}\x1f{m.get('content')}" for m in body["messages"])
    else:
        text = str(body.get("prompt", ""))
    return f"{lora}\x1d{text}"


def _json_grammar(schema: dict[str, Any]) -> str:
    """An llguidance grammar for JSON matching ``schema``, in compact form (one space after
    separators, no newlines) as the transformers engine's xgrammar writes it: a small model
    given free whitespace spends its token budget on indentation and runs out mid-string.
    (llama.cpp's ``json_schema`` request field takes no such option.)"""
    options = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", "}
    return "%llguidance {}\nstart: %json " + json.dumps({**_strict(schema), "x-guidance": options})


def _strict(schema: Any) -> Any:
    """Objects that do not say otherwise take no keys beyond their properties, as under the
    transformers engine's xgrammar (strict mode): both engines give the same guarantee."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) if k in _SUBSCHEMAS else v for k, v in schema.items()}
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        if isinstance(schema.get(key), dict):
            out[key] = {name: _strict(sub) for name, sub in schema[key].items()}
    if "properties" in schema and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


_SUBSCHEMAS = {"items", "prefixItems", "anyOf", "oneOf", "allOf", "not", "additionalProperties", "contains"}


def _running(server: Any) -> Any:
    """``server``, once its task loop runs.

    xllamacpp's Server returns before its thread enters llama.cpp's task loop, and the loop
    sets ``running = true`` on entry: a terminate (closing the server) sent in between is
    lost, and the close then waits forever for the loop. A request comes back only from the
    running loop, so after one a close always ends it.
    """
    server.handle_completions({"prompt": "a", "max_tokens": 1, "temperature": 0.0, "cache_prompt": False})
    return server


def _trained_context(path: Any) -> int | None:
    """The GGUF's ``<arch>.context_length``, read from its header."""
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
        field = reader.fields.get(f"{arch}.context_length")
        return int(field.parts[-1][0]) if field is not None else None
    except Exception:  # an unusual header: llama.cpp itself still applies the limit
        return None


def _gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


__all__ = ["LlamaCppEngine"]
