"""Loaders for the small data sets that ship with optlib (each folder under ``data/``
records its source and licence in ``SOURCE.md``)."""

from optlib.datasets._qubo import QUBO_OPTIMA, qubo_instance_names, qubo_instance_path

__all__: list[str] = ["QUBO_OPTIMA", "qubo_instance_names", "qubo_instance_path"]
