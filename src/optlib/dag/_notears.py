"""NOTEARS (linear): the augmented-Lagrangian baseline with the trace-exponential constraint."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from optlib.dag._acyclicity import h_expm


class NotearsResult(NamedTuple):
    """What :meth:`Notears.fit` returns.

    Attributes:
        W: thresholded weights (may still contain a cycle if the constraint was not met;
            check with :func:`optlib.dag.is_dag`).
        W_raw: weights before thresholding.
        h: the acyclicity value ``h(W_raw)`` at the end.
        rho: the final penalty weight.
        iterations: number of dual (outer) iterations.
    """

    W: np.ndarray
    W_raw: np.ndarray
    h: float
    rho: float
    iterations: int


@dataclasses.dataclass(frozen=True)
class Notears:
    """Linear NOTEARS: an L1-penalized score under the trace-exponential acyclicity constraint.

    Solves ``min_W score(W) + lambda1 ||W||_1`` subject to ``tr(e^{W*W}) - d = 0``.

    The augmented Lagrangian ``score + rho/2 h^2 + alpha h + lambda1 ||W||_1`` is minimized
    over ``W = W+ - W-`` with ``W+, W- >= 0`` (zero diagonal) by L-BFGS-B (SciPy), with the
    objective and its gradient compiled in JAX; ``rho`` grows tenfold until ``h`` falls
    below a quarter of its previous value, then ``alpha += rho h``; the loop ends when
    ``h <= h_tol`` or ``rho >= rho_max``. Defaults are the reference code's.

    Args:
        lambda1: L1 weight.
        loss: ``"l2"`` (least squares on centred data) or ``"logistic"``.
        max_iter: maximum dual iterations.
        h_tol: acyclicity tolerance.
        rho_max: largest penalty weight.
        w_threshold: weights with ``|w| < w_threshold`` are zeroed in ``W``.

    Example:
        >>> import jax, optlib.dag as dag
        >>> k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
        >>> B = dag.simulate_dag(k1, 5, 5)
        >>> X = dag.simulate_linear_sem(k2, dag.simulate_parameter(k3, B), 500)
        >>> result = dag.Notears(lambda1=0.1).fit(X)
        >>> dag.is_dag(result.W)
        True

    References:
        Zheng, Aragam, Ravikumar & Xing, "DAGs with NO TEARS: Continuous Optimization for
        Structure Learning", NeurIPS 2018.
    """

    lambda1: float = 0.1
    loss: str = "l2"
    max_iter: int = 100
    h_tol: float = 1e-8
    rho_max: float = 1e16
    w_threshold: float = 0.3

    def fit(self, X: jax.typing.ArrayLike) -> NotearsResult:
        """Runs NOTEARS on ``X`` (``[n, d]``) and returns a :class:`NotearsResult`."""
        from optlib.dag._topo import _check_data

        X = np.asarray(_check_data(X, need_full_rank=False), dtype=np.float64)
        if self.loss not in ("l2", "logistic"):
            raise ValueError(f"loss must be 'l2' or 'logistic', got {self.loss!r}")
        n, d = X.shape
        if self.loss == "l2":
            X = X - X.mean(axis=0, keepdims=True)
        Xj = jnp.asarray(X)
        loss_kind = self.loss

        def objective(w: jax.Array, rho: jax.Array, alpha: jax.Array,
                      lam: jax.Array) -> jax.Array:
            W = (w[: d * d] - w[d * d:]).reshape(d, d)
            M = Xj @ W
            if loss_kind == "l2":
                loss = 0.5 / n * jnp.sum((Xj - M) ** 2)
            else:
                loss = jnp.sum(jax.nn.softplus(M) - Xj * M) / n
            h = h_expm(W)
            return loss + 0.5 * rho * h * h + alpha * h + lam * jnp.sum(w)

        value_and_grad = jax.jit(jax.value_and_grad(objective))
        h_of = jax.jit(lambda w: h_expm((w[: d * d] - w[d * d:]).reshape(d, d)))

        def fun(w: np.ndarray, rho: float, alpha: float) -> tuple[float, np.ndarray]:
            v, g = value_and_grad(jnp.asarray(w), rho, alpha, self.lambda1)
            return float(v), np.asarray(g, dtype=np.float64)

        diag = np.eye(d, dtype=bool).ravel()
        bounds = [(0.0, 0.0) if diag[k % (d * d)] else (0.0, None) for k in range(2 * d * d)]
        w = np.zeros(2 * d * d)
        rho, alpha, h = 1.0, 0.0, np.inf
        iterations = 0
        for _ in range(self.max_iter):
            iterations += 1
            w_new, h_new = w, h
            while rho < self.rho_max:
                sol = scipy.optimize.minimize(fun, w, args=(rho, alpha), jac=True,
                                              method="L-BFGS-B", bounds=bounds)
                w_new = sol.x
                h_new = float(h_of(jnp.asarray(w_new)))
                if h_new > 0.25 * h:
                    rho *= 10.0
                else:
                    break
            w, h = w_new, h_new
            alpha += rho * h
            if h <= self.h_tol or rho >= self.rho_max:
                break
        W_raw = (w[: d * d] - w[d * d:]).reshape(d, d)
        W = np.where(np.abs(W_raw) < self.w_threshold, 0.0, W_raw)
        return NotearsResult(W=W, W_raw=W_raw, h=float(h), rho=float(rho), iterations=iterations)
