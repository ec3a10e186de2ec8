"""Schedule refinement from the gradient norms of a previous run (Defazio et al., 2023)."""

from __future__ import annotations

import warnings
from typing import Literal, NamedTuple

import numpy as np
from jax.typing import ArrayLike
from scipy import ndimage


class DegenerateScheduleWarning(UserWarning):
    """A refined schedule that is unlikely to beat linear decay (see :func:`refine`)."""


class RefinedSchedule(NamedTuple):
    """What :func:`refine` returns.

    Attributes:
        values: ``(num_points,)`` schedule on the normalized-time grid
            ``linspace(0, 1, num_points)``, maximum 1 and last value 0; feed it to
            :func:`from_array` with the re-tuned peak learning rate.
        smoothed_norms: the smoothed gradient norms on the same grid.
        peak_position: normalized time of the maximum.
        warmup_fraction: normalized time at which the schedule first reaches 0.9.
        norm_drop_ratio: smoothed norm at 10% of the run divided by its value at 90%.
        mean_value: the mean of ``values`` (1/2 for linear decay), a proxy for the step-size
            budget relative to linear decay.
    """

    values: np.ndarray
    smoothed_norms: np.ndarray
    peak_position: float
    warmup_fraction: float
    norm_drop_ratio: float
    mean_value: float


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[0] == n:
        return x
    return np.interp(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, x.shape[0]), x)


def median_smooth(norms: ArrayLike, *, tau: float = 0.1, grid: int = 10_000,
                  window: int | None = None,
                  start: Literal["nearest", "mirror"] = "nearest") -> np.ndarray:
    """Median-filters a gradient-norm log with a window of a fraction ``tau`` of the run.

    Logs shorter than ``grid`` are first resampled up to ``grid`` points in normalized time,
    so the window is ``2 * floor(tau * len / 2) + 1`` samples of the (resampled) log. The end
    is padded by reflection, so a late rise of the norm survives the filter. The start is
    padded with the first value (``start="nearest"``, the authors' recipe): the median over
    the first half-window then follows the raw log for as long as the early norm stays above
    its later level, so the large norms of the first steps survive (they are what makes a
    warm-up emerge), while isolated outliers near step 0 set only the first few samples.
    ``start="mirror"`` reflects the start too, which removes an early spike shorter than half
    a window. A median rather than a mean keeps loss spikes from leaking into the schedule.

    Args:
        norms: 1-D positive gradient norms.
        tau: window as a fraction of the run (0 disables smoothing).
        grid: the resolution short logs are resampled to before filtering.
        window: an explicit odd window length in samples (overrides ``tau``).
        start: how the start is padded: ``"nearest"`` (the authors' recipe) or ``"mirror"``.

    Returns:
        The smoothed log, at the resolution it was filtered at (``max(len, grid)`` points, or
        ``len`` points when smoothing is off).

    Raises:
        ValueError: for an unknown ``start``.

    Example:
        >>> import numpy as np
        >>> from optlib.schedules import median_smooth
        >>> g = np.r_[np.full(20, 10.0), np.ones(980)]   # the first 2% of the run is high
        >>> bool(median_smooth(g)[100] > 5), bool(median_smooth(g, start="mirror")[100] > 5)
        (True, False)
    """
    if start not in ("nearest", "mirror"):
        raise ValueError(f"start must be 'nearest' or 'mirror', got {start!r}")
    g = np.array(norms, dtype=np.float64)
    if window is None and tau == 0:
        return g
    if g.shape[0] < grid:
        g = _resample(g, grid)
    m = g.shape[0]
    width = int(window) if window is not None else 2 * int(tau * m / 2) + 1
    width = min(width, 2 * ((m - 1) // 2) + 1)
    if width <= 1:
        return g
    if start == "mirror":
        return ndimage.median_filter(g, size=width, mode="mirror")
    # reflect the end by hand, then let scipy pad the start with the first value
    pad = g[-2:-width - 2:-1]
    padded = np.concatenate([g, pad])
    return ndimage.median_filter(padded, size=width, mode="nearest")[:m]


def _check_norms(grad_norms: ArrayLike) -> np.ndarray:
    g = np.asarray(grad_norms)
    if g.ndim != 1 or g.shape[0] < 2:
        raise ValueError(f"grad_norms must be a 1-D array with at least 2 entries, got shape "
                         f"{g.shape}")
    g = g.astype(np.float64)
    if not np.all(np.isfinite(g)):
        raise ValueError(f"grad_norms must be finite; found {int(np.sum(~np.isfinite(g)))} "
                         f"non-finite entries (trim or interpolate them first)")
    if np.any(g < 0):
        raise ValueError("grad_norms must be non-negative (they are norms)")
    if np.any(g == 0):
        raise ValueError(f"grad_norms has {int(np.sum(g == 0))} zero entries; a zero norm gives "
                         f"an infinite weight (are these unwritten slots of a grad_norm_logger "
                         f"from a shorter run? slice them off)")
    return g


def refine(grad_norms: ArrayLike, *, norm: Literal["l2", "l1"] = "l2", tau: float = 0.1,
           num_points: int = 1000, grid: int = 10_000, window: int | None = None,
           start: Literal["nearest", "mirror"] = "nearest", warn: bool = True
           ) -> RefinedSchedule:
    """Refines a schedule from the per-step gradient norms of a previous run.

    With smoothed norms ``G_t`` and weights ``w_t = G_t**-2`` (``norm="l2"``, for SGD) or
    ``w_t = G_t**-1`` (``norm="l1"``, for Adam-type optimizers, with the l1 norm of the
    gradient), the refined schedule is the closed form

        ``s_t = w_t * sum_{p > t} w_p``,

    normalized to maximum 1 (so ``s`` ends at 0). Constant norms give exactly linear decay.
    Large early norms give a warm-up, a late rise of the norm a faster final decay. The
    norms are median-filtered (window ``tau`` of the run) and resampled to ``num_points``
    points in normalized time, so a pilot run of any length can drive a run of any other
    length through :func:`from_array`. The peak learning rate must be re-tuned afterwards:
    the area under the schedule changes.

    A :class:`DegenerateScheduleWarning` is issued when the peak falls after half the run
    or the smoothed norm drops more than 10x between 10% and 90% of the run: both mean the
    norm collapsed (interpolating or separable problems), where refinement is known to do
    worse than linear decay.

    Args:
        grad_norms: 1-D positive per-update gradient norms of the previous run (the l2 norm for
            ``norm="l2"``, the l1 norm for ``norm="l1"``), e.g. from :func:`grad_norm_logger`.
        norm: ``"l2"`` (weights ``G**-2``) or ``"l1"`` (weights ``G**-1``).
        tau: median-filter window as a fraction of the run; 0 disables smoothing.
        num_points: length of the returned schedule (its resolution in normalized time).
        grid: logs shorter than this are resampled up to it before filtering.
        window: an explicit filter width in samples of the (resampled) log, overriding ``tau``.
        start: how the median filter pads the start of the log (see :func:`median_smooth`):
            ``"nearest"`` (the authors' recipe; keeps a short early spike, hence a warm-up)
            or ``"mirror"``.
        warn: issue :class:`DegenerateScheduleWarning` when the result looks degenerate.

    Returns:
        A :class:`RefinedSchedule` with the values and diagnostics.

    Raises:
        ValueError: for norms that are not a 1-D array of positive finite numbers, an unknown
            ``norm``, ``tau`` outside ``[0, 1)``, ``num_points < 2`` or an unknown ``start``.

    Example:
        >>> import numpy as np
        >>> from optlib.schedules import refine
        >>> out = refine(np.ones(500), num_points=5)
        >>> out.values.round(3).tolist()
        [1.0, 0.75, 0.5, 0.25, 0.0]
        >>> t = np.linspace(0, 1, 1000)
        >>> out = refine(1.0 + 5.0 * np.exp(-t / 0.05), norm="l1")
        >>> 0.05 < out.peak_position < 0.5
        True

    References:
        Defazio, Cutkosky, Mehta & Mishchenko, "Optimal linear decay learning rate schedules
        and further refinements", arXiv:2310.07831 (Algorithms 1 and 2).
    """
    if norm not in ("l2", "l1"):
        raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}")
    if not 0.0 <= float(tau) < 1.0:
        raise ValueError(f"tau must be in [0, 1), got {tau}")
    if isinstance(num_points, bool) or int(num_points) != num_points or num_points < 2:
        raise ValueError(f"num_points must be an int >= 2, got {num_points!r}")
    if window is not None and (int(window) != window or window < 1):
        raise ValueError(f"window must be a positive int, got {window!r}")
    g = _check_norms(grad_norms)
    # the schedule is scale invariant; normalizing first keeps the weights in range
    g = g / np.median(g)
    smooth = median_smooth(g, tau=tau, grid=grid, window=window, start=start)
    smooth = _resample(smooth, int(num_points))
    w = smooth ** (-2.0 if norm == "l2" else -1.0)
    tail = np.concatenate([np.cumsum(w[::-1])[::-1][1:], [0.0]])
    s = w * tail
    s = s / np.max(s)

    x = np.linspace(0.0, 1.0, s.shape[0])
    peak = float(x[int(np.argmax(s))])
    warmup = float(x[int(np.argmax(s >= 0.9))])
    drop = float(np.interp(0.1, x, smooth) / np.interp(0.9, x, smooth))
    result = RefinedSchedule(s, smooth, peak, warmup, drop, float(np.mean(s)))
    if warn:
        problems = []
        if peak > 0.5:
            problems.append(f"its peak is at {peak:.0%} of the run")
        if drop > 10.0:
            problems.append(f"the smoothed gradient norm falls {drop:.0f}x between 10% and 90% "
                            f"of the run")
        if problems:
            warnings.warn(
                "the refined schedule looks degenerate: " + " and ".join(problems) + ". The "
                "gradient norm probably collapses (an interpolating or separable problem); "
                "linear decay is likely better here.", DegenerateScheduleWarning, stacklevel=2)
    return result
