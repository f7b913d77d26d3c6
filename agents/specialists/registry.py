"""Versioned specialists on disk: ``$SLMFLOW_HOME/specialists/NAME/vN`` and which one is promoted.

Kept free of torch and Ray: fleet specs resolve ``model: specialist:NAME`` through it.

Layout of one specialist::

    specialists/NAME/
        state.json          {"promoted": 2, "history": [1, 2]}  (promotions, newest last)
        v1/ specialist.json  what was trained: data hash, base, hyper-parameters, labels, eval report
            head.safetensors the trained head (classify), no pickle
            config.json ...  the base encoder's files (hard links when possible), so the
                             version folder loads like any local model folder
        v2/ ...

A version folder appears whole or not at all: training writes a hidden temporary folder
and renames it into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.store import slmflow_home

REFERENCE_PREFIX = "specialist:"
META_FILE = "specialist.json"
STATE_FILE = "state.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VERSION_DIR = re.compile(r"^v([1-9][0-9]*)$")


class RegistryError(ValueError):
    """A specialist or version that does not exist, a bad name, or a registry state that forbids the action."""


class DataInfo(BaseModel):
    """Which data trained a version: enough to tell whether two versions saw the same rows."""

    model_config = ConfigDict(extra="forbid")
    path: str
    sha256: str
    rows: int
    format: str  # "jsonl" ({"text","label"}) or "migrate_export" (chat transcripts, the LLM's answer is the label)


class SpecialistMeta(BaseModel):
    """``specialist.json`` of one version."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: int = Field(ge=1)
    task: str
    method: str
    base: str  # what --base said (an agent name or a model reference)
    base_model: str  # the model reference it resolved to
    max_input_tokens: int
    labels: list[str]
    data: DataInfo
    eval_data: DataInfo | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)

    @property
    def tag(self) -> str:
        return f"{self.name}/v{self.version}"


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")
    promoted: int | None = None
    history: list[int] = Field(default_factory=list)


def specialists_root() -> Path:
    """Where specialists live: ``$SLMFLOW_HOME/specialists`` (default ``~/.slmflow/specialists``)."""
    return slmflow_home() / "specialists"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(
            f"specialist name {name!r} is not a slug (lowercase letters, digits, - and _, starting with a letter or digit)"
        )
    return name


def _write_json(path: Path, data: Any) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of either."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the record from replicas running as another user
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Registry:
    """The specialists under ``root`` (default :func:`specialists_root`)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else specialists_root()

    # -- reading ------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name) and self.versions(p.name))

    def folder(self, name: str) -> Path:
        return self.root / check_name(name)

    def versions(self, name: str) -> list[int]:
        folder = self.folder(name)
        if not folder.is_dir():
            return []
        found = []
        for p in folder.iterdir():
            m = _VERSION_DIR.match(p.name)
            if m and (p / META_FILE).is_file():
                found.append(int(m.group(1)))
        return sorted(found)

    def version_dir(self, name: str, version: int) -> Path:
        return self.folder(name) / f"v{version}"

    def meta(self, name: str, version: int | None = None) -> SpecialistMeta:
        """One version's record (default: the promoted one, else the newest)."""
        version = self._pick(name, version)
        path = self.version_dir(name, version) / META_FILE
        try:
            return SpecialistMeta.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise RegistryError(f"specialist {name!r} has no version v{version}; versions: {self._listing(name)}") from exc
        except (OSError, ValidationError) as exc:
            raise RegistryError(f"{path}: unreadable specialist record: {exc}") from exc

    def state(self, name: str) -> State:
        path = self.folder(name) / STATE_FILE
        if not path.is_file():
            return State()
        try:
            return State.model_validate_json(path.read_text(encoding="utf-8"))
        except (OSError, ValidationError) as exc:
            raise RegistryError(f"{path}: unreadable promotion state: {exc}") from exc

    def promoted(self, name: str) -> int | None:
        return self.state(name).promoted

    def latest(self, name: str) -> int:
        versions = self.versions(name)
        if not versions:
            raise RegistryError(self._missing(name))
        return versions[-1]

    def _pick(self, name: str, version: int | None) -> int:
        if version is not None:
            return version
        promoted = self.promoted(name)
        return promoted if promoted is not None else self.latest(name)

    def _listing(self, name: str) -> str:
        return ", ".join(f"v{v}" for v in self.versions(name)) or "none"

    def _missing(self, name: str) -> str:
        known = ", ".join(self.names()) or "none yet"
        return f"no specialist {name!r} under {self.root} (specialists: {known}); train one with `slmflow train {name} ...`"

    # -- writing ------------------------------------------------------------------------

    def staging_dir(self, name: str) -> Path:
        """A fresh hidden folder to build a version in; :meth:`commit` moves it into place."""
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f".staging-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def commit(self, name: str, staging: Path, meta: SpecialistMeta) -> SpecialistMeta:
        """Give the staged folder the next version number (concurrent trainings each get their own)."""
        while True:
            version = (self.versions(name) or [0])[-1] + 1
            meta = meta.model_copy(update={"version": version})
            _write_json(staging / META_FILE, meta.model_dump(mode="json"))
            try:
                # rename() of a folder fails when the target exists: another run took vN first.
                os.rename(staging, self.version_dir(name, version))
            except OSError:
                if self.version_dir(name, version).exists():
                    continue
                raise
            return meta

    def discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def promote(self, name: str, version: int | None = None) -> SpecialistMeta:
        """Serve ``version`` (default: the newest) from now on; returns its record."""
        version = self.latest(name) if version is None else version
        meta = self.meta(name, version)
        state = self.state(name)
        if state.promoted != version:
            state = State(promoted=version, history=[*state.history, version])
            _write_json(self.folder(name) / STATE_FILE, state.model_dump())
        return meta

    def rollback(self, name: str) -> SpecialistMeta:
        """Serve the version promoted before the current one again."""
        state = self.state(name)
        if state.promoted is None:
            raise RegistryError(f"specialist {name!r} has no promoted version to roll back from")
        history = list(state.history)
        while history and history[-1] == state.promoted:
            history.pop()
        if not history:
            raise RegistryError(
                f"specialist {name!r}: v{state.promoted} is the only version ever promoted; nothing to roll back to"
            )
        previous = history[-1]
        meta = self.meta(name, previous)
        _write_json(self.folder(name) / STATE_FILE, State(promoted=previous, history=history).model_dump())
        return meta

    # -- references ---------------------------------------------------------------------

    def resolve(self, reference: str) -> Path:
        """The version folder a reference names.

        ``specialist:NAME``: the promoted version, or the newest while none was promoted;
        ``@promoted`` insists on a promoted one; ``@latest`` the newest; ``@vN`` that version.
        """
        body = reference[len(REFERENCE_PREFIX) :] if reference.startswith(REFERENCE_PREFIX) else reference
        name, _, pin = body.partition("@")
        name = check_name(name.strip("/"))
        if not self.versions(name):
            raise RegistryError(self._missing(name))
        if pin == "":
            # Before any promotion the newest version is served as a candidate (shadow mode).
            version = self._pick(name, None)
        elif pin == "promoted":
            version = self.promoted(name)
            if version is None:
                raise RegistryError(
                    f"specialist {name!r} has no promoted version (versions: {self._listing(name)}); "
                    f"run `slmflow specialists promote {name}`, or name one: specialist:{name}@v{self.latest(name)}"
                )
        elif pin == "latest":
            version = self.latest(name)
        else:
            m = _VERSION_DIR.match(pin)
            if not m:
                raise RegistryError(
                    f"{reference!r}: expected specialist:NAME, specialist:NAME@promoted, @latest or @vN")
            version = int(m.group(1))
            if version not in self.versions(name):
                raise RegistryError(f"specialist {name!r} has no version v{version}; versions: {self._listing(name)}")
        return self.version_dir(name, version)

    def version_of(self, path: str | os.PathLike[str]) -> tuple[str, int] | None:
        """(name, version) when ``path`` is a version folder of this registry (what a deployed spec's model holds)."""
        p = Path(path)
        m = _VERSION_DIR.match(p.name)
        if not m or not (p / META_FILE).is_file():
            return None
        try:
            meta = SpecialistMeta.model_validate_json((p / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValidationError):
            return None
        return meta.name, meta.version


def read_meta(folder: str | os.PathLike[str]) -> SpecialistMeta | None:
    """The record of a version folder, or None when ``folder`` is not one."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return None
    try:
        return SpecialistMeta.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        raise RegistryError(f"{path}: unreadable specialist record: {exc}") from exc


__all__ = [
    "META_FILE",
    "REFERENCE_PREFIX",
    "DataInfo",
    "Registry",
    "RegistryError",
    "SpecialistMeta",
    "State",
    "check_name",
    "read_meta",
    "specialists_root",
]
