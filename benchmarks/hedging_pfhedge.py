"""pfhedge side by side with optlib on shared Heston paths (issue 7's pfhedge check).

pfhedge (PyTorch) needs numpy < 2, so it cannot share optlib's environment. The JAX side
(``benchmarks/hedging.py --pfhedge-export FILE.npz``) simulates the training batches and the
test paths, trains optlib's MLP hedger with Adam and exports everything; this script, run in
an environment with ``torch`` and ``pfhedge``, then

1. evaluates pfhedge's objective (``pfhedge.nn.functional.pl`` and ``EntropicRiskMeasure``)
   on optlib's Black-Scholes delta hedge of the shared test paths, against optlib's own
   P&L and risk (a check of the objective, float32 on both sides);
2. trains pfhedge's ``Hedger`` with its ``MultiLayerPerceptron`` (same widths, tanh, the
   same features log-moneyness, volatility and time to maturity), started from optlib's
   exported initial weights, with ``torch.optim.Adam`` at the same learning rate on the
   same batches in the same order, and compares the final test risk per seed.

Setting up pfhedge (CPU build of torch from this machine's wheel cache)::

    python3.11 -m venv /tmp/pfh && /tmp/pfh/bin/pip install torch==2.13.0 "numpy<2" pfhedge

Run::

    python benchmarks/hedging.py --pfhedge-export /tmp/shared.npz --seeds 5 --steps 150 \\
        --paths 512 --test-paths 8192 --adam-lrs 1e-2
    /tmp/pfh/bin/python benchmarks/hedging_pfhedge.py /tmp/shared.npz

It writes ``benchmarks/results/hedging/pfhedge_<setting>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pfhedge
import torch
from pfhedge.instruments import EuropeanOption, HestonStock
from pfhedge.nn import EntropicRiskMeasure, Hedger, MultiLayerPerceptron
from pfhedge.nn.functional import pl

RESULTS = Path(__file__).parent / "results" / "hedging"
FEATURES = ["log_moneyness", "volatility", "time_to_maturity"]


def make_derivative(cfg: dict, dt: float) -> EuropeanOption:
    stock = HestonStock(kappa=cfg["kappa"], theta=cfg["theta"], sigma=cfg["xi"], rho=cfg["rho"],
                        cost=cfg["cost"], dt=dt)
    return EuropeanOption(stock, strike=cfg["s0"], maturity=cfg["num_steps"] * dt)


def set_paths(derivative: EuropeanOption, spot: np.ndarray, variance: np.ndarray) -> None:
    """Puts the shared paths where pfhedge's simulation would have put its own."""
    stock = derivative.ul()
    stock.register_buffer("spot", torch.from_numpy(np.ascontiguousarray(spot)))
    stock.register_buffer("variance", torch.from_numpy(np.ascontiguousarray(variance)))


def objective(hedger: Hedger, derivative: EuropeanOption) -> tuple[torch.Tensor, torch.Tensor]:
    """pfhedge's P&L and entropic risk of ``hedger`` on the paths set in ``derivative``."""
    unit = hedger.compute_hedge(derivative)               # (N, 1, n + 1)
    spot = derivative.ul().spot.unsqueeze(1)
    pnl = pl(spot, unit, cost=[derivative.ul().cost], payoff=derivative.payoff())
    return pnl, hedger.criterion(pnl)


def load_init(data: np.lib.npyio.NpzFile, seed: int, mlp: MultiLayerPerceptron,
              layers: list[str]) -> None:
    """Copies optlib's flax initial weights ((d_in, d_out) kernels) into the torch MLP."""
    linears = [m for m in mlp if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, name in zip(linears, layers, strict=True):
            lin.weight.copy_(torch.from_numpy(data[f"init{seed}/{name}/kernel"].T.copy()))
            lin.bias.copy_(torch.from_numpy(data[f"init{seed}/{name}/bias"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path, help="the .npz written by hedging.py --pfhedge-export")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = np.load(args.shared)
    cfg = json.loads(str(data["config"]))
    times = data["times"].astype(np.float64)
    dt = float(times[1] - times[0])
    derivative = make_derivative(cfg, dt)

    # 1. The objective on optlib's Black-Scholes hedge (pfhedge repeats the last position at
    # maturity, so the hedge gets the same last column: no trade at maturity in either).
    set_paths(derivative, data["test_spot"], data["test_variance"])
    bs = torch.from_numpy(data["bs_hedge"])
    unit = torch.cat([bs, bs[:, -1:]], dim=1).unsqueeze(1)
    pnl_pf = pl(derivative.ul().spot.unsqueeze(1), unit, cost=[cfg["cost"]],
                payoff=derivative.payoff())
    risk_pf = float(EntropicRiskMeasure(a=cfg["lam"])(pnl_pf))
    pnl_err = float(np.max(np.abs(pnl_pf.numpy() - data["bs_pnl"])))
    check = dict(pfhedge_bs_risk=risk_pf, optlib_bs_risk=float(data["bs_risk"]),
                 max_abs_pnl_difference=pnl_err,
                 pnl_scale=float(np.max(np.abs(data["bs_pnl"]))))
    print(f"objective on the BS delta: pfhedge {risk_pf:.6f}, optlib {float(data['bs_risk']):.6f}; "
          f"max |P&L difference| {pnl_err:.2e} (P&L up to {check['pnl_scale']:.1f})")

    # 2. Training pfhedge's hedger from optlib's initial weights on the same batches.
    layers = [f"hidden_{i}" for i in range(2)] + ["head"]
    finals, curves, walls = [], [], []
    for seed in range(cfg["seeds"]):
        mlp = MultiLayerPerceptron(3, 1, n_layers=2, n_units=cfg["hidden"],
                                   activation=torch.nn.Tanh())
        load_init(data, seed, mlp, layers)
        hedger = Hedger(mlp, inputs=FEATURES, criterion=EntropicRiskMeasure(a=cfg["lam"]))
        opt = torch.optim.Adam(hedger.parameters(), lr=cfg["lr"])
        curve = []
        start = time.perf_counter()
        for k in range(cfg["steps"]):
            set_paths(derivative, data["train_spot"][k], data["train_variance"][k])
            opt.zero_grad()
            loss = objective(hedger, derivative)[1]
            loss.backward()
            opt.step()
            set_paths(derivative, data["test_spot"], data["test_variance"])
            with torch.no_grad():
                curve.append(float(objective(hedger, derivative)[1]))
        walls.append(time.perf_counter() - start)
        finals.append(curve[-1])
        curves.append(curve)
        print(f"seed {seed}: pfhedge final test risk {curve[-1]:.4f}, optlib "
              f"{float(data['optlib_curve'][seed, -1]):.4f}", flush=True)

    ours = data["optlib_curve"][:, -1]
    diff = np.asarray(finals) - ours
    se = float(data["test_risk_se"])
    n = len(finals)
    summary = dict(
        pfhedge_final=finals, optlib_final=ours.tolist(),
        pfhedge_mean=float(np.mean(finals)), optlib_mean=float(np.mean(ours)),
        paired_mean=float(diff.mean()),
        paired_se=float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
        max_abs_curve_difference=float(np.max(np.abs(np.asarray(curves)
                                                     - data["optlib_curve"]))),
        test_risk_se=se, within_one_se=bool(abs(float(np.mean(finals)) - float(np.mean(ours)))
                                            <= se),
        pfhedge_wall_s=walls, optlib_wall_s=float(data["optlib_wall_s"]))
    print(f"final test risk: pfhedge {summary['pfhedge_mean']:.4f}, optlib "
          f"{summary['optlib_mean']:.4f}, paired {summary['paired_mean']:+.4f} ± "
          f"{summary['paired_se']:.4f} (s.e. over seeds); one test-risk s.e. = {se:.4f}; "
          f"largest curve difference {summary['max_abs_curve_difference']:.3g}")
    name = (f"pfhedge_s0{cfg['s0']:g}_xi{cfg['xi']:g}_c{cfg['cost']:g}_H{cfg['hidden']}"
            f"_S{cfg['seeds']}_n{cfg['steps']}_p{cfg['paths']}.json")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / name
    out.write_text(json.dumps(dict(config=cfg, objective_check=check, training=summary,
                                   pfhedge_curves=curves,
                                   optlib_curves=data["optlib_curve"].tolist(),
                                   pfhedge=pfhedge.__version__, torch=torch.__version__,
                                   python=platform.python_version()), indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
