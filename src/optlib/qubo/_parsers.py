"""Readers for the SAC-94 / OR-Library knapsack format, DIMACS graphs and TSPLIB files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


def _text(source: str | os.PathLike) -> str:
    if isinstance(source, os.PathLike) or (isinstance(source, str) and "\n" not in source
                                           and Path(source).exists()):
        return Path(source).read_text()
    if isinstance(source, str):
        return source
    raise ValueError(f"source must be a path or the file's text, got {type(source).__name__}")


class KnapsackInstance(NamedTuple):
    """A multidimensional knapsack instance read from a file.

    Attributes:
        profits: ``(n,)`` profits.
        weights: ``(m, n)`` weights.
        capacities: ``(m,)`` capacities.
        optimum: the optimum (maximum profit) stated in the file, or ``None`` if it is 0/absent.
    """

    profits: np.ndarray
    weights: np.ndarray
    capacities: np.ndarray
    optimum: float | None


def read_mdkp(source: str | os.PathLike, index: int = 0) -> KnapsackInstance:
    """Reads a multidimensional knapsack instance.

    Two layouts are understood: the single-instance SAC-94 layout ``n m opt / p / W / c``
    (Drake et al. 2016) and OR-Library files (``mknap1``, ``mknapcb*``) that start with the
    number of problems ``K`` followed by ``K`` such blocks.

    Args:
        source: a path, or the file's text.
        index: which problem of an OR-Library multi-instance file.

    Returns:
        A :class:`KnapsackInstance`.

    Raises:
        ValueError: for a malformed file (non-numeric tokens, wrong number of values,
            negative sizes) or an out-of-range ``index``.

    Example:
        >>> from optlib.qubo import read_mdkp
        >>> inst = read_mdkp("2 1 5\\n3 2\\n1 1\\n1\\n")
        >>> inst.profits.tolist(), inst.optimum
        ([3.0, 2.0], 5.0)
    """
    try:
        tok = np.array([float(t) for t in _text(source).split()])
    except ValueError as err:
        raise ValueError(f"malformed knapsack file: {err}") from None
    if tok.size < 3:
        raise ValueError("malformed knapsack file: fewer than 3 numbers")

    def block(pos: int) -> tuple[KnapsackInstance, int]:
        if pos + 3 > tok.size:
            raise ValueError("malformed knapsack file: truncated header")
        n, m, opt = tok[pos:pos + 3]
        if n != int(n) or m != int(m) or n < 1 or m < 1:
            raise ValueError(f"malformed knapsack file: bad sizes n={n}, m={m}")
        n, m = int(n), int(m)
        need = n + m * n + m
        body = tok[pos + 3:pos + 3 + need]
        if body.size != need:
            raise ValueError(f"malformed knapsack file: expected {need} numbers after the "
                             f"header 'n={n} m={m}', found {body.size}")
        p, W, c = body[:n], body[n:n + m * n].reshape(m, n), body[n + m * n:]
        return KnapsackInstance(p, W, c, float(opt) if opt != 0 else None), pos + 3 + need

    single_len = None
    if tok[0] == int(tok[0]) and tok[1] == int(tok[1]) and tok[0] >= 1 and tok[1] >= 1:
        single_len = 3 + int(tok[0]) + int(tok[1]) * int(tok[0]) + int(tok[1])
    if single_len == tok.size:
        if index != 0:
            raise ValueError(f"index {index} out of range: the file holds one instance")
        return block(0)[0]
    count = int(tok[0])
    if tok[0] != count or count < 1:
        raise ValueError("malformed knapsack file: neither a single instance nor an "
                         "OR-Library multi-instance file")
    if not 0 <= index < count:
        raise ValueError(f"index {index} out of range: the file holds {count} instances")
    pos = 1
    for _ in range(index):
        pos = block(pos)[1]
    return block(pos)[0]


def read_dimacs(source: str | os.PathLike) -> Any:
    """Reads a DIMACS graph (``p edge N M`` / ``p col N M`` and ``e u v`` lines, 1-based).

    The node count comes from the ``p`` line (some files have isolated nodes that never appear
    in an edge line); nodes are numbered ``0..N-1``.

    Args:
        source: a path, or the file's text.

    Returns:
        An undirected ``networkx.Graph``.

    Raises:
        ValueError: for a missing or repeated ``p`` line, an edge before it, a node outside
            ``1..N``, a self-loop or an unknown line type.

    Example:
        >>> from optlib.qubo import read_dimacs
        >>> g = read_dimacs("p edge 3 1\\ne 1 2\\n")
        >>> g.number_of_nodes(), list(g.edges)
        (3, [(0, 1)])
    """
    import networkx as nx

    graph = None
    for lineno, raw in enumerate(_text(source).splitlines(), 1):
        parts = raw.split()
        if not parts or parts[0] == "c":
            continue
        if parts[0] == "p":
            if graph is not None:
                raise ValueError(f"malformed DIMACS file: second 'p' line at line {lineno}")
            if len(parts) < 3 or not parts[2].isdigit():
                raise ValueError(f"malformed DIMACS file: bad 'p' line {raw!r}")
            graph = nx.Graph()
            graph.add_nodes_from(range(int(parts[2])))
        elif parts[0] == "e":
            if graph is None:
                raise ValueError(f"malformed DIMACS file: edge before the 'p' line (line {lineno})")
            try:
                u, v = int(parts[1]), int(parts[2])
            except (IndexError, ValueError):
                raise ValueError(f"malformed DIMACS file: bad edge line {raw!r}") from None
            n = graph.number_of_nodes()
            if not (1 <= u <= n and 1 <= v <= n):
                raise ValueError(f"malformed DIMACS file: edge ({u}, {v}) outside nodes 1..{n}")
            if u == v:
                raise ValueError(f"malformed DIMACS file: self-loop at node {u} (line {lineno})")
            graph.add_edge(u - 1, v - 1)
        else:
            raise ValueError(f"malformed DIMACS file: unknown line type {parts[0]!r} "
                             f"(line {lineno})")
    if graph is None:
        raise ValueError("malformed DIMACS file: no 'p' line")
    return graph


class TSPLIBInstance(NamedTuple):
    """A TSPLIB instance.

    Attributes:
        name: the ``NAME`` field.
        distances: ``(n, n)`` integer distance matrix computed with TSPLIB's rules.
        coordinates: ``(n, 2)`` node coordinates, or ``None`` for explicit matrices.
    """

    name: str
    distances: np.ndarray
    coordinates: np.ndarray | None


def _geo_radians(x: np.ndarray) -> np.ndarray:
    pi = 3.141592  # TSPLIB's own constant; the published optima depend on it
    deg = np.trunc(x)
    return pi * (deg + 5.0 * (x - deg) / 3.0) / 180.0


def tsplib_distances(coords: np.ndarray, edge_weight_type: str) -> np.ndarray:
    """TSPLIB distances between coordinates (``GEO``, ``EUC_2D``, ``CEIL_2D`` or ``ATT``).

    Args:
        coords: ``(n, 2)`` coordinates (for ``GEO``: ``DDD.MM`` latitude and longitude).
        edge_weight_type: the TSPLIB ``EDGE_WEIGHT_TYPE``.

    Returns:
        ``(n, n)`` integer distances (zero diagonal), exactly as TSPLIB defines them.
    """
    X = np.asarray(coords, float)
    if edge_weight_type == "GEO":
        lat, lon = _geo_radians(X[:, 0]), _geo_radians(X[:, 1])
        q1 = np.cos(lon[:, None] - lon[None, :])
        q2 = np.cos(lat[:, None] - lat[None, :])
        q3 = np.cos(lat[:, None] + lat[None, :])
        arg = np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0)
        D = np.floor(6378.388 * np.arccos(arg) + 1.0)
    else:
        diff = X[:, None, :] - X[None, :, :]
        r = np.sqrt(np.sum(diff ** 2, -1))
        if edge_weight_type == "EUC_2D":
            D = np.floor(r + 0.5)
        elif edge_weight_type == "CEIL_2D":
            D = np.ceil(r)
        elif edge_weight_type == "ATT":
            rr = np.sqrt(np.sum(diff ** 2, -1) / 10.0)
            t = np.floor(rr + 0.5)
            D = np.where(t < rr, t + 1, t)
        else:
            raise ValueError(f"unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r}")
    D = D.astype(np.int64)
    np.fill_diagonal(D, 0)
    return D


def _explicit(values: list[float], n: int, fmt: str) -> np.ndarray:
    M = np.zeros((n, n))
    it = iter(values)
    try:
        if fmt == "FULL_MATRIX":
            return np.array(values[:n * n], float).reshape(n, n) if len(values) == n * n else \
                _raise(n * n, len(values))
        cells = {
            "UPPER_ROW": [(i, j) for i in range(n) for j in range(i + 1, n)],
            "LOWER_ROW": [(i, j) for i in range(n) for j in range(i)],
            "UPPER_DIAG_ROW": [(i, j) for i in range(n) for j in range(i, n)],
            "LOWER_DIAG_ROW": [(i, j) for i in range(n) for j in range(i + 1)],
        }[fmt]
    except KeyError:
        raise ValueError(f"unsupported EDGE_WEIGHT_FORMAT {fmt!r}") from None
    if len(values) != len(cells):
        _raise(len(cells), len(values))
    for (i, j) in cells:
        M[i, j] = M[j, i] = next(it)
    return M


def _raise(need: int, got: int) -> np.ndarray:
    raise ValueError(f"malformed TSPLIB file: EDGE_WEIGHT_SECTION needs {need} values, "
                     f"found {got}")


def read_tsplib(source: str | os.PathLike) -> TSPLIBInstance:
    """Reads a symmetric TSPLIB file (``GEO``, ``EUC_2D``, ``CEIL_2D``, ``ATT`` or ``EXPLICIT``).

    ``GEO`` uses TSPLIB's exact rule (``PI = 3.141592``, ``DDD.MM`` coordinates,
    ``int(6378.388 * acos(...) + 1.0)``); without it the published optima are not reproduced.

    Args:
        source: a path, or the file's text.

    Returns:
        A :class:`TSPLIBInstance`.

    Raises:
        ValueError: for a missing ``DIMENSION``, an unsupported type or format, or a section
            with the wrong number of entries.

    Example:
        >>> from optlib.qubo import read_tsplib
        >>> text = ("NAME: t\\nTYPE: TSP\\nDIMENSION: 3\\nEDGE_WEIGHT_TYPE: EUC_2D\\n"
        ...         "NODE_COORD_SECTION\\n1 0 0\\n2 3 4\\n3 0 4\\nEOF\\n")
        >>> read_tsplib(text).distances.tolist()
        [[0, 5, 4], [5, 0, 3], [4, 3, 0]]
    """
    lines = _text(source).splitlines()
    spec: dict[str, str] = {}
    coords: list[list[float]] = []
    weights: list[float] = []
    section = None
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            break
        key = line.split(":")[0].strip().upper()
        if ":" in line and key.replace("_", "").isalpha():
            spec[key] = line.split(":", 1)[1].strip()
            section = None
            continue
        if key in ("NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION", "DISPLAY_DATA_SECTION",
                   "TOUR_SECTION"):
            section = key
            continue
        try:
            nums = [float(t) for t in line.split()]
        except ValueError:
            raise ValueError(f"malformed TSPLIB file: unexpected line {raw!r}") from None
        if section == "NODE_COORD_SECTION":
            if len(nums) < 3:
                raise ValueError(f"malformed TSPLIB file: bad coordinate line {raw!r}")
            coords.append(nums[1:3])
        elif section == "EDGE_WEIGHT_SECTION":
            weights.extend(nums)
        elif section is None:
            raise ValueError(f"malformed TSPLIB file: numbers outside a section: {raw!r}")
    if "DIMENSION" not in spec or not spec["DIMENSION"].isdigit():
        raise ValueError("malformed TSPLIB file: missing or bad DIMENSION")
    n = int(spec["DIMENSION"])
    if spec.get("TYPE", "TSP").split()[0] not in ("TSP",):
        raise ValueError(f"unsupported TSPLIB TYPE {spec.get('TYPE')!r} (only symmetric TSP)")
    ewt = spec.get("EDGE_WEIGHT_TYPE", "").split()[0] if spec.get("EDGE_WEIGHT_TYPE") else ""
    if ewt == "EXPLICIT":
        fmt = spec.get("EDGE_WEIGHT_FORMAT", "").split()[0] if spec.get(
            "EDGE_WEIGHT_FORMAT") else ""
        D = _explicit(weights, n, fmt).astype(np.int64)
        X = np.array(coords) if len(coords) == n else None
    else:
        if len(coords) != n:
            raise ValueError(f"malformed TSPLIB file: DIMENSION {n} but {len(coords)} "
                             "coordinates")
        X = np.array(coords)
        D = tsplib_distances(X, ewt)
    return TSPLIBInstance(spec.get("NAME", ""), D, X)


def held_karp(distances: Any) -> tuple[float, list[int]]:
    """Exact TSP by Held-Karp dynamic programming (numpy; ``n <= 17`` or so).

    Args:
        distances: ``(n, n)`` distance matrix.

    Returns:
        ``(length, tour)`` with the tour starting at city 0.

    Example:
        >>> from optlib.qubo import held_karp
        >>> held_karp([[0, 1, 2], [1, 0, 3], [2, 3, 0]])[0]
        6.0
    """
    D = np.asarray(distances, float)
    n = D.shape[0]
    if n > 20:
        raise ValueError(f"held_karp is exponential; n = {n} is too large (max 20)")
    m = n - 1
    full = 1 << m
    cost = np.full((full, m), np.inf)
    parent = np.full((full, m), -1, np.int64)
    for j in range(m):
        cost[1 << j, j] = D[0, j + 1]
    masks = np.arange(full)
    popcount = np.array([bin(s).count("1") for s in range(full)])
    Dm = D[1:, 1:]
    for size in range(2, m + 1):
        for S in masks[popcount == size]:
            members = [j for j in range(m) if S >> j & 1]
            for j in members:
                prev = S ^ (1 << j)
                cand = cost[prev] + Dm[:, j]
                cand[[k for k in range(m) if not prev >> k & 1]] = np.inf
                k = int(np.argmin(cand))
                cost[S, j], parent[S, j] = cand[k], k
    last = cost[full - 1] + D[1:, 0]
    j = int(np.argmin(last))
    length = float(last[j])
    tour, S = [], full - 1
    while j >= 0:
        tour.append(j + 1)
        S, j = S ^ (1 << j), int(parent[S, j])
    return length, [0] + tour[::-1]

