"""How many voices: agglomerative clustering of speaker embeddings (numpy only, no model).

Average linkage on cosine similarity: the two groups whose members are most alike on
average merge while that average is at least ``threshold``.  Average linkage keeps one
odd window (a cough, two voices at once) from chaining two speakers together.
"""

from __future__ import annotations

import numpy as np


def cluster_voices(embeddings: np.ndarray, threshold: float) -> np.ndarray:
    """A cluster label per embedding (0, 1, ...; 0 = the cluster with most members)."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
    sim = x @ x.T
    groups: list[list[int]] = [[i] for i in range(n)]
    while len(groups) > 1:
        best, pair = -2.0, (0, 0)
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                s = float(sim[np.ix_(groups[a], groups[b])].mean())
                if s > best:
                    best, pair = s, (a, b)
        if best < threshold:
            break
        a, b = pair
        groups[a] = groups[a] + groups[b]
        del groups[b]
    groups.sort(key=len, reverse=True)
    labels = np.zeros(n, int)
    for k, members in enumerate(groups):
        labels[members] = k
    return labels


def centroid(embeddings: np.ndarray) -> np.ndarray:
    mean = np.asarray(embeddings, np.float64).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-9)).astype(np.float32)
