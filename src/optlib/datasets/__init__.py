"""Loaders for the small data sets that ship with optlib (each folder under ``data/``
records its source and licence in ``SOURCE.md``)."""

from optlib.datasets._sachs import Sachs as Sachs
from optlib.datasets._sachs import load_sachs as load_sachs

__all__: list[str] = ["Sachs", "load_sachs"]
