"""A classification head over normalised sentence embeddings: a linear layer and a softmax.

Stored as ``head.safetensors`` (tensors ``weight`` [labels, dim] and ``bias`` [labels]; the
labels in the file's metadata): no pickle, so a version folder is safe to load from
anywhere. Training (scikit-learn) and serving (torch) both go through this class.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HEAD_FILE = "head.safetensors"


class HeadError(ValueError):
    """A head file that is missing, malformed or does not fit the encoder."""


@dataclass(frozen=True)
class Head:
    labels: list[str]
    weight: np.ndarray  # [labels, dim], float32
    bias: np.ndarray  # [labels], float32

    def __post_init__(self) -> None:
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise HeadError(f"head shapes do not fit: weight {self.weight.shape}, bias {self.bias.shape}")
        if len(self.labels) != self.weight.shape[0] or len(set(self.labels)) != len(self.labels):
            raise HeadError(f"head has {self.weight.shape[0]} rows but labels {self.labels}")

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    @classmethod
    def from_linear(cls, labels: list[str], coef: np.ndarray, intercept: np.ndarray) -> Head:
        """From a scikit-learn linear model; a binary model's single row becomes two logits.

        softmax([-z/2, z/2]) is sigmoid(z), so the two-row form gives the same probabilities.
        """
        coef = np.asarray(coef, dtype=np.float32)
        intercept = np.asarray(intercept, dtype=np.float32).reshape(-1)
        if coef.shape[0] == 1 and len(labels) == 2:
            coef = np.concatenate([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        return cls(list(labels), coef, intercept)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """[n, labels] probabilities for normalised embeddings [n, dim]."""
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise HeadError(f"embeddings of shape {x.shape} do not fit a head over {self.dim}-dimensional vectors")
        logits = x @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    def save(self, folder: str | os.PathLike[str]) -> Path:
        from safetensors.numpy import save_file

        path = Path(folder) / HEAD_FILE
        save_file(
            {"weight": np.ascontiguousarray(self.weight, dtype=np.float32),
             "bias": np.ascontiguousarray(self.bias, dtype=np.float32)},
            str(path),
            metadata={"labels": json.dumps(self.labels)},
        )
        return path

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Head:
        from safetensors import safe_open

        path = Path(folder) / HEAD_FILE
        try:
            with safe_open(str(path), framework="numpy") as fh:
                labels = json.loads((fh.metadata() or {}).get("labels", "null"))
                weight, bias = fh.get_tensor("weight"), fh.get_tensor("bias")
        except FileNotFoundError as exc:
            raise HeadError(f"{path} does not exist") from exc
        except Exception as exc:
            raise HeadError(f"{path}: not a head file: {type(exc).__name__}: {exc}") from exc
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise HeadError(f"{path}: metadata 'labels' must be a JSON list of strings")
        return cls(labels, weight, bias)


def find_head(folder: str | os.PathLike[str] | None) -> Head | None:
    """The head in a model folder (a specialist version), or None when the folder has none."""
    if folder is None or not (Path(folder) / HEAD_FILE).is_file():
        return None
    return Head.load(folder)


__all__ = ["HEAD_FILE", "Head", "HeadError", "find_head"]
