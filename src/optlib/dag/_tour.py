"""Tour entry for DAG learning (see ``python -m optlib``)."""

from __future__ import annotations

import jax
import numpy as np

from optlib._tour import TourEntry, TourOutcome


def _topo_swap_er2() -> TourOutcome:
    import optlib.dag as dag

    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    B = dag.simulate_dag(k1, 10, 20, "ER")
    X = dag.simulate_linear_sem(k2, dag.simulate_parameter(k3, B), 1000, "gauss")
    result = dag.TopoSwap().fit(X, key=jax.random.key(1), progress=True)
    acc = dag.count_accuracy(np.asarray(B), (result.W != 0).astype(int))
    ok = acc["shd"] == 0 and dag.is_dag(result.W)
    return TourOutcome(f"SHD {acc['shd']}, TPR {acc['tpr']:.2f} in {result.num_rounds} rounds",
                       "true graph (SHD 0)", ok)


ENTRIES = [
    TourEntry("dag", "linear SEM, d=10 ER2, n=1000", "TopoSwap (Cholesky engine)",
              _topo_swap_er2),
]
