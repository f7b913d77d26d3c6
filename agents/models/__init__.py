"""Model loading: resolving references, GGUF conversion cache, devices and dtypes.

Importing this package is cheap; torch and transformers load only in ``agents.models.loader``.
"""

from agents.models.source import ModelSource, resolve_source

__all__ = ["ModelSource", "resolve_source"]
