"""Values to and from stored text: JSON (pydantic models and tuples included), pickle by opt-in.

Tagged objects keep types that plain JSON would lose: `{"__pydantic__": "mod:Qual", "data": ...}`,
`{"__tuple__": [...]}` and, only when pickle is allowed, `{"__pickle__": "<base64>"}`.
"""

from __future__ import annotations

import base64
import json
import pickle
import sys
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from orchestrator.errors import UnstorableValueError, describe, describe_repr
from orchestrator.imports import import_ref

_PRIMITIVES = (str, int, float, bool, type(None))
_TAGS = ("__pydantic__", "__tuple__", "__pickle__", "__datetime__", "__date__")


def _encode(value: Any, allow_pickle: bool, where: str) -> Any:
    kind = type(value)
    if kind in _PRIMITIVES:
        return value
    if kind is list:
        return [_encode(v, allow_pickle, where) for v in value]
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                return _fallback(value, allow_pickle, where, f"a dict key of type {type(key).__name__}")
            out[key] = _encode(item, allow_pickle, where)
        return out
    if kind is tuple:
        return {"__tuple__": [_encode(v, allow_pickle, where) for v in value]}
    if isinstance(value, BaseModel):
        cls = type(value)
        if "<locals>" not in cls.__qualname__:
            return {"__pydantic__": f"{cls.__module__}:{cls.__qualname__}", "data": value.model_dump(mode="json")}
        return _fallback(value, allow_pickle, where, f"pydantic model {cls.__qualname__} defined inside a function")
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, date):
        return {"__date__": value.isoformat()}
    if isinstance(value, _PRIMITIVES):  # subclasses: IntEnum, StrEnum...
        return _fallback(value, allow_pickle, where, f"{kind.__name__} (a subclass of a JSON type)")
    return _fallback(value, allow_pickle, where, kind.__qualname__)


def _fallback(value: Any, allow_pickle: bool, where: str, what: str) -> Any:
    if allow_pickle:
        try:
            return {"__pickle__": base64.b64encode(pickle.dumps(value)).decode("ascii")}
        except Exception as exc:
            raise UnstorableValueError(f"{where}: value of type {what} cannot be pickled: {exc}") from exc
    raise UnstorableValueError(
        f"{where}: a value of type {what} cannot be stored as JSON; return JSON types or pydantic "
        "models, or opt in to pickle with allow_pickle=True on the step or workflow"
    )


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) <= 2:
        if "__tuple__" in obj and len(obj) == 1:
            return tuple(obj["__tuple__"])
        if "__pydantic__" in obj:
            return import_ref(obj["__pydantic__"]).model_validate(obj["data"])
        if "__pickle__" in obj and len(obj) == 1:
            return pickle.loads(base64.b64decode(obj["__pickle__"]))
        if "__datetime__" in obj and len(obj) == 1:
            return datetime.fromisoformat(obj["__datetime__"])
        if "__date__" in obj and len(obj) == 1:
            return date.fromisoformat(obj["__date__"])
    return obj


def dumps(value: Any, *, allow_pickle: bool = False, where: str = "value") -> str:
    """Serialise `value`; raise UnstorableValueError naming `where` when it cannot be stored."""
    kind = type(value)
    if kind is int or kind is bool or value is None:
        return "null" if value is None else ("true" if value is True else "false" if value is False else str(value))
    if kind is str:
        return _encode_str(value)
    try:
        return json.dumps(_encode(value, allow_pickle, where), separators=(",", ":"), allow_nan=True)
    except UnstorableValueError:
        raise
    except (RecursionError, ValueError) as exc:
        # A cycle recurses until Python's limit (or trips json's own circular check); so does a
        # structure nested thousands deep. Either must fail the step, never escape the engine.
        if isinstance(exc, RecursionError) or "Circular reference" in describe(exc):
            raise UnstorableValueError(
                f"{where}: the value is cyclic or nested too deep to store (more than about "
                f"{sys.getrecursionlimit()} levels); return a flat or acyclic structure"
            ) from None
        raise UnstorableValueError(f"{where}: the value cannot be serialised: {describe_repr(exc)}") from exc
    except Exception as exc:  # a model's serializer or a value's hook raised
        raise UnstorableValueError(f"{where}: the value cannot be serialised: {describe_repr(exc)}") from exc


_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def loads(text: str) -> Any:
    if text == "null":
        return None
    return json.loads(text, object_hook=_hook)


def to_jsonable(value: Any) -> Any:
    """A plain-JSON view of a value for display (CLI output): models dumped, tuples as lists."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return repr(value)
