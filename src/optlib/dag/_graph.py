"""Graph utilities: acyclicity checks, orders, thresholding, NOTEARS metrics, networkx."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import jax
import numpy as np


def _as_square(name: str, M: jax.typing.ArrayLike) -> np.ndarray:
    A = np.asarray(M)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"{name} must be a square [d, d] matrix, got shape {A.shape}")
    return A


def topological_order(B: jax.typing.ArrayLike) -> np.ndarray | None:
    """A topological order of the graph ``B != 0`` (Kahn's algorithm, smallest index first).

    Args:
        B: ``[d, d]`` adjacency or weight matrix (``B[i, j] != 0`` means ``i -> j``).

    Returns:
        An ``int`` array listing the nodes parents-first, or ``None`` if ``B`` has a cycle.

    Example:
        >>> import numpy as np, optlib.dag as dag
        >>> dag.topological_order(np.array([[0, 0], [1, 0]])).tolist()
        [1, 0]
    """
    A = _as_square("B", B) != 0
    if np.any(np.diag(A)):
        return None
    indeg = A.sum(axis=0)
    ready = sorted(np.flatnonzero(indeg == 0).tolist())
    order = []
    heapq.heapify(ready)
    while ready:
        v = heapq.heappop(ready)
        order.append(v)
        for c in np.flatnonzero(A[v]):
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, int(c))
    if len(order) != A.shape[0]:
        return None
    return np.asarray(order, dtype=int)


def is_dag(B: jax.typing.ArrayLike) -> bool:
    """Whether ``B != 0`` is the adjacency matrix of a directed acyclic graph.

    Example:
        >>> import numpy as np, optlib.dag as dag
        >>> dag.is_dag(np.array([[0, 1], [0, 0]])), dag.is_dag(np.array([[0, 1], [1, 0]]))
        (True, False)
    """
    return topological_order(B) is not None


def threshold_till_dag(W: jax.typing.ArrayLike) -> tuple[np.ndarray, float]:
    """Removes the weakest edges of ``W`` until the rest is a DAG.

    Args:
        W: ``[d, d]`` weight matrix (from any method, possibly cyclic).

    Returns:
        ``(W_dag, threshold)``: ``W`` with every entry of absolute value below ``threshold``
        zeroed, for the smallest threshold (among the entries' magnitudes) giving a DAG.

    Example:
        >>> import numpy as np, optlib.dag as dag
        >>> W, t = dag.threshold_till_dag(np.array([[0.0, 0.9], [0.2, 0.0]]))
        >>> W.tolist(), t
        ([[0.0, 0.9], [0.0, 0.0]], 0.9)
    """
    A = _as_square("W", W).astype(float)
    A = A.copy()
    np.fill_diagonal(A, 0.0)
    if is_dag(A):
        return A, 0.0
    levels = np.unique(np.abs(A[A != 0]))
    # Keeping only the strongest level can still leave a cycle if all its edges tie, so
    # the search may end past the last level, where the graph is empty.
    levels = np.append(levels, np.inf)
    lo, hi = 0, len(levels) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if is_dag(np.where(np.abs(A) >= levels[mid], A, 0.0)):
            hi = mid
        else:
            lo = mid + 1
    t = float(levels[lo])
    return np.where(np.abs(A) >= t, A, 0.0), t


def count_accuracy(B_true: jax.typing.ArrayLike, B_est: jax.typing.ArrayLike) -> dict[str, float]:
    """Structure-recovery metrics with the exact NOTEARS semantics.

    ``B_est`` is a binary DAG, or a CPDAG where ``-1`` marks an undirected edge (stored once).
    With ``pred`` the estimated edges and ``cond`` the true ones:

    * ``fdr = (reversed + false positives) / max(|pred|, 1)``
    * ``tpr = true positives / max(|cond|, 1)``
    * ``fpr = (reversed + false positives) / max(d(d-1)/2 - |cond|, 1)``
    * ``shd`` = extra + missing skeleton edges + reversed edges (a reversed edge costs 1)
    * ``nnz = |pred|``

    A false positive is an estimated edge absent from the true skeleton; a reversed edge
    is an estimated edge whose reverse is a true edge.

    Args:
        B_true: ``[d, d]`` binary adjacency matrix of the true DAG.
        B_est: ``[d, d]`` estimate with entries in ``{0, 1}`` (a DAG) or ``{0, 1, -1}``.

    Returns:
        A dict with keys ``fdr``, ``tpr``, ``fpr``, ``shd``, ``nnz``.

    Example:
        >>> import numpy as np, optlib.dag as dag
        >>> B = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]])
        >>> E = np.array([[0, 0, 0], [1, 0, 1], [0, 0, 0]])  # one reversed, one correct
        >>> dag.count_accuracy(B, E)
        {'fdr': 0.5, 'tpr': 0.5, 'fpr': 1.0, 'shd': 1, 'nnz': 2}

    References:
        Zheng et al., "DAGs with NO TEARS", NeurIPS 2018 (``utils.count_accuracy``).
    """
    T = _as_square("B_true", B_true)
    E = _as_square("B_est", B_est)
    if T.shape != E.shape:
        raise ValueError(f"B_true {T.shape} and B_est {E.shape} must have the same shape")
    if not np.isin(T, (0, 1)).all():
        raise ValueError("B_true must be binary (0/1)")
    if np.any(E == -1):
        if not np.isin(E, (0, 1, -1)).all():
            raise ValueError("B_est (a CPDAG) must have entries in {0, 1, -1}")
        if np.any((E == -1) & (E.T == -1)):
            raise ValueError("B_est: an undirected edge (-1) must be stored once")
    else:
        if not np.isin(E, (0, 1)).all():
            raise ValueError("B_est must be binary (0/1); threshold the weights first")
        if not is_dag(E):
            raise ValueError("B_est must be a DAG")
    d = T.shape[0]
    true = T == 1
    skeleton = true | true.T
    directed = E == 1
    undirected = E == -1
    true_pos = np.sum(directed & true) + np.sum(undirected & skeleton)
    false_pos = np.sum(directed & ~skeleton) + np.sum(undirected & ~skeleton)
    reverse = np.sum(directed & ~true & true.T)
    pred_size = int(np.sum(directed) + np.sum(undirected))
    cond_size = int(np.sum(true))
    cond_neg = 0.5 * d * (d - 1) - cond_size
    est_skel = np.tril((E + E.T) != 0)
    true_skel = np.tril(skeleton)
    extra = np.sum(est_skel & ~true_skel)
    missing = np.sum(true_skel & ~est_skel)
    return {
        "fdr": float(reverse + false_pos) / max(pred_size, 1),
        "tpr": float(true_pos) / max(cond_size, 1),
        "fpr": float(reverse + false_pos) / max(cond_neg, 1),
        "shd": int(extra + missing + reverse),
        "nnz": pred_size,
    }


def to_networkx(W: jax.typing.ArrayLike, labels: Sequence[str] | None = None,
                threshold: float = 0.0):
    """Converts a weighted adjacency matrix to a ``networkx.DiGraph``.

    Args:
        W: ``[d, d]`` matrix; an edge ``i -> j`` for every ``|W[i, j]| > threshold``, stored
            with attribute ``weight``.
        labels: optional node names (default ``0 .. d-1``).
        threshold: edges at or below this magnitude are left out.

    Returns:
        A ``networkx.DiGraph`` with all ``d`` nodes.

    Example:
        >>> import numpy as np, optlib.dag as dag
        >>> G = dag.to_networkx(np.array([[0.0, 1.5], [0.0, 0.0]]), labels=["a", "b"])
        >>> list(G.edges(data="weight"))
        [('a', 'b', 1.5)]
    """
    import networkx as nx

    A = _as_square("W", W).astype(float)
    d = A.shape[0]
    names = list(range(d)) if labels is None else list(labels)
    if len(names) != d:
        raise ValueError(f"labels must have {d} entries, got {len(names)}")
    G = nx.DiGraph()
    G.add_nodes_from(names)
    for i, j in zip(*np.nonzero(np.abs(A) > threshold), strict=True):
        G.add_edge(names[i], names[j], weight=float(A[i, j]))
    return G
