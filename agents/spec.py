"""Agent and fleet specs: what each specialist SLM is, what it serves and what it may use.

A fleet is a YAML file (``agents/fleets/default.yaml`` ships with the package) or a
``FleetSpec`` built in Python. Validation errors name the field that is wrong.
"""

from __future__ import annotations

import math
import os
import re
from importlib import resources as _resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agents.errors import AgentNotFound, SpecError
from agents.models.source import ModelSource, resolve_source
from agents.protocol import RequestLimits, TaskKind

FLEET_ENV = "SLMFLOW_FLEET"
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_IUNITS = {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}

# Room beyond the weights for activations, KV cache and the CUDA context when sizing
# num_gpus="auto": a multiplier on weight bytes plus a fixed allowance.
GPU_WEIGHT_OVERHEAD = 1.3
GPU_FIXED_HEADROOM_BYTES = 768 * 2**20
GPU_FRACTION_STEP = 0.05


def adapter_name(reference: str) -> str:
    """What requests call an adapter: the specialist's name, or the file's stem."""
    if reference.startswith("specialist:"):
        return reference[len("specialist:") :].split("@", 1)[0]
    return Path(reference).name.removesuffix(".gguf")


def adapter_file(reference: str, base_dir: Path | None) -> Path:
    """The GGUF LoRA file an adapter reference names (raises ValueError naming what is missing)."""
    if reference.startswith("specialist:"):
        from agents.specialists.registry import Registry

        path = Registry().resolve(reference) / "adapter.gguf"
        if not path.is_file():
            raise ValueError(f"{reference!r} has no adapter.gguf (is it a LoRA specialist?): {path}")
        return path
    path = Path(reference).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file() or path.suffix != ".gguf":
        raise ValueError(f"adapter {reference!r}: no GGUF LoRA file at {path}")
    return path.resolve()


def adapter_meta(reference: str) -> Any:
    """The training record (``SpecialistMeta``) of the version an adapter reference names, or
    None for a plain LoRA file. A version folder never changes once written."""
    from agents.specialists.registry import read_meta

    return read_meta(adapter_file(reference, None).parent)


def _is_gguf_reference(model: str, gguf_file: str | None) -> bool:
    return bool(gguf_file) or model.lower().endswith(".gguf")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_memory(value: int | float | str) -> int:
    """Bytes from an int or a string like ``"2GiB"``, ``"512MB"``, ``"1.5G"``."""
    if isinstance(value, bool):
        raise ValueError("memory must be a byte count or a size like '2GiB'")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("memory must be > 0 bytes")
        return int(value)
    m = _MEMORY.match(value)
    if not m:
        raise ValueError(f"memory {value!r} is not a size like 2GiB, 512MB or 1073741824")
    number, unit = float(m.group(1)), (m.group(2) or "").upper().rstrip("B")
    factor = _IUNITS.get(unit) or _UNITS.get(unit)
    if factor is None:
        raise ValueError(f"memory {value!r}: unknown unit")
    if number <= 0:
        raise ValueError("memory must be > 0 bytes")
    return int(number * factor)


class Resources(_Spec):
    """Per replica. ``num_gpus`` omitted (null) means CPU only."""

    num_gpus: float | Literal["auto"] | None = None
    num_cpus: float = Field(default=1.0, gt=0)
    memory: int | None = None

    @field_validator("num_gpus", mode="before")
    @classmethod
    def _gpu_fraction(cls, v: Any) -> Any:
        if v is None or v == "auto":
            return v
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"num_gpus must be a fraction in (0, 1] or 'auto', got {v!r}")
        if not 0 < v <= 1:
            raise ValueError(
                f"num_gpus must be a fraction in (0, 1] or 'auto', got {v}; omit it for a CPU-only agent"
            )
        return float(v)

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, v: Any) -> int | None:
        return None if v is None else parse_memory(v)


class Autoscaling(_Spec):
    """Passed to Serve's autoscaling config."""

    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(default=1, ge=1)
    initial_replicas: int | None = Field(default=None, ge=0)
    target_ongoing_requests: float = Field(default=2.0, gt=0)
    upscale_delay_s: float = Field(default=30.0, ge=0)
    downscale_delay_s: float = Field(default=600.0, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})"
            )
        if self.initial_replicas is not None and not (
            self.min_replicas <= self.initial_replicas <= self.max_replicas
        ):
            raise ValueError(
                f"initial_replicas ({self.initial_replicas}) must be between min_replicas "
                f"({self.min_replicas}) and max_replicas ({self.max_replicas})"
            )
        return self

    def to_serve(self) -> dict[str, Any]:
        """The dict for ``@serve.deployment(autoscaling_config=...)``."""
        return self.model_dump(exclude_none=True)


class Batching(_Spec):
    """Applied with ``@serve.batch``: concurrent calls share one forward pass."""

    max_batch_size: int = Field(default=8, ge=1, le=1024)
    batch_wait_timeout_s: float = Field(default=0.01, ge=0, le=60)
    # llama_cpp: slots beyond max_batch_size that take only short requests (max_new_tokens
    # at most express_max_new_tokens), so a burst of long generations holding every slot
    # does not make a short request wait for one of them to end.
    express_slots: int = Field(default=0, ge=0, le=64)
    express_max_new_tokens: int = Field(default=16, ge=1, le=32768)
    # llama_cpp: 0 decodes the express slots in the same steps as the others, which a step
    # of many long sequences slows; N gives them a llama.cpp context of their own, computed
    # by N more threads: a lane that long generations never slow, at the cost of those threads.
    express_threads: int = Field(default=0, ge=0, le=256)

    @model_validator(mode="after")
    def _lane_needs_slots(self) -> Batching:
        if self.express_threads and not self.express_slots:
            raise ValueError("batching.express_threads needs express_slots (the lane's slots)")
        return self


class Pricing(_Spec):
    """What a call costs: GPU time (share of the batch's compute) and/or tokens."""

    usd_per_gpu_hour: float = Field(default=0.0, ge=0)
    usd_per_1k_tokens_in: float = Field(default=0.0, ge=0)
    usd_per_1k_tokens_out: float = Field(default=0.0, ge=0)

    def cost(self, tokens_in: int, tokens_out: int, compute_ms: float, gpu_fraction: float = 1.0) -> float:
        """USD for one request; ``compute_ms`` is its share of the batch, ``gpu_fraction`` its replica's."""
        gpu = self.usd_per_gpu_hour * gpu_fraction * compute_ms / 3_600_000
        tokens = (tokens_in * self.usd_per_1k_tokens_in + tokens_out * self.usd_per_1k_tokens_out) / 1000
        return gpu + tokens


class GenerationDefaults(_Spec):
    """Used where a request leaves a generation parameter unset."""

    max_new_tokens: int = Field(default=128, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0, le=5)
    top_p: float = Field(default=1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)


class AgentSpec(_Spec):
    """One specialist: its model, the tasks it serves and its resources."""

    name: str = Field(pattern=_SLUG)
    model: str
    gguf_file: str | None = None
    tokenizer: str | None = None
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # The inference engine (agents.engines): "auto" takes llama_cpp for a GGUF file and
    # transformers for everything else.
    engine: Literal["auto", "transformers", "llama_cpp"] = "auto"
    # llama_cpp: serve a Q4_0 copy of the GGUF file (made once, cached; agents.models.requant).
    # llama.cpp's batched CPU kernels exist for Q4_0, not for Q4_1 and most other types, so
    # continuous batching gains far more from it; but the copy is a different model (a second
    # 4-bit rounding), which LoRA specialists are then trained on.
    requantize: Literal["q4_0"] | None = None
    # llama_cpp: serve a GGUF's Q4_1 block matrices as Q4_0 blocks plus each block's offset,
    # applied as an always-on LoRA (agents.models.q4_split). The weights are exactly the
    # file's, and a step of several sequences runs on llama.cpp's batched Q4_0 kernels; a
    # single sequence is a few percent slower. Ignored by other engines and other types.
    split_q4_1: bool = True
    # CPU threads the engine computes with; default: resources.num_cpus (at least 1). Ray
    # reserves num_cpus; a replica may use more threads than it reserves where it knows
    # its neighbours are mostly idle (the default fleet's generator beside a quick encoder).
    threads: int | None = Field(default=None, ge=1, le=256)
    # LoRA adapters served on this base, chosen per request (``adapter=`` NAME): each a
    # ``specialist:NAME`` (its version folder's adapter.gguf) or a path to a GGUF LoRA file.
    adapters: list[str] = Field(default_factory=list)
    tasks: list[TaskKind] = Field(min_length=1)
    classify_method: Literal["similarity", "likelihood"] | None = None
    max_input_tokens: int = Field(default=2048, ge=8)
    resources: Resources = Field(default_factory=Resources)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    max_ongoing_requests: int | None = Field(default=None, ge=1)
    batching: Batching = Field(default_factory=Batching)
    pricing: Pricing = Field(default_factory=Pricing)
    generation: GenerationDefaults = Field(default_factory=GenerationDefaults)
    # What one request may cost (label counts for classify); refusals name the limit.
    limits: RequestLimits = Field(default_factory=RequestLimits)
    description: str = ""

    @field_validator("tasks", mode="before")
    @classmethod
    def _known_tasks(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            known = [t.value for t in TaskKind]
            for i, t in enumerate(v):
                if isinstance(t, str) and t not in known:
                    raise ValueError(f"unknown task {t!r} at tasks[{i}]; known tasks: {', '.join(known)}")
            if len({str(t) for t in v}) != len(v):
                raise ValueError(f"tasks must not repeat, got {v}")
        return v

    @field_validator("model", "tokenizer")
    @classmethod
    def _reference_exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        base = (info.context or {}).get("base_dir")
        src = resolve_source(v, None, Path(base) if base else None)
        # Relative paths are pinned to absolute ones so replicas (another cwd) find them.
        if src.kind == "local" and not v.startswith("package:"):
            return str(Path(src.location) / src.gguf_file) if src.gguf_file else src.location
        return v

    @field_validator("adapters")
    @classmethod
    def _adapters_exist(cls, v: list[str], info: ValidationInfo) -> list[str]:
        base = (info.context or {}).get("base_dir")
        pinned = [str(adapter_file(a, Path(base) if base else None)) if not a.startswith("specialist:")
                  else a for a in v]
        for a in v:
            if a.startswith("specialist:"):
                adapter_file(a, None)  # raises with the registry's reason
        names = [adapter_name(a) for a in v]
        if len(set(names)) != len(names):
            raise ValueError(f"adapter names must be unique, got {names}")
        return pinned

    @field_validator("gguf_file")
    @classmethod
    def _gguf_exists(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and isinstance(info.data.get("model"), str):
            resolve_source(info.data["model"], v)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> AgentSpec:
        if self.classify_method is not None and TaskKind.CLASSIFY not in self.tasks:
            raise ValueError("classify_method is set but 'classify' is not in tasks")
        if self.adapters and self.resolved_engine != "llama_cpp":
            raise ValueError("adapters are served by the llama_cpp engine (a GGUF base model); "
                             f"this agent runs on {self.resolved_engine}")
        if self.requantize and self.resolved_engine != "llama_cpp":
            raise ValueError(f"requantize is for the llama_cpp engine (a GGUF file); this agent runs on "
                             f"{self.resolved_engine}")
        if self.batching.express_slots and self.resolved_engine != "llama_cpp":
            raise ValueError(f"batching.express_slots is for the llama_cpp engine; this agent runs on "
                             f"{self.resolved_engine}")
        if self.engine == "llama_cpp":
            if not _is_gguf_reference(self.model, self.gguf_file):
                raise ValueError(
                    f"engine 'llama_cpp' runs GGUF files; model {self.model!r} is not one "
                    "(use engine: transformers, or point model at a .gguf file)"
                )
            if TaskKind.EMBED in self.tasks:
                raise ValueError("engine 'llama_cpp' serves causal GGUF models, which do not embed; "
                                 "serve embeddings from an encoder on engine: transformers")
            if self.classify_method == "similarity":
                raise ValueError("engine 'llama_cpp' classifies by likelihood; similarity needs an encoder")
        if self.max_ongoing_requests is not None and self.max_ongoing_requests < self.batching.max_batch_size:
            raise ValueError(
                f"max_ongoing_requests ({self.max_ongoing_requests}) below batching.max_batch_size "
                f"({self.batching.max_batch_size}) would keep batches from filling"
            )
        return self

    @property
    def resolved_engine(self) -> Literal["transformers", "llama_cpp"]:
        """The engine that serves this agent: ``engine``, or for "auto" llama_cpp on a GGUF file
        with only the tasks llama.cpp serves here, else transformers."""
        if self.engine != "auto":
            return self.engine
        gguf = _is_gguf_reference(self.model, self.gguf_file)
        if gguf and TaskKind.EMBED not in self.tasks and self.classify_method != "similarity":
            return "llama_cpp"
        return "transformers"

    def source(self) -> ModelSource:
        """Where the weights come from (raises SpecError when the reference does not resolve)."""
        try:
            return resolve_source(self.model, self.gguf_file)
        except ValueError as exc:
            raise SpecError(f"model: {exc}", agent=self.name) from exc

    def tokenizer_source(self) -> ModelSource:
        if self.tokenizer is None:
            return self.source()
        try:
            return resolve_source(self.tokenizer)
        except ValueError as exc:
            raise SpecError(f"tokenizer: {exc}", agent=self.name) from exc

    @property
    def effective_max_ongoing_requests(self) -> int:
        """Serve's default (5) would starve batching: allow two full batches in flight per replica."""
        if self.max_ongoing_requests is not None:
            return self.max_ongoing_requests
        return max(5, 2 * self.batching.max_batch_size)

    def gpu_fraction(self, gpu_memory_bytes: int | None = None) -> float:
        """The replica's GPU share: 0 for CPU-only, the fixed fraction, or the ``auto`` estimate."""
        ng = self.resources.num_gpus
        if ng is None:
            return 0.0
        if ng == "auto":
            if gpu_memory_bytes is None:
                raise SpecError("resources.num_gpus is 'auto' but no GPU memory size was given", agent=self.name)
            return estimate_gpu_fraction(self, gpu_memory_bytes)
        return float(ng)

    def cost(self, tokens_in: int, tokens_out: int, compute_ms: float, gpu_fraction: float | None = None) -> float:
        """USD for one request under this agent's pricing (GPU share defaults to the fixed fraction)."""
        if gpu_fraction is None:
            ng = self.resources.num_gpus
            gpu_fraction = float(ng) if isinstance(ng, float) else (1.0 if ng == "auto" else 0.0)
        # A CPU-only agent priced per GPU-hour is charged as one whole device.
        if gpu_fraction == 0.0 and self.pricing.usd_per_gpu_hour:
            gpu_fraction = 1.0
        return self.pricing.cost(tokens_in, tokens_out, compute_ms, gpu_fraction)


def estimate_gpu_fraction(spec: AgentSpec, gpu_memory_bytes: int, weight_bytes: int | None = None) -> float:
    """The GPU share a replica of ``spec`` needs: weights plus headroom, rounded up to 5%.

    Raises SpecError when the model would not fit the whole GPU.
    """
    if gpu_memory_bytes <= 0:
        raise SpecError("gpu_memory_bytes must be > 0", agent=spec.name)
    if weight_bytes is None:
        from agents.models.size import estimate_weight_bytes

        weight_bytes = estimate_weight_bytes(spec)
    need = weight_bytes * GPU_WEIGHT_OVERHEAD + GPU_FIXED_HEADROOM_BYTES
    if need > gpu_memory_bytes:
        raise SpecError(
            f"resources.num_gpus='auto': the model needs about {need / 2**30:.1f} GiB "
            f"({weight_bytes / 2**30:.2f} GiB of weights plus headroom), "
            f"more than the GPU's {gpu_memory_bytes / 2**30:.1f} GiB",
            agent=spec.name,
        )
    fraction = math.ceil(need / gpu_memory_bytes / GPU_FRACTION_STEP) * GPU_FRACTION_STEP
    return round(min(1.0, max(GPU_FRACTION_STEP, fraction)), 4)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class FleetSpec(_Spec):
    """A fleet of agents; ``defaults`` are merged under every agent (the agent's own fields win)."""

    agents: list[AgentSpec] = Field(min_length=1)
    defaults: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("defaults"):
            return data
        defaults = data["defaults"]
        if not isinstance(defaults, dict):
            raise ValueError("defaults must be a mapping of agent fields")
        if "name" in defaults or "model" in defaults:
            raise ValueError("defaults must not set name or model")
        agents = data.get("agents")
        if isinstance(agents, list):
            merged = [
                _deep_merge(defaults, a) if isinstance(a, dict) else _merge_spec(defaults, a) for a in agents
            ]
            data = {**data, "agents": merged}
        return data

    @field_validator("agents")
    @classmethod
    def _unique_names(cls, v: list[AgentSpec]) -> list[AgentSpec]:
        seen: set[str] = set()
        for i, a in enumerate(v):
            if a.name in seen:
                raise ValueError(f"duplicate agent name {a.name!r} at agents[{i}]")
            seen.add(a.name)
        return v

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.agents]

    def get(self, name: str) -> AgentSpec:
        for a in self.agents:
            if a.name == name:
                return a
        raise AgentNotFound(f"no agent {name!r} in the fleet; agents: {', '.join(self.names)}")

    def to_yaml(self) -> str:
        return yaml.safe_dump(
            self.model_dump(mode="json", exclude_unset=True, exclude_none=True), sort_keys=False
        )

    @classmethod
    def from_yaml(cls, text: str, *, base_dir: Path | None = None, source: str = "<string>") -> FleetSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SpecError(f"{source}: a fleet file must be a mapping with an 'agents' list")
        try:
            return cls.model_validate(data, context={"base_dir": str(base_dir) if base_dir else None})
        except ValidationError as exc:
            raise SpecError(f"{source}: invalid fleet spec:\n{_describe(exc, data)}") from exc


def _merge_spec(defaults: dict[str, Any], spec: AgentSpec) -> dict[str, Any]:
    return _deep_merge(defaults, spec.model_dump(exclude_unset=True))


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    """Pydantic errors with agent positions shown as their names: agents[smollm2].resources.num_gpus."""
    lines = []
    agents = data.get("agents") if isinstance(data.get("agents"), list) else []
    for err in exc.errors():
        loc = list(err["loc"])
        parts: list[str] = []
        i = 0
        while i < len(loc):
            part = loc[i]
            if part == "agents" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
                idx = loc[i + 1]
                name = agents[idx].get("name") if idx < len(agents) and isinstance(agents[idx], dict) else None
                parts.append(f"agents[{name or idx}]")
                i += 2
                continue
            parts.append(f"[{part}]" if isinstance(part, int) else str(part))
            i += 1
        where = ".".join(parts).replace(".[", "[") or "(fleet)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def default_fleet_path() -> Path:
    """The fleet file shipped with the package."""
    return Path(str(_resources.files("agents") / "fleets" / "default.yaml"))


def load_fleet(path: str | os.PathLike[str] | None = None) -> FleetSpec:
    """Load a fleet file: ``path``, else ``$SLMFLOW_FLEET``, else the default fleet."""
    chosen = path if path is not None else os.environ.get(FLEET_ENV) or default_fleet_path()
    p = Path(chosen).expanduser()
    try:
        text = p.read_text()
    except FileNotFoundError as exc:
        raise SpecError(f"fleet file {str(p)!r} does not exist") from exc
    except OSError as exc:
        raise SpecError(f"fleet file {str(p)!r} cannot be read: {exc}") from exc
    return FleetSpec.from_yaml(text, base_dir=p.resolve().parent, source=str(p))


__all__ = [
    "FLEET_ENV",
    "AgentSpec",
    "Autoscaling",
    "Batching",
    "FleetSpec",
    "GenerationDefaults",
    "Pricing",
    "Resources",
    "default_fleet_path",
    "estimate_gpu_fraction",
    "load_fleet",
    "parse_memory",
]
