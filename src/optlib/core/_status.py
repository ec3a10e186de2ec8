"""Termination status codes shared by every solver and by :func:`optlib.run`."""

from __future__ import annotations

import enum

import jax.numpy as jnp
import numpy as np


class Status(enum.IntEnum):
    """Why a run stopped.

    Inside ``jit`` a status is an ``int32`` array; compare it with these members
    (``result.status == optlib.Status.SUCCESS``) or convert it on the host with
    ``optlib.Status(int(result.status))``.

    Attributes:
        SUCCESS: the solver's own stopping rule was met.
        MAX_STEPS: ``max_steps`` was reached before the stopping rule.
        NONFINITE: a step produced NaN or infinite parameters; the run returns
            the last finite iterate.
        DIVERGED: the solver detected divergence (for example an objective that
            grew past its divergence threshold).
        INFEASIBLE: the solver proved or detected that its constraints cannot
            be satisfied.
    """

    SUCCESS = 0
    MAX_STEPS = 1
    NONFINITE = 2
    DIVERGED = 3
    INFEASIBLE = 4

    @property
    def message(self) -> str:
        """A one-line human-readable explanation."""
        return _MESSAGES[self]

    @property
    def failed(self) -> bool:
        """``True`` for every status except :attr:`SUCCESS`."""
        return self is not Status.SUCCESS

    def as_array(self) -> jnp.ndarray:
        """The status as an ``int32`` scalar array (for use inside traced code)."""
        return jnp.asarray(int(self), dtype=jnp.int32)


_MESSAGES = {
    Status.SUCCESS: "converged: the solver's stopping rule was met",
    Status.MAX_STEPS: "stopped at max_steps before the stopping rule was met",
    Status.NONFINITE: "a step produced non-finite values; the last finite iterate is returned",
    Status.DIVERGED: "the solver detected divergence",
    Status.INFEASIBLE: "the constraints are infeasible",
}


def status_counts(status: np.ndarray) -> dict[Status, int]:
    """Counts each status in an array of status codes (for batched runs)."""
    codes = np.asarray(status).reshape(-1)
    values, counts = np.unique(codes, return_counts=True)
    return {Status(int(c)): int(n) for c, n in zip(values, counts, strict=True)}
