"""Loaders for the small data sets that ship with optlib (each folder under ``data/``
records its source and licence in ``SOURCE.md``)."""

from optlib.datasets._tinyshakespeare import CharCorpus, load_tinyshakespeare

__all__: list[str] = ["CharCorpus", "load_tinyshakespeare"]
