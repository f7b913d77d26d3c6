"""Clustering of embedding vectors with scikit-learn: k-means++ with k chosen by silhouette.

Task types in an LLM call log are few (a handful to a few dozen) and the vectors are
sentence embeddings compared by cosine, so the vectors are unit-normalised (on the unit
sphere, Euclidean k-means ranks like cosine) and a silhouette sweep over k picks the
number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # cluster index per point
    centroids: np.ndarray  # unit vectors, one per cluster
    k: int
    silhouette: float
    # Silhouette of every k tried, to show why this k was chosen.
    scores: dict[int, float]


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient under cosine distance (0 when fewer than 2 clusters)."""
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return 0.0
    return float(silhouette_score(np.asarray(x, dtype=np.float64), labels, metric="cosine"))


def cluster(x: np.ndarray, *, k: int | None = None, k_max: int = 12, seed: int = 0) -> Clustering:
    """Cluster `x`; with `k=None`, try k = 2..k_max and keep the best silhouette."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("nothing to cluster: no vectors")
    if k is not None and not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    unit = normalize(x)
    if n < 3 or k == 1:
        return Clustering(np.zeros(n, dtype=int), normalize(unit.mean(axis=0, keepdims=True)), 1, 0.0, {})
    candidates = [k] if k is not None else list(range(2, min(k_max, n - 1) + 1))
    scores: dict[int, float] = {}
    best: tuple[float, int, KMeans] | None = None
    for kk in candidates:
        model = KMeans(n_clusters=kk, n_init=8, random_state=seed).fit(unit)
        s = silhouette(unit, model.labels_)
        scores[kk] = round(s, 4)
        if best is None or s > best[0] + 1e-9:
            best = (s, kk, model)
    assert best is not None
    s, kk, model = best
    return Clustering(model.labels_.astype(int), normalize(model.cluster_centers_), kk, s, scores)
