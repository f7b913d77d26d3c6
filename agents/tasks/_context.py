"""What every task module gets: the loaded model, the agent spec and per-runner caches."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.errors import InvalidRequest
from agents.models.loader import LoadedModel

if TYPE_CHECKING:
    from agents.spec import AgentSpec


class LRU(OrderedDict):
    """A small bounded cache (label embeddings, compiled grammars)."""

    def __init__(self, maxsize: int = 1024) -> None:
        super().__init__()
        self.maxsize = maxsize

    def get_or(self, key: Any, make: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = make()
        self[key] = value
        if len(self) > self.maxsize:
            self.popitem(last=False)
        return value


@dataclass
class TaskContext:
    lm: LoadedModel
    spec: AgentSpec
    caches: dict[str, LRU] = field(default_factory=dict)
    compile_threads: int = 8
    _compiler: Any = None

    def cache(self, name: str, maxsize: int = 1024) -> LRU:
        if name not in self.caches:
            self.caches[name] = LRU(maxsize)
        return self.caches[name]

    @property
    def name(self) -> str:
        return self.spec.name

    # Prompting -------------------------------------------------------------------------

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` under the tokenizer's chat template, ready for the reply."""
        tok = self.lm.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return list(tok(text, add_special_tokens=False)["input_ids"])
        # Models without a template get a plain transcript.
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        return list(tok(text)["input_ids"])

    def prompt_ids(self, prompt: str) -> list[int]:
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
