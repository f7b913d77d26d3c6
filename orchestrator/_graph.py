"""The graph: steps, the nodes that calling them inside a workflow creates, hashing, Mermaid.

Calling a step inside a `@workflow` function runs nothing: it records a `Node` whose
arguments may hold other nodes (directly or inside lists, tuples and dicts). The
workflow's graph is the list of nodes in creation order, which is a topological order.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import typing
from collections.abc import Callable
from contextvars import ContextVar
from types import CodeType
from typing import Any

from pydantic import TypeAdapter, ValidationError

from orchestrator.errors import DefinitionError, InputValidationError, UnstorableValueError
from orchestrator.executor import Executor
from orchestrator.processes import ProcessExecutor, process_executor, reference
from orchestrator.retry import NO_RETRY, RetryPolicy
from orchestrator.serialization import dumps

NO_FALLBACK: Any = type("NoFallback", (), {"__repr__": lambda self: "NO_FALLBACK"})()


class Node:
    """A value that will exist once the run reaches it: a workflow input, a step's or a map's output."""

    __slots__ = (
        "__weakref__",
        "args",
        "builder",
        "dependents",
        "deps",
        "direct",
        "id",
        "index",
        "kind",
        "kwargs",
        "nested",
        "param",
        "step",
    )

    def __init__(self, builder: _Builder, node_id: str, kind: str, step: Step | None) -> None:
        self.builder = builder
        self.id = node_id
        self.kind = kind  # "input" | "step" | "map"
        self.step = step
        self.args: tuple[Any, ...] = ()
        self.kwargs: dict[str, Any] = {}
        self.deps: list[Node] = []
        self.dependents: list[Node] = []
        self.index = 0
        self.param: inspect.Parameter | None = None
        # Fast resolution: `direct` lists positions holding a node; `nested` says a container holds one.
        self.direct: list[tuple[int | str, str]] = []
        self.nested = False

    def _what(self) -> str:
        return f"workflow input {self.id!r}" if self.kind == "input" else f"the output of step {self.id!r}"

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{self._what()} is not known while the workflow is being built, so it cannot be used in "
            "`if`/`and`/`or`; give the dependent step a `when=` condition instead"
        )

    def __iter__(self) -> Any:
        raise DefinitionError(
            f"{self._what()} is not known while the workflow is being built, so it cannot be iterated "
            "or unpacked; use `some_step.map(...)` to fan out over a list at run time"
        )

    def __len__(self) -> int:
        raise DefinitionError(f"{self._what()} has no length while the workflow is being built")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise DefinitionError(
            f"{self._what()} is not known while the workflow is being built, so `.{name}` cannot be "
            f"read; pass the whole value to a step that reads `.{name}`"
        )

    def __getitem__(self, key: Any) -> Any:
        raise DefinitionError(
            f"{self._what()} is not known while the workflow is being built, so `[{key!r}]` cannot be "
            "read; pass the whole value to a step"
        )

    def __repr__(self) -> str:
        return f"<Node {self.id} ({self.kind})>"


_BUILDER: ContextVar[_Builder | None] = ContextVar("slmflow_builder", default=None)


def _contains_node(value: Any) -> bool:
    kind = type(value)
    if kind is Node:
        return True
    if kind in (list, tuple):
        return any(_contains_node(v) for v in value)
    if kind is dict:
        return any(_contains_node(v) for v in value.values())
    return False


def _collect(value: Any, out: list[Node], seen: set[int] | None = None) -> None:
    """Append the nodes in `value` to `out`, once each, in order of appearance."""
    if seen is None:
        seen = {id(n) for n in out}
    kind = type(value)
    if kind is Node:
        if id(value) not in seen:
            seen.add(id(value))
            out.append(value)
    elif kind in (list, tuple):
        for v in value:
            _collect(v, out, seen)
    elif kind is dict:
        for v in value.values():
            _collect(v, out, seen)


def resolve(template: Any, values: dict[str, Any]) -> Any:
    """The template with every node replaced by its value."""
    kind = type(template)
    if kind is Node:
        return values[template.id]
    if kind is list:
        return [resolve(v, values) for v in template]
    if kind is tuple:
        return tuple(resolve(v, values) for v in template)
    if kind is dict:
        return {k: resolve(v, values) for k, v in template.items()}
    return template


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:
        # Unresolvable forward references: fall back to no validation rather than failing to import.
        return {}


class Step:
    """A function registered with `@step`; calling it inside a workflow adds a node to the graph."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        when: Callable[..., Any] | None = None,
        fallback: Any = NO_FALLBACK,
        executor: Executor | str | None = None,
        receive_failures: bool = False,
        allow_pickle: bool = False,
    ) -> None:
        if not callable(fn):
            raise DefinitionError(f"@step needs a function, got {fn!r}")
        self.fn = fn
        self.name = name or fn.__name__
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise DefinitionError(f"step {self.name!r}: retry= must be a RetryPolicy, got {retry!r}")
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise DefinitionError(f"step {self.name!r}: timeout= must be a positive number of seconds")
        if when is not None and not callable(when):
            raise DefinitionError(f"step {self.name!r}: when= must be a callable returning a bool")
        if executor == "thread":
            executor = None
        elif executor == "process":
            reference(fn, f"step {self.name!r}")  # must be importable by name in a worker process
            executor = process_executor()
        elif isinstance(executor, ProcessExecutor):
            reference(fn, f"step {self.name!r}")
        elif executor is not None and not isinstance(executor, Executor):
            raise DefinitionError(
                f"step {self.name!r}: executor= must be 'thread', 'process' or an object with "
                f"`async def run(fn, args, kwargs)`, got {executor!r}"
            )
        self.retry = retry or NO_RETRY
        self.timeout = float(timeout) if timeout is not None else None
        self.when = when
        self.fallback = fallback
        self.executor = executor
        self.receive_failures = receive_failures
        self.allow_pickle = allow_pickle
        self.is_async = inspect.iscoroutinefunction(fn)
        self.signature = inspect.signature(fn)
        self._hints: dict[str, Any] | None = None
        self._adapters: dict[str, TypeAdapter[Any] | None] = {}
        self.__doc__ = fn.__doc__
        self.__name__ = self.name
        self.__qualname__ = getattr(fn, "__qualname__", self.name)
        self.__module__ = getattr(fn, "__module__", None)  # type: ignore[assignment]
        self.__wrapped__ = fn

    def adapter(self, param: str) -> TypeAdapter[Any] | None:
        """A pydantic adapter for the parameter's annotation (None when unannotated or Any)."""
        if param not in self._adapters:
            if self._hints is None:
                self._hints = _hints(self.fn)
            hint = self._hints.get(param)
            self._adapters[param] = None if hint is None or hint is Any else TypeAdapter(hint)
        return self._adapters[param]

    def __call__(self, *args: Any, **kwargs: Any) -> Node:
        builder = _BUILDER.get()
        if builder is None:
            raise DefinitionError(
                f"step {self.name!r} was called outside a @workflow function. Calling a step only adds "
                f"it to the workflow being built; to run the plain function call `{self.name}.fn(...)`"
            )
        return builder.add(self, args, kwargs, mapped=False)

    def map(self, *iterables: Any, **kwargs: Any) -> Node:
        """Run this step once per item of the (zipped) positional lists; keyword arguments go to every call.

        The lists may be outputs of other steps, known only at run time. The map's output
        is the list of results, in order.
        """
        builder = _BUILDER.get()
        if builder is None:
            raise DefinitionError(f"{self.name}.map() was called outside a @workflow function")
        if not iterables:
            raise DefinitionError(f"{self.name}.map() needs at least one list to map over")
        return builder.add(self, iterables, kwargs, mapped=True)

    def __repr__(self) -> str:
        return f"<step {self.name}>"


class _Item:
    """Stands for one element of a mapped list when checking a map call's signature."""

    def __repr__(self) -> str:
        return "<item>"


_ITEM = _Item()


class _Builder:
    def __init__(self, workflow: str, allow_pickle: bool) -> None:
        self.workflow = workflow
        self.allow_pickle = allow_pickle
        self.nodes: list[Node] = []
        self.ids: dict[str, int] = {}

    def _new_id(self, name: str) -> str:
        count = self.ids.get(name, 0) + 1
        self.ids[name] = count
        return name if count == 1 else f"{name}_{count}"

    def add_input(self, param: inspect.Parameter) -> Node:
        node = Node(self, param.name, "input", None)
        node.param = param
        self.ids[param.name] = 1
        node.index = len(self.nodes)
        self.nodes.append(node)
        return node

    def _check_nodes(self, step: Step, value: Any, where: str) -> None:
        found: list[Node] = []
        _collect(value, found)
        for node in found:
            if node.builder is not self:
                raise DefinitionError(
                    f"step {step.name!r}, argument {where!r}: {node._what()} belongs to workflow "
                    f"{node.builder.workflow!r}, not {self.workflow!r}; nodes cannot cross workflows"
                )

    def add(self, step: Step, args: tuple[Any, ...], kwargs: dict[str, Any], mapped: bool) -> Node:
        where = f"{step.name}.map()" if mapped else f"step {step.name!r}"
        probe = (_ITEM,) * len(args) if mapped else args
        try:
            bound = step.signature.bind(*probe, **kwargs)
        except TypeError as exc:
            raise DefinitionError(f"{where} in workflow {self.workflow!r}: {exc}") from None
        params = step.signature.parameters
        for pname, value in bound.arguments.items():
            self._check_nodes(step, value, pname)
            kind = params[pname].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD) or value is _ITEM:
                continue
            if not _contains_node(value):
                self._check_constant(step, pname, value)
        if mapped:
            for i, value in enumerate(args):
                self._check_nodes(step, value, f"list #{i}")
                if not _contains_node(value) and not isinstance(value, (list, tuple)):
                    raise DefinitionError(
                        f"{where}: positional argument #{i} must be a list (or a step's output), "
                        f"got {type(value).__name__}"
                    )
        node = Node(self, self._new_id(step.name), "map" if mapped else "step", step)
        node.args = tuple(args)
        node.kwargs = dict(kwargs)
        deps: list[Node] = []
        _collect((node.args, node.kwargs), deps)
        node.deps = deps
        for dep in deps:
            dep.dependents.append(node)
        for i, value in enumerate(node.args):
            if type(value) is Node:
                node.direct.append((i, value.id))
            elif _contains_node(value):
                node.nested = True
        for key, value in node.kwargs.items():
            if type(value) is Node:
                node.direct.append((key, value.id))
            elif _contains_node(value):
                node.nested = True
        node.index = len(self.nodes)
        self.nodes.append(node)
        return node

    def _check_constant(self, step: Step, param: str, value: Any) -> None:
        adapter = step.adapter(param)
        if adapter is not None:
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                raise InputValidationError(
                    f"step {step.name!r}, argument {param!r} in workflow {self.workflow!r}: "
                    f"{_first_error(exc)}"
                ) from None
        try:
            dumps(value, allow_pickle=self.allow_pickle or step.allow_pickle, where="")
        except UnstorableValueError:
            raise UnstorableValueError(
                f"step {step.name!r}, argument {param!r} in workflow {self.workflow!r}: a constant of type "
                f"{type(value).__name__} cannot be stored as JSON; pass it as a workflow input, build it "
                "inside the step, or opt in to pickle with allow_pickle=True"
            ) from None


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    err = errors[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    where = f" at {loc}" if loc else ""
    return f"{err.get('msg')}{where} (got {err.get('input')!r})"


def _canon(template: Any) -> Any:
    kind = type(template)
    if kind is Node:
        return {"$node": template.id}
    if kind in (list, tuple):
        return [_canon(v) for v in template]
    if kind is dict:
        return {str(k): _canon(v) for k, v in sorted(template.items(), key=lambda kv: str(kv[0]))}
    try:
        return json.loads(dumps(template, allow_pickle=False))
    except Exception:
        return repr(template)


def graph_hash(nodes: list[Node], output: Any) -> str:
    """A hash of the graph's shape: nodes, the steps they call, their arguments and edges."""
    spec = [
        [
            n.id,
            n.kind,
            None if n.step is None else n.step.name,
            _canon(list(n.args)),
            _canon(n.kwargs),
        ]
        for n in nodes
    ]
    text = json.dumps([spec, _canon(output)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _feed_code(code: CodeType, h: Any, skip_doc: bool) -> None:
    # Bytecode, names and constants: what the function does, not where it sits in its file,
    # so comments, blank lines and moving it around do not count as a change.
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_argcount,
                   code.co_kwonlyargcount, code.co_flags)).encode())  # fmt: skip
    consts = code.co_consts[1:] if skip_doc and code.co_consts and isinstance(code.co_consts[0], str) else code.co_consts
    for const in consts:
        if isinstance(const, CodeType):
            _feed_code(const, h, skip_doc=False)
        elif isinstance(const, frozenset):
            h.update(repr(sorted(map(repr, const))).encode())  # set order varies with the hash seed
        else:
            h.update(repr(const).encode())


def _feed_callable(fn: Any, h: Any) -> None:
    if isinstance(fn, functools.partial):
        _feed_callable(fn.func, h)
        h.update(repr((fn.args, sorted(fn.keywords.items()))).encode())
        return
    fn = inspect.unwrap(fn) if callable(fn) else fn
    code = getattr(fn, "__code__", None)
    if code is None and callable(fn) and not inspect.isroutine(fn):
        call = type(fn).__dict__.get("__call__") or next(
            (c.__dict__["__call__"] for c in type(fn).__mro__ if "__call__" in c.__dict__), None
        )
        code = getattr(call, "__code__", None)
    if isinstance(code, CodeType):
        _feed_code(code, h, skip_doc=getattr(fn, "__doc__", None) is not None)
        h.update(repr((getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None))).encode())
    else:  # a builtin or C callable: its name is all there is to go on
        h.update(repr(getattr(fn, "__qualname__", type(fn).__qualname__)).encode())


def step_code_hash(step: Step) -> str:
    """A hash of a step's own code (its function, `when=` and a callable `fallback=`).

    It does not follow functions the step calls. Bytecode differs between Python versions, so
    resuming under another Python counts as a change too.
    """
    h = hashlib.sha256()
    _feed_callable(step.fn, h)
    if step.when is not None:
        h.update(b"|when|")
        _feed_callable(step.when, h)
    if step.fallback is not NO_FALLBACK and callable(step.fallback):
        h.update(b"|fallback|")
        _feed_callable(step.fallback, h)
    return h.hexdigest()[:16]


def code_hashes(nodes: list[Node]) -> dict[str, str]:
    """Step name -> hash of its code, for every step of the graph (steps sharing a name combined)."""
    by_name: dict[str, set[str]] = {}
    seen: set[int] = set()
    for n in nodes:
        if n.step is not None and id(n.step) not in seen:
            seen.add(id(n.step))
            by_name.setdefault(n.step.name, set()).add(step_code_hash(n.step))
    return {
        name: next(iter(hashes)) if len(hashes) == 1 else hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()[:16]
        for name, hashes in by_name.items()
    }


def _mermaid_id(node_id: str) -> str:
    return "n_" + "".join(c if c.isalnum() or c == "_" else "_" for c in node_id)


def mermaid(nodes: list[Node], output: Any) -> str:
    """The graph as a Mermaid flowchart."""
    lines = ["flowchart TD"]
    for n in nodes:
        mid = _mermaid_id(n.id)
        if n.kind == "input":
            lines.append(f'    {mid}(["{n.id}"])')
        elif n.kind == "map":
            lines.append(f'    {mid}[["{n.id} (map)"]]')
        else:
            extras = []
            if n.step is not None and n.step.when is not None:
                extras.append("when")
            if n.step is not None and n.step.retry.max_attempts > 1:
                extras.append(f"retry x{n.step.retry.max_attempts}")
            label = n.id + (f" ({', '.join(extras)})" if extras else "")
            lines.append(f'    {mid}["{label}"]')
    for n in nodes:
        for dep in n.deps:
            lines.append(f"    {_mermaid_id(dep.id)} --> {_mermaid_id(n.id)}")
    outs: list[Node] = []
    _collect(output, outs)
    if outs:
        lines.append("    result((result))")
        for n in outs:
            lines.append(f"    {_mermaid_id(n.id)} --> result")
    return "\n".join(lines) + "\n"


def build(fn: Callable[..., Any], name: str, allow_pickle: bool) -> tuple[list[Node], Any, dict[str, Node]]:
    """Call the workflow function with input nodes; return (nodes, output template, inputs)."""
    if inspect.iscoroutinefunction(fn):
        raise DefinitionError(
            f"workflow {name!r} must be a plain `def`: it only wires steps together (steps may be async)"
        )
    builder = _Builder(name, allow_pickle)
    inputs: dict[str, Node] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise DefinitionError(f"workflow {name!r}: *args/**kwargs parameters are not supported ({param})")
        inputs[param.name] = builder.add_input(param)
    if _BUILDER.get() is not None:
        raise DefinitionError(f"workflow {name!r} is being defined inside another workflow's function")
    token = _BUILDER.set(builder)
    try:
        output = fn(**inputs)
    except (DefinitionError, UnstorableValueError):
        raise
    except Exception as exc:
        raise DefinitionError(
            f"workflow {name!r} raised {type(exc).__name__} while its graph was built: {exc}. A workflow "
            "function only calls steps; computations on values belong inside steps"
        ) from exc
    finally:
        _BUILDER.reset(token)
    if inspect.iscoroutine(output):
        output.close()
        raise DefinitionError(f"workflow {name!r} returned a coroutine; it must be a plain `def`")
    found: list[Node] = []
    _collect(output, found)
    for node in found:
        if node.builder is not builder:
            raise DefinitionError(f"workflow {name!r} returns {node._what()} from another workflow")
    return builder.nodes, output, inputs
