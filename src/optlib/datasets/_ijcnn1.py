"""The ijcnn1 binary classification data (LIBSVM), shipped as a subset."""

from __future__ import annotations

from importlib import resources
from typing import NamedTuple

import numpy as np


class Ijcnn1(NamedTuple):
    """ijcnn1 as dense arrays.

    Attributes:
        X_train: ``float32[49990, 22]``.
        y_train: ``float32[49990]`` in {-1, +1}.
        X_test: ``float32[20000, 22]`` (the first 20,000 rows of the LIBSVM test file).
        y_test: ``float32[20000]`` in {-1, +1}.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def load_ijcnn1() -> Ijcnn1:
    """Loads the shipped ijcnn1 data (train file and a 20,000-row test subset).

    Returns:
        An :class:`Ijcnn1` of NumPy arrays.

    Example:
        >>> from optlib.datasets import load_ijcnn1
        >>> data = load_ijcnn1()
        >>> data.X_train.shape, data.X_test.shape
        ((49990, 22), (20000, 22))
    """
    path = resources.files("optlib.datasets") / "data" / "ijcnn1" / "ijcnn1.npz"
    with resources.as_file(path) as file, np.load(file) as npz:
        return Ijcnn1(npz["X_train"], npz["y_train"].astype(np.float32),
                      npz["X_test"], npz["y_test"].astype(np.float32))
