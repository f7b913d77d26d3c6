"""Train a classify specialist: a logistic-regression head over an encoder's sentence embeddings.

The embeddings come from the same runtime that serves the agent (``ModelRunner``, task
``embed``, normalised), so training and serving see identical features. The head's
regularisation is chosen by cross-validation on the training part only; the held-out part
(``--eval`` or a split fixed by the seed) is touched once, to report. Each run becomes a
new version folder in the registry (see ``agents.specialists.registry``).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from agents.specialists.data import DataError, Dataset, load_examples, split
from agents.specialists.head import HEAD_FILE, Head
from agents.specialists.registry import META_FILE, DataInfo, Registry, SpecialistMeta, check_name
from orchestrator.logging import get_logger

log = get_logger(component="specialists.train")

# Candidate inverse regularisation strengths for the head, picked by cross-validation.
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
METHODS = ("head", "finetune")
DEFAULT_C = 10.0  # too few examples per label to cross-validate
EMBED_CHUNK = 32
# Files of a base model folder a version folder does not need.
_SKIP = {"README.md", ".gitattributes", META_FILE, HEAD_FILE}

Progress = Callable[[str, int, int], None]


class TrainError(ValueError):
    """Training cannot start or finish: bad base, bad data, too few labels."""


class TrainResult(BaseModel):
    name: str
    version: int
    path: str
    labels: list[str]
    metrics: dict[str, Any]
    meta: SpecialistMeta


def fleet_agent(base: str, fleet: Any = None) -> tuple[Any, Any]:
    """(the fleet, its agent named ``base`` or None); the fleet is the default one unless given."""
    from agents.errors import AgentNotFound, SpecError
    from agents.spec import load_fleet

    if fleet is None:
        try:
            fleet = load_fleet()
        except SpecError:
            return None, None
    try:
        return fleet, fleet.get(base)
    except AgentNotFound:
        return fleet, None


def resolve_base(base: str, fleet: Any = None, option: str = "--base") -> tuple[str, int]:
    """(model reference, max_input_tokens) for ``--base`` (or ``option``): an agent of the fleet or a model reference."""
    from agents.models.source import resolve_source

    fleet, spec = fleet_agent(base, fleet)
    if spec is not None:
        return spec.model, spec.max_input_tokens
    names = ", ".join(fleet.names) if fleet is not None else "none (no fleet file)"
    try:
        src = resolve_source(base)
    except ValueError as exc:
        raise TrainError(f"{option} {base!r} is neither an agent of the fleet ({names}) nor a model: {exc}") from exc
    if src.kind != "local" or src.is_gguf:
        raise TrainError(f"{option} {base!r} is not an agent of the fleet ({names}) nor a local encoder folder "
                         "(a path or package:...); hub ids and GGUF files cannot be a specialist's base")
    return src.location, 256


def materialise(model_folder: Path, staging: Path) -> None:
    """The base's files in the version folder: hard links (no copy) on one filesystem, copies otherwise."""
    for src in model_folder.rglob("*"):
        rel = src.relative_to(model_folder)
        if src.is_dir() or rel.parts[0] in _SKIP or rel.name in _SKIP or rel.parts[0].startswith("."):
            continue
        dst = staging / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src.resolve(), dst)
        except OSError:
            shutil.copy2(src, dst)


def _embed(runner: Any, texts: list[str], stage: str, progress: Progress | None) -> np.ndarray:
    from agents.errors import AgentError
    from agents.protocol import EmbedRequest, TaskKind

    out: list[np.ndarray] = []
    for start in range(0, len(texts), EMBED_CHUNK):
        [resp] = runner.run_batch(TaskKind.EMBED, [EmbedRequest(texts=texts[start : start + EMBED_CHUNK])])
        if isinstance(resp, AgentError):
            raise TrainError(f"embedding failed: {resp}")
        out.append(np.asarray(resp.embeddings, dtype=np.float32))
        if progress:
            progress(stage, min(start + EMBED_CHUNK, len(texts)), len(texts))
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def _fit(x: np.ndarray, y: list[str], *, C: float | None, seed: int) -> tuple[Head, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_validate

    counts = Counter(y)
    folds = min(5, min(counts.values()))
    params: dict[str, Any] = {"classifier": "logistic_regression", "class_weight": "balanced", "max_iter": 2000}
    if C is None and folds >= 2:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        acc: dict[float, float] = {}
        loss: dict[float, float] = {}
        for c in C_GRID:
            got = cross_validate(LogisticRegression(C=c, class_weight="balanced", max_iter=2000), x, y, cv=cv,
                                 scoring=("accuracy", "neg_log_loss"))
            acc[c], loss[c] = float(np.mean(got["test_accuracy"])), -float(np.mean(got["test_neg_log_loss"]))
        # Log-loss, not accuracy: escalation thresholds read the head's confidence, so it
        # should be calibrated, and accuracy ties on small data.
        C = min(C_GRID, key=lambda c: loss[c])
        params.update(C=C, C_selected_by=f"lowest log-loss in {folds}-fold cross-validation on the training part",
                      cv_accuracy={str(c): round(v, 4) for c, v in acc.items()},
                      cv_log_loss={str(c): round(v, 4) for c, v in loss.items()})
    else:
        C = DEFAULT_C if C is None else C
        params.update(C=C, C_selected_by="given" if C != DEFAULT_C or folds >= 2 else "default (too few rows per label)")
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000)
    clf.fit(x, y)
    labels = [str(c) for c in clf.classes_]
    return Head.from_linear(labels, clf.coef_, clf.intercept_), params


def encoder_runner(name: str, base: str, fleet: Any, threads: int, progress: Progress | None,
                   option: str = "--base") -> tuple[Any, str, int]:
    """(a loaded CPU runner over encoder ``base``, its model reference, its max_input_tokens)."""
    from agents.protocol import TaskKind
    from agents.runtime import ModelRunner
    from agents.spec import AgentSpec

    model_ref, max_tokens = resolve_base(base, fleet, option)
    spec = AgentSpec(name=f"train-{name}"[:63], model=model_ref, tasks=[TaskKind.EMBED, TaskKind.CLASSIFY],
                     device="cpu", dtype="float32", max_input_tokens=max_tokens, classify_method="similarity")
    if progress:
        progress("loading base", 0, 1)
    runner = ModelRunner(spec, threads=threads).load()
    if runner.info()["kind"] != "encoder":
        raise TrainError(f"{option} {base!r} is a causal LM; a classify head needs an encoder (e.g. minilm)")
    if progress:
        progress("loading base", 1, 1)
    return runner, model_ref, max_tokens


def fit_head(runner: Any, texts: list[str], labels: list[str], descriptions: dict[str, str] | None, *,
             C: float | None, seed: int, progress: Progress | None) -> tuple[Head, dict[str, Any]]:
    """A head over ``runner``'s embeddings of ``texts``; C by cross-validation unless given."""
    # A label's description is one more example of it, and often the only one phrased apart
    # from the training set's templates (leave-one-template-out on the tool data: 88.5% -> 94.0%).
    described = [(descriptions[lab], lab) for lab in sorted(set(labels)) if (descriptions or {}).get(lab)]
    x_train = _embed(runner, texts + [d for d, _ in described], "embedding training texts", progress)
    if progress:
        progress("fitting head", 0, 1)
    head, params = _fit(x_train, labels + [lab for _, lab in described], C=C, seed=seed)
    params["description_rows"] = len(described)
    if progress:
        progress("fitting head", 1, 1)
    return head, params


def _zero_shot(runner: Any, texts: list[str], labels: list[str], descriptions: dict[str, str] | None) -> list[str]:
    from agents.errors import AgentError
    from agents.protocol import ClassifyRequest, TaskKind

    descs = {lab: (descriptions or {}).get(lab, lab) for lab in labels}
    out: list[str] = []
    for start in range(0, len(texts), EMBED_CHUNK):
        reqs = [ClassifyRequest(text=t, labels=labels, label_descriptions=descs, method="similarity")
                for t in texts[start : start + EMBED_CHUNK]]
        for resp in runner.run_batch(TaskKind.CLASSIFY, reqs):
            if isinstance(resp, AgentError):
                raise TrainError(f"zero-shot baseline failed: {resp}")
            out.append(resp.label)
    return out


def evaluate(head: Head, x: np.ndarray, gold: list[str]) -> dict[str, Any]:
    """Accuracy, mean confidence and per-label accuracy of ``head`` on embeddings ``x``."""
    if not gold:
        return {}
    probs = head.probabilities(x)
    pred = [head.labels[i] for i in probs.argmax(axis=1)]
    right = [p == g for p, g in zip(pred, gold, strict=True)]
    per_label: dict[str, float] = {}
    for lab in sorted(set(gold)):
        idx = [i for i, g in enumerate(gold) if g == lab]
        per_label[lab] = round(sum(right[i] for i in idx) / len(idx), 4)
    return {
        "accuracy": round(sum(right) / len(right), 4),
        "mean_confidence": round(float(probs.max(axis=1).mean()), 4),
        "per_label_accuracy": per_label,
    }


def train_classifier(
    name: str,
    *,
    base: str,
    data: str | os.PathLike[str] | Dataset,
    eval_data: str | os.PathLike[str] | Dataset | None = None,
    fleet: Any = None,
    label_descriptions: dict[str, str] | None = None,
    seed: int = 0,
    test_fraction: float = 0.2,
    C: float | None = None,
    threads: int = 0,
    zero_shot: bool = True,
    registry: Registry | None = None,
    progress: Progress | None = None,
    method: str = "head",
    finetune_layers: int = 2,
    finetune_epochs: int = 8,
    finetune_lr: float = 1e-4,
    refit: bool = False,
) -> TrainResult:
    """Train a head for ``name`` on ``data`` over the encoder ``base``; write and return the new version.

    ``threads``: torch CPU threads (0 leaves the process setting alone). ``progress(stage, done, total)``
    is called as embedding proceeds. Raises TrainError / DataError with the reason.
    ``method``: "head" (a head over the frozen encoder) or "finetune" (first tune the encoder's
    top ``finetune_layers`` blocks on the training texts, see ``agents.specialists.finetune``;
    the version folder then holds the tuned weights instead of a link to the base's).
    ``refit``: with a held-out split (no ``eval_data``), fit the saved head on every row once
    the split has been scored, with the C chosen on the training part; the report still
    describes the head fitted without the held-out rows.
    """
    check_name(name)
    if method not in METHODS:
        raise TrainError(f"classify method must be one of {', '.join(METHODS)}; got {method!r}")
    if refit and method != "head":
        raise TrainError("refit goes with method 'head' (a refitted fine-tune would train the encoder twice)")
    registry = registry or Registry()
    t0 = time.perf_counter()
    train_set = data if isinstance(data, Dataset) else load_examples(data)
    held_set = (eval_data if isinstance(eval_data, Dataset) else load_examples(eval_data)) if eval_data else None
    held_out_split = held_set is None and len({e.text for e in train_set.examples}) >= 10
    if held_set is not None:
        train_rows, eval_rows, eval_source = train_set.examples, held_set.examples, "file"
    elif held_out_split:
        train_rows, eval_rows = split(train_set.examples, test_fraction=test_fraction, seed=seed)
        eval_source = f"held-out split ({test_fraction:.0%} of distinct texts, seed {seed})"
    else:
        train_rows, eval_rows, eval_source = train_set.examples, train_set.examples, "training data (too few to hold out)"
    labels = sorted({e.label for e in train_rows})
    if len(labels) < 2:
        raise DataError(f"{train_set.path}: a classifier needs at least two labels, got {labels}")

    runner, model_ref, max_tokens = encoder_runner(name, base, fleet, threads, progress)

    # The zero-shot baseline is the base encoder's, so it runs before any tuning.
    base_pred = _zero_shot(runner, [e.text for e in eval_rows], labels, label_descriptions) \
        if zero_shot and eval_rows else None
    tuned: dict[str, Any] = {}
    if method == "finetune":
        from agents.specialists.finetune import finetune_encoder

        # Tunes the runner's own model in place: embeddings below, the evaluation and the
        # saved weights all come from the tuned encoder, through the serving code path.
        tuned = finetune_encoder(runner.engine.lm, [e.text for e in train_rows], [e.label for e in train_rows],
                                 layers=finetune_layers, epochs=finetune_epochs, lr=finetune_lr, seed=seed,
                                 max_tokens=max_tokens, progress=progress)
    head, params = fit_head(runner, [e.text for e in train_rows], [e.label for e in train_rows], label_descriptions,
                            C=C, seed=seed, progress=progress)
    x_eval = _embed(runner, [e.text for e in eval_rows], "embedding evaluation texts", progress)
    gold = [e.label for e in eval_rows]
    metrics: dict[str, Any] = {"eval_source": eval_source, "eval_rows": len(eval_rows), "train_rows": len(train_rows)}
    metrics.update(evaluate(head, x_eval, gold))
    unknown = sorted({g for g in gold if g not in head.labels})
    if unknown:
        metrics["eval_labels_not_trained"] = unknown
    if train_set.format == "migrate_export":
        # The labels are the LLM's answers: accuracy against them is agreement with the LLM.
        metrics["agreement"] = metrics.get("accuracy")
    if base_pred is not None:
        metrics["zero_shot_accuracy"] = round(sum(p == g for p, g in zip(base_pred, gold, strict=True)) / len(gold), 4)
    if refit and held_out_split:
        every = train_set.examples
        head, _ = fit_head(runner, [e.text for e in every], [e.label for e in every], label_descriptions,
                           C=params["C"], seed=seed, progress=progress)
        params["refit_rows"] = len(every)
    metrics["train_s"] = round(time.perf_counter() - t0, 2)

    meta = SpecialistMeta(
        name=name, version=1, task="classify", method=method, base=base, base_model=model_ref,
        max_input_tokens=max_tokens, labels=head.labels,
        data=DataInfo(path=str(train_set.path), sha256=train_set.sha256, rows=len(train_set.examples),
                      format=train_set.format),
        eval_data=DataInfo(path=str(held_set.path), sha256=held_set.sha256, rows=len(held_set.examples),
                           format=held_set.format) if held_set is not None else None,
        hyperparameters={**params, **tuned, "seed": seed, "test_fraction": test_fraction if held_set is None else None,
                         "features": "normalised sentence embedding", "embedding_dim": head.dim},
        metrics=metrics,
    )
    staging = registry.staging_dir(name)
    try:
        base_folder = Path(runner.spec.source().location)
        materialise(base_folder, staging)
        if method == "finetune":
            from agents.specialists.finetune import save_encoder

            save_encoder(runner.engine.lm, base_folder, staging)
        head.save(staging)
        meta = registry.commit(name, staging, meta)
    except BaseException:
        registry.discard(staging)
        raise
    path = registry.version_dir(name, meta.version)
    log.info("specialist trained", specialist=meta.tag, accuracy=metrics.get("accuracy"), seconds=metrics["train_s"])
    return TrainResult(name=name, version=meta.version, path=str(path), labels=head.labels, metrics=metrics, meta=meta)


__all__ = ["C_GRID", "METHODS", "TrainError", "TrainResult", "encoder_runner", "evaluate", "fit_head", "fleet_agent", "resolve_base",
           "train_classifier"]

