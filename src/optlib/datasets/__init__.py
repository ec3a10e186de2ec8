"""Loaders for the small data sets that ship with optlib (each folder under ``data/``
records its source and licence in ``SOURCE.md``)."""

from optlib.datasets._digits import load_digits as load_digits
from optlib.datasets._ijcnn1 import Ijcnn1 as Ijcnn1
from optlib.datasets._ijcnn1 import load_ijcnn1 as load_ijcnn1
from optlib.datasets._qubo import qubo_instance_names as qubo_instance_names
from optlib.datasets._qubo import qubo_instance_path as qubo_instance_path
from optlib.datasets._qubo import qubo_optimum as qubo_optimum
from optlib.datasets._sachs import Sachs as Sachs
from optlib.datasets._sachs import load_sachs as load_sachs
from optlib.datasets._tinyshakespeare import CharCorpus as CharCorpus
from optlib.datasets._tinyshakespeare import load_tinyshakespeare as load_tinyshakespeare

__all__: list[str] = [
    "CharCorpus",
    "Ijcnn1",
    "Sachs",
    "load_digits",
    "load_ijcnn1",
    "load_sachs",
    "load_tinyshakespeare",
    "qubo_instance_names",
    "qubo_instance_path",
    "qubo_optimum",
]
