"""Conversion to and from ``dimod.BinaryQuadraticModel`` (dimod is an optional dependency)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from optlib.qubo._model import QUBO


def _dimod() -> Any:
    try:
        import dimod
    except ImportError as err:  # pragma: no cover - exercised only without dimod
        raise ImportError("to_dimod/from_dimod need dimod: pip install dimod") from err
    return dimod


def to_dimod(qubo: QUBO) -> Any:
    """The QUBO as a ``dimod.BinaryQuadraticModel`` (vartype BINARY, variables ``0..n-1``).

    Args:
        qubo: a (dense or sparse) QUBO with concrete values.

    Returns:
        A ``dimod.BinaryQuadraticModel`` with the same energy for every assignment.

    Example:
        >>> import jax.numpy as jnp
        >>> from optlib.qubo import QUBO, to_dimod
        >>> bqm = to_dimod(QUBO(jnp.array([[0.0, 1.0], [1.0, 0.0]]), jnp.array([-1.0, 0.5])))
        >>> float(bqm.energy({0: 1, 1: 1}))
        1.5
    """
    dimod = _dimod()
    h, J = qubo.ising_fields()
    h, J = np.asarray(h, float), np.triu(np.asarray(J, float), 1)
    rows, cols = np.nonzero(J)
    bqm = dimod.BinaryQuadraticModel.from_numpy_vectors(
        h, (rows, cols, J[rows, cols]), float(qubo.offset), dimod.BINARY)
    return bqm


def from_dimod(bqm: Any, dtype: Any = None) -> tuple[QUBO, list[Any]]:
    """A QUBO from a ``dimod.BinaryQuadraticModel`` (a SPIN model is converted to BINARY).

    Args:
        bqm: the binary quadratic model.
        dtype: floating dtype of the result (default: JAX's default float).

    Returns:
        ``(qubo, variables)``: the dense QUBO and the variable labels in column order.

    Example:
        >>> import dimod
        >>> from optlib.qubo import from_dimod
        >>> q, labels = from_dimod(dimod.BQM({"a": -1.0}, {("a", "b"): 2.0}, 0.5, "BINARY"))
        >>> labels, q.energy([1, 1]).item()
        (['a', 'b'], 1.5)
    """
    dimod = _dimod()
    if bqm.vartype is not dimod.BINARY:
        bqm = bqm.change_vartype(dimod.BINARY, inplace=False)
    labels = list(bqm.variables)
    lin, (rows, cols, vals), offset = bqm.to_numpy_vectors(variable_order=labels)
    n = len(labels)
    Q = np.zeros((n, n))
    np.add.at(Q, (rows, cols), np.asarray(vals) / 2)
    np.add.at(Q, (cols, rows), np.asarray(vals) / 2)
    dtype = dtype or jnp.asarray(0.0).dtype
    return QUBO(jnp.asarray(Q, dtype), jnp.asarray(lin, dtype), jnp.asarray(offset, dtype)), labels
