"""How many voices: agglomerative clustering of speaker embeddings (no model).

Average linkage on cosine similarity: the two groups whose members are most alike on
average merge while that average is at least ``threshold``.  Average linkage keeps one
odd window (a cough, two voices at once) from chaining two speakers together.  SciPy's
linkage does the work (C, O(n^2) memory); past ``MAX_CLUSTERED`` windows (about 50 min of
speech) a spread-out subset is clustered and the other windows join the nearest voice.
"""

from __future__ import annotations

import numpy as np

MAX_CLUSTERED = 4000


def cluster_voices(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """A cluster label per embedding (0, 1, ...; 0 = the cluster with most members)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    x = np.asarray(embeddings, np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    if n == 1:
        return np.zeros(1, int)
    subset = (
        np.arange(n) if n <= MAX_CLUSTERED else np.linspace(0, n - 1, MAX_CLUSTERED).astype(int)
    )
    tree = linkage(x[subset], method="average", metric="cosine")
    raw = fcluster(tree, t=1.0 - threshold, criterion="distance")
    labels = np.full(n, -1, int)
    labels[subset] = raw
    if len(subset) < n:  # the rest join the voice whose centroid is nearest
        ids = np.unique(raw)
        cents = np.stack([centroid(x[subset][raw == k]) for k in ids])
        rest = labels < 0
        labels[rest] = ids[np.argmax(np.einsum("nd,kd->nk", x[rest], cents), axis=1)]
    ids, counts = np.unique(labels, return_counts=True)
    rank = {int(k): r for r, k in enumerate(ids[np.argsort(-counts, kind="stable")])}
    return np.array([rank[int(v)] for v in labels], int)


def centroid(embeddings: np.ndarray) -> np.ndarray:
    mean = np.asarray(embeddings, np.float64).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
