"""The tour behind ``python -m optlib``: one small, real problem per area.

Each area registers entries in its own ``optlib.<area>._tour`` module as a list
``ENTRIES`` of :class:`TourEntry`; :func:`discover` finds them, so adding an area
never touches this file.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import time
from collections.abc import Callable

AREA_ORDER = ("core", "bilevel", "schedules", "dag", "curvature", "hedging", "qubo", "llm")


@dataclasses.dataclass(frozen=True)
class TourOutcome:
    """What an entry found, and what it should have found.

    Attributes:
        result: the measured result, formatted for the table.
        reference: the exact or published answer it is compared with.
        ok: whether the result is within the stated tolerance of the reference.
    """

    result: str
    reference: str
    ok: bool


@dataclasses.dataclass(frozen=True)
class TourEntry:
    """One row of the tour.

    Attributes:
        area: the subpackage (``"core"``, ``"bilevel"``, ...).
        problem: the built-in problem, in a few words.
        solver: the solver's name.
        run: a zero-argument callable that solves the problem and returns a :class:`TourOutcome`.
    """

    area: str
    problem: str
    solver: str
    run: Callable[[], TourOutcome]


@dataclasses.dataclass(frozen=True)
class TourRow:
    """A finished tour entry with its wall time (compilation included)."""

    entry: TourEntry
    outcome: TourOutcome
    seconds: float


def discover() -> list[TourEntry]:
    """Imports ``optlib.<area>._tour`` for every subpackage and collects their ``ENTRIES``."""
    import optlib

    entries: list[TourEntry] = []
    names = [m.name for m in pkgutil.iter_modules(optlib.__path__) if m.ispkg]
    order = {name: i for i, name in enumerate(AREA_ORDER)}
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        try:
            module = importlib.import_module(f"optlib.{name}._tour")
        except ModuleNotFoundError as err:
            if err.name != f"optlib.{name}._tour":
                raise
            continue
        entries.extend(module.ENTRIES)
    return entries


def run_tour(entries: list[TourEntry], progress: bool = True) -> list[TourRow]:
    """Runs every entry in turn (with a progress bar) and returns the finished rows."""
    from tqdm.auto import tqdm

    rows = []
    bar = tqdm(entries, desc="optlib tour", disable=not progress, unit="problem")
    for entry in bar:
        bar.set_postfix_str(f"{entry.area}: {entry.problem}")
        start = time.perf_counter()
        outcome = entry.run()
        rows.append(TourRow(entry, outcome, time.perf_counter() - start))
    return rows


def format_table(rows: list[TourRow]) -> str:
    """A plain-text table: area, problem, solver, result, reference, check, time."""
    header = ("area", "problem", "solver", "result", "reference", "check", "time")
    body = [(r.entry.area, r.entry.problem, r.entry.solver, r.outcome.result,
             r.outcome.reference, "ok" if r.outcome.ok else "MISS", f"{r.seconds:.2f} s")
            for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=True)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body])
