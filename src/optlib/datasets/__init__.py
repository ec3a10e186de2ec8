"""Loaders for the small data sets that ship with optlib (each folder under ``data/``
records its source and licence in ``SOURCE.md``)."""

from optlib.datasets._qubo import qubo_instance_names, qubo_instance_path, qubo_optimum
from optlib.datasets._tinyshakespeare import CharCorpus, load_tinyshakespeare

__all__: list[str] = [
    "CharCorpus",
    "load_tinyshakespeare",
    "qubo_instance_names",
    "qubo_instance_path",
    "qubo_optimum",
]
