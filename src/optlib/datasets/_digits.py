"""The 8x8 handwritten digits (UCI, CC BY 4.0)."""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Loads the 1,797 8x8 handwritten digits.

    Returns:
        ``(X, y)``: ``X`` is ``float32[1797, 64]`` with pixel intensities in [0, 16],
        ``y`` is ``int32[1797]`` with labels 0..9.

    Example:
        >>> from optlib.datasets import load_digits
        >>> X, y = load_digits()
        >>> X.shape, int(y.max())
        ((1797, 64), 9)
    """
    path = resources.files("optlib.datasets") / "data" / "digits" / "digits.csv.gz"
    with resources.as_file(path) as file, gzip.open(file, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int32)
