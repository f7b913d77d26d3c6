"""Training data for a classify specialist: plain JSONL or what `slmflow migrate export` writes.

- ``{"text": ..., "label": ...}`` per line: labelled examples;
- ``{"messages": [..., {"role": "user", ...}, {"role": "assistant", ...}]}`` per line (a
  migrate export): the last user message is the text and the LLM's answer is the label, so
  training distils the LLM and evaluation measures agreement with it.

Every error names the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Longer answers are generated text, not labels: such a group is not a classification task.
MAX_LABEL_CHARS = 64
MAX_LABELS = 50

Format = Literal["jsonl", "migrate_export"]


class DataError(ValueError):
    """Training or evaluation data that cannot be used, with the file and line."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class Dataset:
    path: Path
    sha256: str
    format: Format
    examples: list[Example]

    @property
    def labels(self) -> list[str]:
        return sorted({e.label for e in self.examples})


def _label_of(answer: str) -> str:
    # LLMs answer "Positive." as readily as "positive"; the label is the word, not the punctuation.
    return answer.strip().strip(".!\"'`").strip()


def _row(obj: object, where: str) -> tuple[Example, Format]:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if "messages" in obj:
        msgs = obj["messages"]
        if not isinstance(msgs, list) or not all(isinstance(m, dict) for m in msgs):
            raise DataError(f"{where}: 'messages' must be a list of {{role, content}} objects")
        if not msgs or msgs[-1].get("role") != "assistant":
            raise DataError(f"{where}: a migrate export row ends with the assistant's answer (the label)")
        users = [m for m in msgs[:-1] if m.get("role") == "user"]
        if not users:
            raise DataError(f"{where}: no user message to classify")
        text, answer = users[-1].get("content"), msgs[-1].get("content")
        fmt: Format = "migrate_export"
    elif "text" in obj or "label" in obj:
        text, answer = obj.get("text"), obj.get("label")
        fmt = "jsonl"
    else:
        raise DataError(f"{where}: expected {{\"text\", \"label\"}} or a migrate export row {{\"messages\"}}; "
                        f"got keys {sorted(obj)}")
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: the text must be a non-empty string")
    if isinstance(answer, int) and not isinstance(answer, bool):
        answer = str(answer)  # 0/1 class ids are labels too
    if not isinstance(answer, str) or not _label_of(answer):
        raise DataError(f"{where}: the label must be a non-empty string")
    label = _label_of(answer)
    if len(label) > MAX_LABEL_CHARS or "\n" in label:
        raise DataError(f"{where}: the label {label[:40]!r}... is {len(label)} characters long; a classify "
                        "specialist needs short labels (is this group a classification task?)")
    return Example(text=text, label=label), fmt


def load_examples(path: str | os.PathLike[str]) -> Dataset:
    """Read and check a data file; raises DataError naming the file and line."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(f"data file {str(p)!r} does not exist") from exc
    except OSError as exc:
        raise DataError(f"data file {str(p)!r} cannot be read: {exc}") from exc
    examples: list[Example] = []
    formats: set[Format] = set()
    for n, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON: {exc.msg}") from exc
        ex, fmt = _row(obj, where)
        examples.append(ex)
        formats.add(fmt)
    if not examples:
        raise DataError(f"data file {str(p)!r} has no examples")
    if len(formats) > 1:
        raise DataError(f"{p}: mixes {{text, label}} rows with migrate export rows; use one format per file")
    labels = {e.label for e in examples}
    if len(labels) > MAX_LABELS:
        raise DataError(f"{p}: {len(labels)} distinct labels (at most {MAX_LABELS}); is this a classification task?")
    return Dataset(p, hashlib.sha256(raw).hexdigest(), formats.pop(), examples)


def split(examples: list[Example], *, test_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A held-out part fixed by ``seed``, split by distinct text so no text is on both sides.

    Logs repeat requests verbatim; a copy in training would make the held-out score a
    memory test. Every label keeps at least one text in training.
    """
    by_text: dict[str, list[Example]] = {}
    for e in examples:
        by_text.setdefault(e.text, []).append(e)
    texts = sorted(by_text)
    random.Random(seed).shuffle(texts)
    n_test = round(len(texts) * test_fraction)
    test_texts, train_texts = texts[:n_test], texts[n_test:]
    train_labels = {e.label for t in train_texts for e in by_text[t]}
    kept: list[str] = []
    for t in test_texts:
        missing = {e.label for e in by_text[t]} - train_labels
        if missing:
            train_texts.append(t)
            train_labels |= missing
        else:
            kept.append(t)
    train = [e for t in train_texts for e in by_text[t]]
    test = [e for t in kept for e in by_text[t]]
    return train, test


__all__ = ["MAX_LABELS", "MAX_LABEL_CHARS", "DataError", "Dataset", "Example", "load_examples", "split"]
