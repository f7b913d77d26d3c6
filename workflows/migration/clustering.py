"""Small, deterministic clustering of embedding vectors: k-means++ with k chosen by silhouette.

Task types in an LLM call log are few (a handful to a few dozen) and the vectors are
unit-normalised sentence embeddings, so spherical k-means (cosine) with a silhouette
sweep over k is enough, and numpy keeps it dependency-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clustering:
    labels: np.ndarray  # cluster index per point
    centroids: np.ndarray  # unit vectors, one per cluster
    k: int
    silhouette: float
    # Silhouette of every k tried, to show why this k was chosen.
    scores: dict[int, float]


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def kmeans(x: np.ndarray, k: int, *, seed: int = 0, n_init: int = 8, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray, float]:
    """Spherical k-means on unit vectors; returns (labels, centroids, inertia) of the best restart."""
    x = _normalise(np.asarray(x, dtype=np.float64))
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of points ({n}), got {k}")
    rng = np.random.default_rng(seed)
    best: tuple[np.ndarray, np.ndarray, float] | None = None
    for _ in range(n_init):
        # k-means++ seeding on cosine distance.
        centroids = [x[rng.integers(n)]]
        for _ in range(1, k):
            d = np.min(1.0 - x @ np.stack(centroids).T, axis=1).clip(min=0)
            p = d / d.sum() if d.sum() > 0 else np.full(n, 1.0 / n)
            centroids.append(x[rng.choice(n, p=p)])
        c = np.stack(centroids)
        labels = np.zeros(n, dtype=int)
        for it in range(max_iter):
            new = np.argmax(x @ c.T, axis=1)
            if it > 0 and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = x[labels == j]
                # An emptied cluster restarts on the point farthest from its centroid.
                c[j] = members.mean(axis=0) if len(members) else x[np.argmin(np.max(x @ c.T, axis=1))]
            c = _normalise(c)
        inertia = float(np.sum(1.0 - np.sum(x * c[labels], axis=1)))
        if best is None or inertia < best[2]:
            best = (labels.copy(), c.copy(), inertia)
    assert best is not None
    return best


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient under cosine distance (0 when fewer than 2 clusters)."""
    x = _normalise(np.asarray(x, dtype=np.float64))
    ks = np.unique(labels)
    if len(ks) < 2:
        return 0.0
    dist = 1.0 - x @ x.T
    onehot = (labels[:, None] == ks[None, :]).astype(np.float64)
    sizes = onehot.sum(axis=0)
    # Mean distance from every point to every cluster, excluding the point itself from its own.
    sums = dist @ onehot
    own = np.searchsorted(ks, labels)
    idx = np.arange(len(x))
    own_size = sizes[own] - 1
    a = np.where(own_size > 0, sums[idx, own] / np.maximum(own_size, 1), 0.0)
    means = sums / sizes
    means[idx, own] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    # A singleton's silhouette is 0 by convention.
    scores = np.where((own_size > 0) & (denom > 0), (b - a) / np.where(denom > 0, denom, 1), 0.0)
    return float(scores.mean())


def cluster(x: np.ndarray, *, k: int | None = None, k_max: int = 12, seed: int = 0) -> Clustering:
    """Cluster `x`; with `k=None`, try k = 2..k_max and keep the best silhouette."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        raise ValueError("nothing to cluster: no vectors")
    if n < 3 or k == 1:
        return Clustering(np.zeros(n, dtype=int), _normalise(x.mean(axis=0, keepdims=True)), 1, 0.0, {})
    candidates = [k] if k is not None else list(range(2, min(k_max, n - 1) + 1))
    scores: dict[int, float] = {}
    best: tuple[float, int, np.ndarray, np.ndarray] | None = None
    for kk in candidates:
        labels, centroids, _ = kmeans(x, kk, seed=seed)
        s = silhouette(x, labels)
        scores[kk] = round(s, 4)
        if best is None or s > best[0] + 1e-9:
            best = (s, kk, labels, centroids)
    assert best is not None
    s, kk, labels, centroids = best
    return Clustering(labels, centroids, kk, s, scores)
