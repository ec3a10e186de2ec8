"""The QUBO benchmark instances shipped with optlib (SAC-94 MDKP, Sloane MIS graphs, TSPLIB)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_FOLDERS = {"mdkp": ("mdkp_sac94", ".dat"), "mis": ("mis_dimacs", ".txt"),
            "tsp": ("tsplib", ".tsp")}

_OPTIMA: dict[str, dict[str, int]] = {
    "mdkp": {"pet2": 87061, "pet3": 4015, "pet4": 6120, "pb5": 2139, "pb1": 3090, "hp1": 3418,
             "pet5": 12400, "pb4": 95168, "pb2": 3186, "hp2": 3186, "pb7": 1035, "pet6": 10618},
    "mis": {"1tc.8": 4, "1tc.16": 8, "1tc.32": 12, "1tc.64": 20, "1dc.64": 10, "1dc.128": 16},
    "tsp": {"burma14": 3323, "ulysses16": 6859},
}


def qubo_instance_names(kind: str) -> list[str]:
    """Names of the shipped instances of one kind.

    Args:
        kind: ``"mdkp"`` (SAC-94), ``"mis"`` (DIMACS graphs) or ``"tsp"`` (TSPLIB).

    Returns:
        The instance names, sorted by size then name.

    Example:
        >>> from optlib.datasets import qubo_instance_names
        >>> qubo_instance_names("tsp")
        ['ulysses16', 'burma14']
    """
    if kind not in _FOLDERS:
        raise ValueError(f"kind must be one of {sorted(_FOLDERS)}, got {kind!r}")
    return sorted(_OPTIMA[kind], key=lambda n: (qubo_instance_path(kind, n).stat().st_size, n))


def qubo_instance_path(kind: str, name: str) -> Path:
    """The path of a shipped instance file.

    Args:
        kind: ``"mdkp"``, ``"mis"`` or ``"tsp"``.
        name: the instance name without extension (``"pet2"``, ``"1tc.8"``, ``"burma14"``).

    Returns:
        A :class:`pathlib.Path` to the file inside the installed package.
    """
    if kind not in _FOLDERS:
        raise ValueError(f"kind must be one of {sorted(_FOLDERS)}, got {kind!r}")
    if name not in _OPTIMA[kind]:
        raise ValueError(f"unknown {kind} instance {name!r}; shipped: {sorted(_OPTIMA[kind])}")
    folder, ext = _FOLDERS[kind]
    return Path(str(resources.files("optlib.datasets") / "data" / "qubo" / folder / f"{name}{ext}"))


def qubo_optimum(kind: str, name: str) -> int:
    """The verified optimum of a shipped instance.

    MDKP: the maximum profit; MIS: the independence number; TSP: the minimum tour length.
    Each was re-proved with HiGHS (MDKP, MIS) or Held-Karp (TSP).

    Args:
        kind: ``"mdkp"``, ``"mis"`` or ``"tsp"``.
        name: the instance name.

    Returns:
        The optimum as an integer.

    Example:
        >>> from optlib.datasets import qubo_optimum
        >>> qubo_optimum("tsp", "burma14")
        3323
    """
    qubo_instance_path(kind, name)
    return _OPTIMA[kind][name]
