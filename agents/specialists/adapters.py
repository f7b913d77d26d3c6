"""Train a LoRA specialist for ``extract``, ``tool_call`` or ``chat`` on a causal GGUF base.

Training runs PEFT on the transformers copy of the base (the GGUF dequantised once), on the
very prompts the runtime builds for the task (``agents.tasks.extract.messages`` and so on,
under the model's chat template), with the loss on the answer only. The answer is written
as the serving grammar writes it (compact JSON, keys in schema order). The adapter is saved
as a GGUF LoRA (``adapter.gguf``) that the llama_cpp engine applies per request, so one base
replica serves every adapter; evaluation runs through that same serving path, with and
without the adapter, on held-out rows.

Data (JSONL), one of:
- extract: ``{"text", "output"}`` (+ optional ``"schema"``, ``"instruction"``); without a
  schema, one is inferred from the outputs (every key seen is required, types as seen);
- tool_call: ``{"text" | "messages", "tools", "tool_call": {"name", "arguments"}}``;
- chat: ``{"messages": [..., {"role": "assistant", "content": answer}]}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.specialists.data import DataError
from agents.specialists.registry import DataInfo, Registry, SpecialistMeta, check_name
from agents.specialists.train import TrainError, TrainResult, fleet_agent
from orchestrator.logging import get_logger

log = get_logger(component="specialists.adapters")

ADAPTER_FILE = "adapter.gguf"
# Every linear layer of the blocks: the answer's format lives as much in the MLPs as in attention.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TASKS = ("extract", "tool_call", "chat")
MAX_MISTAKES = 10  # wrong answers kept in an eval report
Progress = Callable[[str, int, int], None]


@dataclass
class Row:
    request: Any  # the typed task request, as a caller would send it
    target: Any  # the answer: a JSON value (extract, tool_call) or text (chat)


def compact(value: Any) -> str:
    """JSON as both engines' grammars write it: one space after ':' and ','; no newlines."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def infer_schema(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """An object schema covering ``outputs``: every key seen, typed as seen, all required."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}
    props: dict[str, set[str]] = {}
    for out in outputs:
        for key, value in out.items():
            props.setdefault(key, set()).add("null" if value is None else kinds.get(type(value), "string"))
    schema_props = {k: {"type": sorted(t)[0] if len(t) == 1 else sorted(t)} for k, t in props.items()}
    return {"type": "object", "properties": schema_props, "required": list(props), "additionalProperties": False}


def load_rows(path: str | os.PathLike[str], task: str) -> tuple[list[Row], str]:
    """The rows of a JSONL file for ``task`` and the file's sha256; errors name the line."""
    from agents.protocol import ChatRequest, ExtractRequest, ToolCallRequest

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc}") from exc
    objs: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{n}: not JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{n}: expected a JSON object")
        objs.append((n, obj))
    if not objs:
        raise DataError(f"{path}: no rows")
    rows: list[Row] = []
    if task == "extract":
        bad = [n for n, o in objs if not isinstance(o.get("text"), str) or not isinstance(o.get("output"), dict)]
        if bad:
            raise DataError(f"{path}:{bad[0]}: an extract row needs \"text\" (a string) and \"output\" (an object)")
        shared = infer_schema([o["output"] for _, o in objs if "schema" not in o])
        for _, o in objs:
            req = ExtractRequest(text=o["text"], json_schema=o.get("schema") or shared, instruction=o.get("instruction"))
            keys = list(req.json_schema.get("properties", {}))
            # Keys in the schema's order, as the grammar emits them.
            target = {k: o["output"][k] for k in keys if k in o["output"]} if keys else o["output"]
            rows.append(Row(req, target))
    elif task == "tool_call":
        for n, o in objs:
            call = o.get("tool_call")
            if not isinstance(call, dict) or "name" not in call or not o.get("tools"):
                raise DataError(f"{path}:{n}: a tool_call row needs \"tools\" and \"tool_call\": {{name, arguments}}")
            try:
                req = ToolCallRequest(text=o.get("text"), messages=o.get("messages"), tools=o["tools"])
            except ValueError as exc:
                raise DataError(f"{path}:{n}: {exc}") from exc
            rows.append(Row(req, {"name": call["name"], "arguments": call.get("arguments", {})}))
    elif task == "chat":
        for n, o in objs:
            msgs = o.get("messages")
            if not isinstance(msgs, list) or len(msgs) < 2 or msgs[-1].get("role") != "assistant":
                raise DataError(f"{path}:{n}: a chat row needs \"messages\" ending with the assistant's answer")
            rows.append(Row(ChatRequest(messages=msgs[:-1]), str(msgs[-1].get("content", ""))))
    else:
        raise TrainError(f"adapters train {', '.join(TASKS)}; got task {task!r}")
    return rows, hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class GgufBase:
    """The GGUF base a LoRA specialist trains on and is served on."""

    model: str
    max_input_tokens: int
    # The base agent's ``requantize``: it serves a Q4_0 copy, so the adapter trains on that copy.
    requantize: str | None = None

    def weights(self) -> str:
        """The GGUF file whose weights the served base computes with: training must see the same."""
        if not self.requantize:
            return self.model
        from agents.models.requant import requantized
        from agents.models.source import resolve_source

        path = resolve_source(self.model).gguf_path
        assert path is not None  # resolve_gguf_base checked it
        return str(requantized(path, self.requantize))


def resolve_gguf_base(base: str, fleet: Any = None) -> GgufBase:
    """The GGUF base for ``--base``: a fleet agent on a GGUF (with its requantization), or a GGUF path."""
    from agents.models.source import resolve_source

    _, spec = fleet_agent(base, fleet)
    found = (GgufBase(spec.model, spec.max_input_tokens, spec.requantize) if spec is not None
             else GgufBase(base, 2048))
    try:
        src = resolve_source(found.model)
    except ValueError as exc:
        raise TrainError(f"--base {base!r} is neither an agent of the fleet nor a model: {exc}") from exc
    if src.gguf_path is None:
        raise TrainError(f"--base {base!r}: a LoRA specialist is served on the llama_cpp engine, which needs a "
                         "local GGUF base (e.g. the fleet's smollm2)")
    return found


def _messages(task: str, req: Any) -> list[dict[str, str]]:
    from agents.tasks import extract, tool_call

    if task == "extract":
        return extract.messages(req)
    if task == "tool_call":
        return tool_call.messages(req)
    return [m.model_dump() for m in req.messages]


def _target_text(task: str, target: Any) -> str:
    return target if task == "chat" else compact(target)


def _sequences(engine: Any, task: str, rows: list[Row]) -> tuple[list[tuple[list[int], list[int]]], list[list[int]]]:
    """(prompt, answer) token ids per row, and per row the answer positions where a JSON string
    value begins (see ``value_starts``; none for chat)."""
    tok = engine.lm.tokenizer
    eos = tok.eos_token_id
    seqs, starts = [], []
    for row in rows:
        prompt = engine.chat_ids(_messages(task, row.request))
        text = _target_text(task, row.target)
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=tok.is_fast and task != "chat")
        seqs.append((prompt, [*enc["input_ids"], eos]))
        offsets = enc.get("offset_mapping")
        starts.append(value_starts(text, offsets) if offsets is not None else [])
    return seqs, starts


def value_starts(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """Indices of the tokens of compact JSON ``text`` that begin a string value's content.

    At those positions a grammar lets the model begin the value with a space, and a model
    copying a word from the input is drawn to the space-prefixed form it read there
    (`` wireless`` rather than ``wire``): the answer comes out as ``" wireless mouse"``. Only
    values whose first character is not whitespace, and whose first token starts exactly at
    that character, count (keys are fixed by the schema)."""
    begins: list[int] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] != '"':
            i += 1
            continue
        j = i + 1
        while j < n and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        # A key is followed by ':'; anything else is a value.
        if text[j + 1 : j + 2] != ":" and j > i + 1 and not text[i + 1].isspace():
            begins.append(i + 1)
        i = j + 1
    by_start = {start: k for k, (start, end) in enumerate(offsets) if end > start}
    return [by_start[b] for b in begins if b in by_start]


def space_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens whose text begins with whitespace (SentencePiece's ``▁`` pieces too,
    which a single-token decode may strip)."""
    ids = list(range(len(tokenizer)))
    texts = tokenizer.batch_decode([[i] for i in ids])
    pieces = tokenizer.convert_ids_to_tokens(ids)
    return [i for i, text, piece in zip(ids, texts, pieces, strict=True)
            if text[:1].isspace() or (isinstance(piece, str) and piece.startswith("\u2581"))]


def shared_prefix(seqs: list[tuple[list[int], list[int]]]) -> int:
    """Tokens every prompt starts with, leaving each prompt at least its last token.

    The runtime's prompts for one task share the chat template, the instruction and (for
    extract and tool_call) the schema or tool listing: most of each prompt. The last prompt
    token stays out, since its logits predict the answer's first token.
    """
    if not seqs:
        return 0
    first = seqs[0][0]
    n = min(len(p) for p, _ in seqs) - 1
    for p, _ in seqs[1:]:
        while n > 0 and p[:n] != first[:n]:
            n = next((i for i in range(n) if p[i] != first[i]), n)
    return max(0, n)


def _batch_loss(model: Any, batch: list[tuple[list[int], list[int]]], shared: int, pad: int,
                starts: list[list[int]] | None = None, space_ids: Any = None, space_weight: float = 0.0) -> Any:
    """Mean cross-entropy on the answers of ``batch``; the first ``shared`` prompt tokens run once.

    With ``space_weight``, plus that weight times the mean over the string values' first tokens
    (``starts``, per row) of -log(1 - p(any token in ``space_ids``)): an unlikelihood term that
    teaches the model not to open a value with a space (cross-entropy alone pushes the right
    token up, but on unseen values the copy of the input's `` word`` stays a close second).

    With a shared prefix, the prefix goes through the model once (batch 1) and its key/value
    cache, repeated for each row, precedes the rows' own tokens: the same attention as over
    the whole sequences, and the gradient reaches the adapted layers through the cache. On a
    CPU this roughly halves a step, as the prefix is most of every prompt.
    """
    import torch

    rest = [(p[shared:], a) for p, a in batch]
    width = max(len(p) + len(a) for p, a in rest)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (p, a) in enumerate(rest):
        seq = p + a
        ids[r, : len(seq)] = torch.tensor(seq)
        mask[r, : len(seq)] = 1
        # Loss on the answer only: the prompt is what serving gives the model.
        labels[r, len(p) : len(seq)] = torch.tensor(a)
    if not shared:
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    else:
        prefix = torch.tensor([batch[0][0][:shared]])
        pre = model(input_ids=prefix, use_cache=True)
        cache = getattr(pre, "cache", None) or pre.past_key_values
        cache.batch_repeat_interleave(len(batch))
        full_mask = torch.cat([torch.ones((len(batch), shared), dtype=torch.long), mask], dim=1)
        positions = torch.arange(shared, shared + width).unsqueeze(0).expand(len(batch), -1)
        out = model(input_ids=ids, attention_mask=full_mask, position_ids=positions, cache=cache,
                    labels=labels, use_cache=True)
    if not space_weight or not starts or space_ids is None:
        return out.loss
    # The logits at position t predict token t + 1: a value's first answer token k is predicted
    # from position len(prompt part) + k - 1.
    rows = [r for r, (p, _) in enumerate(rest) for k in starts[r]]
    cols = [len(p) + k - 1 for (p, _), ks in zip(rest, starts, strict=True) for k in ks]
    if not rows:
        return out.loss
    logp = torch.log_softmax(out.logits[rows, cols].float(), dim=-1)
    p_space = logp[:, space_ids].exp().sum(-1).clamp(max=1 - 1e-6)
    return out.loss + space_weight * (-torch.log1p(-p_space)).mean()


def _train(engine: Any, seqs: list[tuple[list[int], list[int]]], *, epochs: int, rank: int, lr: float,
           batch_size: int, layers: int | None, seed: int, progress: Progress | None,
           share_prefix: bool = True, starts: list[list[int]] | None = None,
           space_weight: float = 0.0) -> tuple[Any, dict[str, Any]]:
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

    torch.manual_seed(seed)
    n_layers = engine.lm.model.config.num_hidden_layers
    # Adapting only the top layers keeps backpropagation out of the bottom ones: on a CPU that
    # is most of a training step.
    top = list(range(max(0, n_layers - layers), n_layers)) if layers else None
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                        target_modules=list(TARGET_MODULES), layers_to_transform=top)
    model = get_peft_model(engine.lm.model, config)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    pad = engine.lm.tokenizer.pad_token_id or 0
    order = list(range(len(seqs)))
    rng = random.Random(seed)
    steps = epochs * ((len(seqs) + batch_size - 1) // batch_size)
    done, losses = 0, []
    shared = shared_prefix(seqs) if share_prefix else 0
    space_ids = torch.tensor(space_token_ids(engine.lm.tokenizer)) if space_weight and starts else None
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            picked = order[start : start + batch_size]
            batch = [seqs[i] for i in picked]
            loss = _batch_loss(model, batch, shared, pad, [starts[i] for i in picked] if starts else None,
                               space_ids, space_weight)
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(float(loss.detach()))
            done += 1
            if progress:
                progress("training adapter", done, steps)
    model.eval()
    state = get_peft_model_state_dict(model)
    tail = losses[-max(1, len(losses) // 5) :]
    return state, {"steps": steps, "shared_prefix_tokens": shared, "final_loss": round(sum(tail) / len(tail), 4), "first_loss": round(losses[0], 4)}


def copies_input(task: str, rows: list[Row]) -> bool:
    """Whether every answer's free string fields are verbatim spans of its input: then the
    specialist is served extractive (``agents.tasks._spans``), as it was trained to answer."""
    from jsonschema import Draft202012Validator

    from agents.tasks._spans import extractive_schema
    from agents.tasks.tool_call import call_schema, user_text

    if task not in ("extract", "tool_call") or not rows:
        return False
    for row in rows:
        req = row.request
        schema, text = (req.json_schema, req.text) if task == "extract" else (call_schema(req.tools), user_text(req))
        if next(Draft202012Validator(extractive_schema(schema, text)).iter_errors(row.target), None) is not None:
            return False
    return True


def answers(runner: Any, task: str, requests: list[Any], adapter: str | None, extractive: bool = False) -> list[Any]:
    """Serve ``requests`` through ``runner`` (llama_cpp, with or without ``adapter``), all at once; the
    responses in order."""

    def one(request: Any) -> Any:
        update: dict[str, Any] = {"adapter": adapter}
        if task != "chat":
            update["extractive"] = extractive
        return runner.run_batch(task, [request.model_copy(update=update)])[0]

    with ThreadPoolExecutor(max_workers=max(1, runner.spec.batching.max_batch_size)) as pool:
        return list(pool.map(one, requests))


def evaluate(runner: Any, task: str, rows: list[Row], adapter: str | None, extractive: bool = False) -> dict[str, Any]:
    """Serve ``rows`` through ``runner`` (llama_cpp, with or without ``adapter``), all at once, and score them."""
    from jsonschema import Draft202012Validator

    outs = answers(runner, task, [row.request for row in rows], adapter, extractive)
    n = len(rows)
    if task == "chat":
        exact = sum(getattr(o, "text", None) == r.target for o, r in zip(outs, rows, strict=True))
        return {"exact_match": round(exact / n, 4)}
    valid = fields = field_total = exact = tool_right = 0
    per_field: dict[str, list[int]] = {}
    mistakes: list[dict[str, Any]] = []
    for out, row in zip(outs, rows, strict=True):
        got = out.data if task == "extract" and hasattr(out, "data") else (
            {"name": out.name, "arguments": out.arguments} if hasattr(out, "arguments") else None)
        gold, whole = row.target, got
        schema = row.request.json_schema if task == "extract" else None
        ok = got is not None and (schema is None or not list(Draft202012Validator(schema).iter_errors(got)))
        valid += ok
        exact += got == gold
        if task == "tool_call":
            tool_right += got is not None and got.get("name") == gold["name"]
            gold, got = gold["arguments"], (got or {}).get("arguments")
        field_total += len(gold)
        for k, v in gold.items():
            right = isinstance(got, dict) and got.get(k) == v
            fields += right
            per_field.setdefault(k, [0, 0])[0] += right
            per_field[k][1] += 1
        if whole != row.target and len(mistakes) < MAX_MISTAKES:
            # What went wrong, so a configuration can be judged by its errors (not only a score).
            mistakes.append({"text": getattr(row.request, "text", None), "gold": row.target,
                             "got": whole if whole is not None else str(out)[:200]})
    metrics = {"schema_valid": round(valid / n, 4), "exact_fields": round(fields / max(1, field_total), 4),
               "exact_match": round(exact / n, 4),
               "per_field": {k: round(r / t, 4) for k, (r, t) in per_field.items()}, "mistakes": mistakes}
    if task == "tool_call":
        metrics["tool_accuracy"] = round(tool_right / n, 4)
    return metrics


def router_report(runner: Any, rows: list[Row], extractive: bool) -> dict[str, Any]:
    """What the router adds: how often it decides on ``rows``, how often rightly, and the adapter's
    scores without it (the served scores are the report's own)."""
    router = runner.engine.routers["adapter"]
    picked = router.choose([row.request for row in rows])
    decided = [(p, row.target["name"]) for p, row in zip(picked, rows, strict=True) if p is not None]
    routers, runner.engine.routers = runner.engine.routers, {}
    try:
        alone = evaluate(runner, "tool_call", rows, "adapter", extractive)
    finally:
        runner.engine.routers = routers
    return {"theta": router.theta, "decided": round(len(decided) / len(rows), 4),
            "decided_accuracy": round(sum(p == g for p, g in decided) / len(decided), 4) if decided else None,
            "adapter_alone": {k: alone[k] for k in ("tool_accuracy", "exact_match", "exact_fields", "schema_valid")}}


def train_adapter(
    name: str,
    *,
    task: str,
    base: str,
    data: str | os.PathLike[str],
    eval_data: str | os.PathLike[str] | None = None,
    fleet: Any = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    # 2 epochs: chosen on the validation split of the extraction data (benchmarks/specialize_validate.py),
    # where one epoch left the one field that needs judgement (urgency) at 48%.
    epochs: int = 2,
    rank: int = 8,
    lr: float = 2e-3,
    batch_size: int = 8,
    layers: int | None = 12,
    threads: int = 0,
    registry: Registry | None = None,
    progress: Progress | None = None,
    compare_base: bool = True,
    space_weight: float = 0.0,
    extractive: bool | None = None,
    router: str | None = None,
    router_theta: float | None = None,
) -> TrainResult:
    """Train a LoRA adapter for ``name``; evaluate it through the llama_cpp engine; write a version.

    ``extractive``: serve (and evaluate) it with free string fields held to spans of the
    input; None decides from the data: on when every training answer copies its input.
    ``router`` (tool_call only): also train a tool router over that encoder (an agent such as
    minilm, or a model folder) on the same rows, served with the adapter: where the router's
    top probability is at least ``router_theta`` its tool is the one called
    (``agents.specialists.router``).
    """
    from agents.engines.hf import TransformersEngine
    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec

    check_name(name)
    if task not in TASKS:
        raise TrainError(f"adapters train {', '.join(TASKS)}; got task {task!r}")
    if router is not None and task != "tool_call":
        raise TrainError(f"a router chooses among tools: it goes with task tool_call, not {task!r}")
    if router is None and router_theta is not None:
        raise TrainError("router_theta needs a router (the encoder to train it over)")
    registry = registry or Registry()
    t0 = time.perf_counter()
    rows, sha = load_rows(data, task)
    if eval_data is not None:
        train_rows, (eval_rows, eval_sha) = rows, load_rows(eval_data, task)
        eval_source = "file"
    else:
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        cut = max(1, round(len(shuffled) * test_fraction)) if len(shuffled) >= 10 else 0
        train_rows, eval_rows, eval_sha = shuffled[cut:], shuffled[:cut] or shuffled, None
        eval_source = f"held-out split ({test_fraction:.0%}, seed {seed})" if cut else "training data (too few to hold out)"
    if router is not None:
        from agents.models.source import resolve_source
        from agents.specialists.router import DEFAULT_THETA, check_router
        from agents.specialists.train import resolve_base

        # Before the LoRA's minutes of training, not after.
        if resolve_source(resolve_base(router, fleet, "--router")[0]).is_gguf:
            raise TrainError(f"--router {router!r} is a GGUF causal model; a router is a head over an encoder "
                             "(e.g. minilm)")
        router_theta = DEFAULT_THETA if router_theta is None else router_theta
        check_router([r.target["name"] for r in train_rows], router_theta)
    gguf_base = resolve_gguf_base(base, fleet)
    model_ref, max_tokens = gguf_base.model, gguf_base.max_input_tokens
    spec = AgentSpec(name=f"train-{name}"[:63], model=gguf_base.weights(), tasks=[task], engine="transformers",
                     device="cpu", dtype="float32", max_input_tokens=max_tokens)
    if progress:
        progress("loading base", 0, 1)
    engine = TransformersEngine.load(spec, threads=threads, gpu_fraction=None)
    if engine.kind != "causal":
        raise TrainError(f"--base {base!r} is an encoder; a LoRA adapter needs a causal LM (e.g. smollm2)")
    if progress:
        progress("loading base", 1, 1)
    if extractive is None:
        extractive = copies_input(task, train_rows)
    cfg = engine.lm.model.config
    seqs, starts = _sequences(engine, task, train_rows)
    state, stats = _train(engine, seqs, epochs=epochs, rank=rank, lr=lr, batch_size=batch_size, layers=layers,
                          seed=seed, progress=progress, starts=starts, space_weight=space_weight)
    staging = registry.staging_dir(name)
    try:
        from agents.engines.lora import write_lora_gguf

        write_lora_gguf(staging / ADAPTER_FILE, state, alpha=2 * rank, n_head=cfg.num_attention_heads,
                        n_kv_head=getattr(cfg, "num_key_value_heads", cfg.num_attention_heads))
        if router is not None:
            from agents.specialists.router import train_router

            stats["router"] = train_router(
                staging, [r.request for r in train_rows], [r.target["name"] for r in train_rows], encoder=router,
                theta=router_theta, fleet=fleet, seed=seed, threads=threads, progress=progress)
        train_s = time.perf_counter() - t0
        if progress:
            progress("evaluating", 0, 1)
        serve_spec = AgentSpec(name=f"eval-{name}"[:63], model=model_ref, tasks=[task], engine="llama_cpp",
                               requantize=gguf_base.requantize,
                               adapters=[str(staging / ADAPTER_FILE)], max_input_tokens=max_tokens,
                               batching={"max_batch_size": 8}, generation={"max_new_tokens": 256})
        runner = ModelRunner(serve_spec, threads=max(1, threads)).load()
        metrics: dict[str, Any] = {"eval_source": eval_source, "eval_rows": len(eval_rows),
                                   "train_rows": len(train_rows), "extractive": extractive}
        metrics.update(evaluate(runner, task, eval_rows, "adapter", extractive))
        if router is not None:
            metrics["router"] = router_report(runner, eval_rows, extractive)
        if compare_base:
            # The base under the same decoding, so the difference is what training added.
            metrics["base"] = evaluate(runner, task, eval_rows, None, extractive)
        runner.engine.close()
        if progress:
            progress("evaluating", 1, 1)
        metrics["train_s"] = round(train_s, 2)
        info = Path(data)
        meta = SpecialistMeta(
            name=name, version=1, task=task, method="lora", base=base, base_model=model_ref,
            max_input_tokens=max_tokens, labels=[],
            data=DataInfo(path=str(info), sha256=sha, rows=len(rows), format="jsonl"),
            eval_data=DataInfo(path=str(eval_data), sha256=eval_sha or "", rows=len(eval_rows), format="jsonl")
            if eval_data is not None else None,
            hyperparameters={"rank": rank, "alpha": 2 * rank, "lr": lr, "epochs": epochs, "batch_size": batch_size, "top_layers": layers,
                             "seed": seed, "target_modules": list(TARGET_MODULES), "space_weight": space_weight,
                             "extractive": extractive, "base_requantize": gguf_base.requantize, **stats},
            metrics=metrics,
        )
        meta = registry.commit(name, staging, meta)
    except BaseException:
        registry.discard(staging)
        raise
    log.info("adapter trained", specialist=meta.tag, metrics={k: v for k, v in metrics.items() if k != "base"},
             seconds=metrics["train_s"])
    return TrainResult(name=name, version=meta.version, path=str(registry.version_dir(name, meta.version)),
                       labels=[], metrics=metrics, meta=meta)


__all__ = ["ADAPTER_FILE", "TASKS", "GgufBase", "answers", "compact", "copies_input", "evaluate", "infer_schema", "load_rows",
           "resolve_gguf_base", "router_report", "space_token_ids", "train_adapter", "value_starts"]
