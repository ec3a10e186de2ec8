"""Loaders for the small data sets that ship with optlib (each folder under ``data/``
records its source and licence in ``SOURCE.md``)."""

from optlib.datasets._qubo import qubo_instance_names, qubo_instance_path, qubo_optimum

__all__: list[str] = ["qubo_instance_names", "qubo_instance_path", "qubo_optimum"]
