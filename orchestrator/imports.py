"""Find an object by reference: `"module:qualname"` or `"/path/to/file.py:qualname"`.

Resuming a run, running a step in a worker process, reading back a stored pydantic value
and loading a workflow in a Ray job all find code by such a reference; this is the one
importer they share.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any


class BadReference(ImportError):
    """A reference that is malformed, or names a file or attribute that is not there."""


def split_ref(ref: str) -> tuple[str, str]:
    """`("module", "qualname")` from `"module:qualname"` (the last colon, so file paths may hold one)."""
    module, sep, qualname = ref.rpartition(":")
    if not sep or not module or not qualname:
        raise BadReference(f"bad reference {ref!r}; expected 'module:name' or 'path/to/file.py:name'")
    return module, qualname


def load_module(module: str, *, path: str | None = None) -> ModuleType:
    """The module `module`: already imported, imported by name, or executed from a file.

    A name ending in `.py` is a file, loaded once under a private name derived from its path
    (a script's bare name may clash with an installed module). `path` is the file to fall back
    to when `module` cannot be imported by name (a worker process started elsewhere).
    """
    if module.endswith(".py"):
        key = "_slmflow_script_" + hashlib.sha256(module.encode()).hexdigest()[:12]
        return sys.modules.get(key) or _exec_file(key, module)
    found = sys.modules.get(module)
    if found is not None:
        return found
    try:
        return importlib.import_module(module)
    except ImportError:
        if not path:
            raise
        return _exec_file(module, path)


def get_qualname(obj: Any, qualname: str, where: str) -> Any:
    """`obj.a.b` for qualname `"a.b"`; BadReference naming `where` when a part is missing."""
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise BadReference(f"{where!r} has no attribute {qualname!r}") from None
    return obj


def import_ref(ref: str, *, path: str | None = None) -> Any:
    """The object `ref` names (see `load_module` for files and `path`)."""
    module, qualname = split_ref(ref)
    return get_qualname(load_module(module, path=path), qualname, module)


def _exec_file(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BadReference(f"cannot load {path!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # A half-executed module must not be found by the next lookup.
        sys.modules.pop(name, None)
        raise
    return module
