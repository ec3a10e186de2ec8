"""The core example runs in quick mode and prints the result it promises."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_implicit_ridge_example_quick():
    out = subprocess.run([sys.executable, str(ROOT / "examples/core/implicit_ridge.py"), "--quick"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines() if ":" in line)
    before, after = lines["validation loss"].split(" in ")[0].split("->")
    assert float(after) < 0.5 * float(before)
    assert float(lines["hypergradient relative error vs closed form"]) < 1e-6
