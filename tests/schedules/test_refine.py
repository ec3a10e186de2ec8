"""refine(): the closed form, smoothing, resampling, diagnostics and warnings."""

import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from optlib.schedules import DegenerateScheduleWarning, median_smooth, refine


@pytest.mark.parametrize("norm", ["l2", "l1"])
@pytest.mark.parametrize("n, num_points", [(50, 50), (777, 1000), (20_000, 4096)])
def test_constant_norms_give_exactly_linear_decay(norm, n, num_points):
    out = refine(np.full(n, 3.7), norm=norm, num_points=num_points)
    expected = np.linspace(1.0, 0.0, num_points)
    assert np.max(np.abs(out.values - expected)) <= 1e-6
    assert out.peak_position == 0.0
    assert out.norm_drop_ratio == pytest.approx(1.0)
    assert out.mean_value == pytest.approx(0.5)


def _synthetic(end):
    """The authors' synthetic profiles: interpolated knots, Gaussian-smoothed (sigma=40)."""
    n = 2000
    if end is None:
        g = np.ones(n)
    else:
        g = np.interp(np.linspace(0, 1, n), [0, 0.003, 0.02, 0.03, 0.1, 1],
                      [15, 6, 4, 2, 1, end])
    return gaussian_filter1d(g, 40, mode="nearest")


# research note, section 1.3 (checked against the closed form s_t = w_t sum_{p>t} w_p)
GOLDEN = {
    None: (0.000, [1.0000, 0.9900, 0.9500, 0.8999, 0.7499, 0.4997, 0.2496, 0.0995, 0.0495,
                   0.0095], 0.5000),
    1.0: (0.135, [0.0109, 0.0188, 0.2598, 0.8441, 0.8750, 0.5831, 0.2913, 0.1162, 0.0578,
                  0.0111], 0.5014),
    2.0: (0.121, [0.0123, 0.0211, 0.2913, 0.9060, 0.6026, 0.2116, 0.0624, 0.0189, 0.0086,
                  0.0016], 0.2904),
    0.7: (0.150, [0.0104, 0.0178, 0.2474, 0.8147, 0.9796, 0.8599, 0.5817, 0.2826, 0.1505,
                  0.0303], 0.6754),
}
QUANTILES = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]


@pytest.mark.parametrize("end", list(GOLDEN))
def test_golden_table(end):
    argmax, values, mean = GOLDEN[end]
    n = 2000
    s = refine(_synthetic(end), tau=0.0, num_points=n, warn=False).values
    got = [s[min(int(q * n), n - 1)] for q in QUANTILES]
    np.testing.assert_allclose(got, values, atol=1e-3)
    assert abs(np.argmax(s) / n - argmax) <= 1e-3
    assert abs(np.mean(s) - mean) <= 1e-3


def test_closed_form_against_direct_sum():
    rng = np.random.default_rng(1)
    g = rng.uniform(0.5, 2.0, size=40)
    for norm, p in (("l2", 2), ("l1", 1)):
        s = refine(g, norm=norm, tau=0.0, num_points=40).values
        w = g**-p
        direct = np.array([w[t] * w[t + 1:].sum() for t in range(40)])
        np.testing.assert_allclose(s, direct / direct.max(), rtol=1e-12)


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_scale_invariance_and_shape(norm):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 3000)
    g = (1 + 4 * np.exp(-t / 0.05)) * (1 + 0.2 * rng.standard_normal(3000) ** 2)
    base = refine(g, norm=norm)
    for c in (1e-4, 7.0, 1e5):
        np.testing.assert_allclose(refine(c * g, norm=norm).values, base.values, atol=1e-12)
    assert base.values.max() == 1.0 and base.values[-1] == 0.0
    assert np.all(base.values >= 0)


def test_monotone_after_peak_when_norms_do_not_decrease():
    t = np.linspace(0, 1, 1000)
    g = np.where(t < 0.2, 5 - 20 * t, 1 + t**2)       # falls, then rises
    out = refine(g, tau=0.0)
    after = out.values[int(np.argmax(out.values)):]
    assert np.all(np.diff(after) <= 1e-15)
    assert 0.15 < out.peak_position < 0.3
    # the late rise makes the end decay faster than linear
    lin = np.linspace(1, 0, out.values.size)
    assert out.values[900] < lin[900] * after[0]


def test_resampling_lets_a_pilot_of_another_length_drive_a_run():
    profile = lambda n: np.interp(np.linspace(0, 1, n), [0, 0.1, 0.6, 1], [6, 1.5, 1, 1.8])
    short = refine(profile(800), norm="l1")
    long = refine(profile(12_000), norm="l1")
    assert np.max(np.abs(short.values - long.values)) < 0.02


def test_median_filter_ignores_spikes_and_keeps_end_rise():
    t = np.linspace(0, 1, 5000)
    g = 1 + (t > 0.9) * 3 * (t - 0.9) / 0.1
    spiky = g.copy()
    spiky[::97] = 50.0                                 # index 0 included
    smooth = median_smooth(spiky)
    assert smooth.shape == (10_000,)                   # resampled up to the grid
    # with a nearest-value start, sample i is the (i+1)-th largest of the first i + h + 1
    # (h the half-window): 1%-dense outliers keep it high only for the first ~0.1% of the run
    assert np.max(smooth[20: int(0.85 * smooth.size)]) < 1.01
    assert smooth[-1] > 3.0                                # the rise at the end survives
    mirrored = median_smooth(spiky, start="mirror")
    assert np.max(mirrored[: int(0.85 * smooth.size)]) < 1.01
    assert median_smooth(g, tau=0.0) is not g and np.array_equal(median_smooth(g, tau=0.0), g)
    with pytest.raises(ValueError, match="start"):
        median_smooth(g, start="wrap")


def test_short_early_spike_gives_a_warmup():
    """The authors' nearest-value start keeps a spike shorter than half a window: the
    median over the first samples follows the raw norm, so the refined schedule warms up
    over the spike; a mirrored start removes the spike and with it the warm-up."""
    T = 1000
    t = np.arange(T)
    g = 1.0 + 9.0 * np.exp(-t / 5.0)                 # falls to its plateau within ~2% of the run
    smooth = median_smooth(g)
    fine = np.interp(np.linspace(0, 1, smooth.size), np.linspace(0, 1, T), g)
    k = int(0.015 * smooth.size)                      # inside the spike: the raw log, exactly
    np.testing.assert_allclose(smooth[1:k], fine[1:k], rtol=1e-12)
    warm = refine(g, norm="l1", num_points=T + 1)
    flat = refine(g, norm="l1", num_points=T + 1, start="mirror")
    assert warm.values[0] < 0.15 < 0.9 < flat.values[0]
    assert 0.0 < warm.warmup_fraction < 0.03 and flat.warmup_fraction == 0.0
    # past the spike both are the same schedule up to the normalization
    np.testing.assert_allclose(warm.values[100:] / warm.values[100],
                               flat.values[100:] / flat.values[100], atol=1e-9)


def test_degenerate_warnings():
    t = np.linspace(0, 1, 2000)
    collapse = 50 * np.exp(-t / 0.1) + 1e-3           # interpolating problem: the norm vanishes
    with pytest.warns(DegenerateScheduleWarning, match="falls"):
        out = refine(collapse)
    assert out.norm_drop_ratio > 10
    rising = 1 + 10 * t
    with pytest.warns(DegenerateScheduleWarning, match="peak"):
        refine(1 / rising)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refine(collapse, warn=False)
        healthy = refine(np.interp(t, [0, 0.1, 1], [5, 1, 1.3]))
    assert 0.0 < healthy.warmup_fraction <= healthy.peak_position < 0.5


@pytest.mark.parametrize("kwargs, match", [
    (dict(grad_norms=np.ones((3, 3))), "1-D"),
    (dict(grad_norms=np.ones(1)), "1-D"),
    (dict(grad_norms=np.array([1.0, -1.0, 2.0])), "non-negative"),
    (dict(grad_norms=np.array([1.0, np.nan, 2.0])), "finite"),
    (dict(grad_norms=np.array([1.0, 0.0, 2.0])), "zero"),
    (dict(grad_norms=np.ones(5), norm="linf"), "norm"),
    (dict(grad_norms=np.ones(5), tau=1.5), "tau"),
    (dict(grad_norms=np.ones(5), num_points=1), "num_points"),
])
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        refine(**kwargs)
