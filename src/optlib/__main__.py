"""``python -m optlib``: a tour of every area on small built-in problems."""

from __future__ import annotations

import argparse
import sys

from optlib._tour import discover, format_table, run_tour


def main(argv: list[str] | None = None) -> int:
    """Runs the tour and prints the results table; returns 1 if any entry missed its reference."""
    parser = argparse.ArgumentParser(prog="python -m optlib", description=__doc__)
    parser.add_argument("--area", action="append", help="run only this area (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the entries and exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    opts = parser.parse_args(argv)

    entries = discover()
    if opts.area:
        unknown = set(opts.area) - {e.area for e in entries}
        if unknown:
            parser.error(f"unknown area(s) {sorted(unknown)}; "
                         f"known: {sorted({e.area for e in entries})}")
        entries = [e for e in entries if e.area in opts.area]
    if opts.list:
        for e in entries:
            print(f"{e.area:10s} {e.problem} ({e.solver})")
        return 0
    rows = run_tour(entries, progress=not opts.no_progress)
    print()
    print(format_table(rows))
    missed = [r for r in rows if not r.outcome.ok]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} entries matched their reference.")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
