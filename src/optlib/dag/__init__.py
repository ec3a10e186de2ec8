"""DAG structure learning: NOTEARS-type scores optimized by topological swaps (TOPO).

Data generators and metrics follow the NOTEARS conventions; :class:`TopoSwap` searches over
topological orders with a batched Cholesky engine (least squares) or batched per-node
solvers (other scores); :class:`Notears` is the augmented-Lagrangian baseline.
"""

from optlib.dag._acyclicity import h_expm as h_expm
from optlib.dag._acyclicity import h_logdet as h_logdet
from optlib.dag._acyclicity import h_poly as h_poly
from optlib.dag._acyclicity import topo_gradient as topo_gradient
from optlib.dag._graph import count_accuracy as count_accuracy
from optlib.dag._graph import is_dag as is_dag
from optlib.dag._graph import threshold_till_dag as threshold_till_dag
from optlib.dag._graph import to_networkx as to_networkx
from optlib.dag._graph import topological_order as topological_order
from optlib.dag._notears import Notears as Notears
from optlib.dag._notears import NotearsResult as NotearsResult
from optlib.dag._scores import L1LeastSquaresNode as L1LeastSquaresNode
from optlib.dag._scores import LeastSquaresNode as LeastSquaresNode
from optlib.dag._scores import LogisticNode as LogisticNode
from optlib.dag._scores import MLPNode as MLPNode
from optlib.dag._scores import MLPParams as MLPParams
from optlib.dag._scores import NodeData as NodeData
from optlib.dag._scores import gaussian_nv_likelihood as gaussian_nv_likelihood
from optlib.dag._scores import l1_least_squares as l1_least_squares
from optlib.dag._scores import least_squares as least_squares
from optlib.dag._scores import logistic_loss as logistic_loss
from optlib.dag._simulate import simulate_dag as simulate_dag
from optlib.dag._simulate import simulate_linear_sem as simulate_linear_sem
from optlib.dag._simulate import simulate_nonlinear_sem as simulate_nonlinear_sem
from optlib.dag._simulate import simulate_parameter as simulate_parameter
from optlib.dag._sparse import L1OrderFit as L1OrderFit
from optlib.dag._sparse import l1_fit_order as l1_fit_order
from optlib.dag._topo import TopoData as TopoData
from optlib.dag._topo import TopoParams as TopoParams
from optlib.dag._topo import TopoResult as TopoResult
from optlib.dag._topo import TopoSwap as TopoSwap
from optlib.dag._topo import TopoSwapInfo as TopoSwapInfo
from optlib.dag._topo import TopoSwapState as TopoSwapState
from optlib.dag._topo import reference_set_sizes as reference_set_sizes

__all__ = [
    "L1LeastSquaresNode",
    "L1OrderFit",
    "LeastSquaresNode",
    "LogisticNode",
    "MLPNode",
    "MLPParams",
    "NodeData",
    "Notears",
    "NotearsResult",
    "TopoData",
    "TopoParams",
    "TopoResult",
    "TopoSwap",
    "TopoSwapInfo",
    "TopoSwapState",
    "count_accuracy",
    "gaussian_nv_likelihood",
    "h_expm",
    "h_logdet",
    "h_poly",
    "is_dag",
    "l1_fit_order",
    "l1_least_squares",
    "least_squares",
    "logistic_loss",
    "reference_set_sizes",
    "simulate_dag",
    "simulate_linear_sem",
    "simulate_nonlinear_sem",
    "simulate_parameter",
    "threshold_till_dag",
    "to_networkx",
    "topo_gradient",
    "topological_order",
]
