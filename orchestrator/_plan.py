"""A workflow compiled for the engine: everything a run reads of its workflow, fixed once.

A `Workflow` is the user's object (options, input validation, the ways to run it); a run
needs only its graph and a few facts about it. `compile_plan` computes those when the
workflow is defined, so that the engine depends on this small immutable value and not on
`orchestrator.workflow` (which depends on the engine).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType, MappingProxyType
from typing import Any

from orchestrator._graph import NO_FALLBACK, Node, _collect, code_hashes, graph_hash

Caller = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """What the engine runs: the nodes in order, the output template, and facts derived from them."""

    name: str
    target: str | None  # 'module:qualname' that resume imports, None when not importable
    allow_pickle: bool
    nodes: tuple[Node, ...]  # node.index is the position here
    output: Any  # the workflow's result as a template of nodes
    graph_hash: str
    code_hashes: Mapping[str, str]
    code_hashes_json: str
    node_by_id: Mapping[str, Node]
    input_ids_json: Mapping[str, str]  # node id -> JSON list of the ids it depends on
    dep_counts: tuple[int, ...]  # unfinished inputs of each node before the run starts
    steps: int  # nodes that are not workflow inputs
    output_ids: frozenset[str]  # nodes the output template holds
    when: tuple[Caller | None, ...]  # per node: its step's `when=` predicate, bound by argument name
    fallback: tuple[Caller | None, ...]  # per node: its step's callable `fallback=`, likewise
    step_codes: Mapping[CodeType, str]  # step function code -> step name (the watchdog's lookup)
    step_names: frozenset[str]


def compile_plan(name: str, target: str | None, nodes: list[Node], output: Any, allow_pickle: bool) -> Plan:
    hashes = code_hashes(nodes)
    out: list[Node] = []
    _collect(output, out)
    codes = {}
    for node in nodes:
        code = getattr(node.step.fn if node.step is not None else None, "__code__", None)
        if code is not None:
            codes[code] = node.step.name  # type: ignore[union-attr]
    return Plan(
        name=name,
        target=target,
        allow_pickle=allow_pickle,
        nodes=tuple(nodes),
        output=output,
        graph_hash=graph_hash(nodes, output),
        code_hashes=MappingProxyType(hashes),
        code_hashes_json=json.dumps(hashes, sort_keys=True),
        node_by_id=MappingProxyType({n.id: n for n in nodes}),
        input_ids_json=MappingProxyType({n.id: json.dumps([d.id for d in n.deps]) for n in nodes}),
        dep_counts=tuple(len(n.deps) for n in nodes),
        steps=sum(1 for n in nodes if n.kind != "input"),
        output_ids=frozenset(n.id for n in out),
        when=tuple(_caller(n.step.when) if n.step is not None and n.step.when is not None else None for n in nodes),
        fallback=tuple(
            _caller(n.step.fallback)
            if n.step is not None and n.step.fallback is not NO_FALLBACK and callable(n.step.fallback)
            else None
            for n in nodes
        ),
        step_codes=MappingProxyType(codes),
        step_names=frozenset(n.step.name for n in nodes if n.step is not None),
    )


def _caller(fn: Callable[..., Any]) -> Caller:
    """Call a `when=`/`fallback=` callable with those of the step's arguments it names."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return lambda arguments: fn(**arguments)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return lambda arguments: fn(**arguments)
    names = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    return lambda arguments: fn(**{n: arguments[n] for n in names if n in arguments})
