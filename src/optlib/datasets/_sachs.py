"""The Sachs et al. (2005) protein-signalling data set and its consensus graph."""

from __future__ import annotations

import csv
from importlib import resources
from typing import NamedTuple

import numpy as np


class Sachs(NamedTuple):
    """The Sachs data.

    Attributes:
        X: ``float64[7466, 11]`` measurements (all conditions, untransformed).
        names: the 11 variable names, in column order.
        B: ``int[11, 11]`` consensus graph (``B[i, j] = 1`` for ``names[i] -> names[j]``,
            18 edges).
    """

    X: np.ndarray
    names: list[str]
    B: np.ndarray


def load_sachs(observational_only: bool = False) -> Sachs:
    """Loads the Sachs flow-cytometry data and the 18-edge consensus graph.

    Args:
        observational_only: keep only the first 853 rows (commonly used as the observational
            condition; see ``SOURCE.md``).

    Returns:
        A :class:`Sachs` tuple ``(X, names, B)``.

    Example:
        >>> from optlib.datasets import load_sachs
        >>> data = load_sachs()
        >>> data.X.shape, int(data.B.sum())
        ((7466, 11), 18)

    References:
        Sachs, Perez, Pe'er, Lauffenburger & Nolan, Science 308:523-529, 2005.
    """
    folder = resources.files("optlib.datasets") / "data" / "sachs"
    with (folder / "cyto_full_data.csv").open() as f:
        rows = list(csv.reader(f))
    names = rows[0]
    X = np.asarray(rows[1:], dtype=np.float64)
    index = {name: i for i, name in enumerate(names)}
    B = np.zeros((len(names), len(names)), dtype=int)
    with (folder / "cyto_full_target.csv").open() as f:
        for cause, effect in list(csv.reader(f))[1:]:
            B[index[cause], index[effect]] = 1
    if observational_only:
        X = X[:853]
    return Sachs(X, names, B)
