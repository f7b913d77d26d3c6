"""Specialists: small models trained for one task from examples or LLM logs, versioned and served.

    from agents.specialists import Registry, train_classifier
    result = train_classifier("intent", base="minilm", data="intents.jsonl")   # v1 under $SLMFLOW_HOME
    Registry().promote("intent")                                               # the fleet serves it as
                                                                               #   model: specialist:intent

Importing this package stays cheap (fleet specs resolve ``specialist:`` references through
the registry); training and the shadow store load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.specialists.registry import (
    REFERENCE_PREFIX,
    DataInfo,
    Registry,
    RegistryError,
    SpecialistMeta,
    specialists_root,
)

if TYPE_CHECKING:
    from agents.specialists.data import DataError, Example, load_examples
    from agents.specialists.head import Head, HeadError
    from agents.specialists.shadow import ShadowRecord, ShadowReport, ShadowStore
    from agents.specialists.train import TrainResult, train_classifier

_LAZY = {
    "DataError": "agents.specialists.data",
    "Example": "agents.specialists.data",
    "load_examples": "agents.specialists.data",
    "Head": "agents.specialists.head",
    "HeadError": "agents.specialists.head",
    "ShadowRecord": "agents.specialists.shadow",
    "ShadowReport": "agents.specialists.shadow",
    "ShadowStore": "agents.specialists.shadow",
    "TrainResult": "agents.specialists.train",
    "train_classifier": "agents.specialists.train",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agents.specialists' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "REFERENCE_PREFIX",
    "DataError",
    "DataInfo",
    "Example",
    "Head",
    "HeadError",
    "Registry",
    "RegistryError",
    "ShadowRecord",
    "ShadowReport",
    "ShadowStore",
    "SpecialistMeta",
    "TrainResult",
    "load_examples",
    "specialists_root",
    "train_classifier",
]
