"""Smoke tests: every LLM example's ``--quick`` mode runs and prints a sensible result.

Each script runs in its own process (as a user would run it) in float32; the checks read
its printed tables, not only its exit code.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "llm"


def run_quick(name: str) -> str:
    # os.environ carries the cheaper compile flags that conftest sets: a quick run is mostly
    # XLA compiling a few large programs once.
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg")
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick"], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def table(out: str, first_column: str) -> dict[str, list[str]]:
    """The Markdown table whose header starts with ``first_column``, keyed by its first cell."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_column} |"))
    rows = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize("name", ["data_reweighting.py"])
def test_data_reweighting_quick(name):
    out = run_quick(name)
    weights = {k: float(v[0]) for k, v in table(out, "source").items()}
    assert set(weights) == {"clean", "char noise", "shuffled words", "held-out plays"}
    assert abs(sum(weights.values()) - 1) < 1e-3
    # the corrupted sources get the lowest weights
    assert max(weights["char noise"], weights["shuffled words"]) < min(
        weights["clean"], weights["held-out plays"])
    loss = {k: float(v[0]) for k, v in table(out, "training data").items()}
    assert loss["reweighted (ScaleBiO)"] < loss["uniform mixture"]
    assert all(1.0 < v < 4.2 for v in loss.values())        # learned something (ln 65 = 4.17)
    assert "get the lowest weights: yes" in out
    assert (EXAMPLES / "out" / "data_reweighting.png").exists()


def test_schedule_refinement_quick():
    out = run_quick("schedule_refinement.py")
    rows = table(out, "schedule")
    assert set(rows) == {"linear decay", "cosine to 10%", "WSD (1-sqrt, 20%)",
                         "refined (from linear's l1 norms)"}
    losses = {k: float(v[1]) for k, v in rows.items()}
    assert all(1.0 < v < 4.2 for v in losses.values())
    # differences between schedules are small next to the loss itself
    assert max(losses.values()) - min(losses.values()) < 0.3
    m = re.search(r"peak at (\d+)% of the run.*mean value ([0-9.]+)", out)
    assert m and 0 <= int(m.group(1)) <= 100 and 0.05 < float(m.group(2)) <= 1.0
    assert (EXAMPLES / "out" / "schedule_refinement.png").exists()


def test_borep_text_quick():
    out = run_quick("borep_text.py")
    rows = table(out, "method")
    assert set(rows) == {"no cleaning (noisy labels)", "clean-only oracle", "BO-REP", "SOBA",
                         "Penalty", "ImplicitDiff"}
    for cells in rows.values():
        final, sd, best, seconds = (float(c) for c in cells[:4])
        assert 0.0 <= final <= best <= 1.0 and sd >= 0.0 and seconds > 0
        w_clean, w_bad = float(cells[5]), float(cells[6])
        assert 0.0 <= w_bad <= 1.0 and 0.0 < w_clean <= 1.0
    # the baseline never moves the weights (sigmoid(0) = 0.5); the oracle drops the corrupted
    assert float(rows["no cleaning (noisy labels)"][5]) == pytest.approx(0.5)
    assert float(rows["clean-only oracle"][5]) == pytest.approx(1.0)
    assert float(rows["clean-only oracle"][6]) < 1e-6
    assert re.search(r"chance level 0\.333; oracle [-+]0\.\d+ over no cleaning; best bilevel "
                     r"method: (BO-REP|SOBA|Penalty|ImplicitDiff)", out)
    assert (EXAMPLES / "out" / "borep_text.png").exists()
