"""Density annealing schedules (jbn/training/schedules.py) against hand-computed staircases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jbn.training.schedules import PRESETS, AnnealConfig, alpha, eta

SMALL = AnnealConfig(a=0.4, b=0.7, c=0.8, l_eta=3, l_alpha=2, alpha0=0.1, alpha1=1.0)


@pytest.mark.parametrize(
    "f, expected",
    [(0.0, 1.0), (0.39, 1.0), (0.4, 1.0), (0.45, 1.0), (0.5, 2 / 3), (0.55, 2 / 3),
     (0.6, 1 / 3), (0.65, 1 / 3), (0.7, 0.0), (0.75, 0.0), (1.0, 0.0)],
)
def test_eta_staircase_values(f, expected):
    np.testing.assert_allclose(eta(f, SMALL), expected, atol=1e-6)


@pytest.mark.parametrize(
    "f, expected",
    [(0.0, 0.1), (0.5, 0.1), (0.69, 0.1), (0.7, 0.1), (0.74, 0.1), (0.75, 0.55),
     (0.79, 0.55), (0.8, 1.0), (0.95, 1.0), (1.0, 1.0)],
)
def test_alpha_staircase_values(f, expected):
    np.testing.assert_allclose(alpha(f, SMALL), expected, atol=1e-6)


def test_default_schedule_on_update_grid_matches_integer_arithmetic():
    # 4000 updates: η steps every 30 updates from 1600, α every 40 updates from 2800. Every
    # boundary update/num_updates must count as reached despite float32 rounding.
    cfg = AnnealConfig()  # a=0.4, b=0.7, c=0.8, l_eta=40, l_alpha=10, alpha 0.1 -> 1.0
    u = np.arange(4001)
    f = jnp.asarray(u / 4000, jnp.float32)
    k_eta = np.clip((u - 1600) // 30, 0, 40)
    k_alpha = np.clip((u - 2800) // 40, 0, 10)
    np.testing.assert_allclose(eta(f, cfg), 1.0 - k_eta / 40, atol=1e-6)
    np.testing.assert_allclose(alpha(f, cfg), 0.1 + 0.9 * k_alpha / 10, atol=1e-6)


def test_monotone_and_bounded_on_grid():
    f = jnp.linspace(0.0, 1.0, 1001)
    for cfg in (SMALL, PRESETS["6h_vs_8z"], PRESETS["MMM2"]):
        e, a = np.asarray(eta(f, cfg)), np.asarray(alpha(f, cfg))
        assert np.all(np.diff(e) <= 0) and e[0] == 1.0 and e[-1] == 0.0
        assert np.all(np.diff(a) >= 0)
        np.testing.assert_allclose([a[0], a[-1]], [cfg.alpha0, cfg.alpha1], atol=1e-6)


def test_jit_vmap_and_static_config():
    f = jnp.array([0.3, 0.5, 0.65, 0.75, 0.9])
    vmapped = jax.jit(jax.vmap(lambda x: (eta(x, SMALL), alpha(x, SMALL))))(f)
    static = jax.jit(eta, static_argnums=1)(f, SMALL)
    np.testing.assert_allclose(vmapped[0], [1.0, 2 / 3, 1 / 3, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(vmapped[1], [0.1, 0.1, 0.1, 0.55, 1.0], atol=1e-6)
    np.testing.assert_allclose(static, vmapped[0])


def test_presets_and_disabled():
    assert (PRESETS["6h_vs_8z"].alpha0, PRESETS["6h_vs_8z"].alpha1) == (0.1, 1.0)
    assert (PRESETS["MMM2"].alpha0, PRESETS["MMM2"].alpha1) == (0.05, 0.5)
    f = jnp.linspace(0.0, 1.0, 11)
    np.testing.assert_array_equal(alpha(f, PRESETS["none"]), 0.0)
    np.testing.assert_array_equal(eta(f, PRESETS["none"]), 1.0)


def test_empty_intervals_jump_at_once():
    cfg = AnnealConfig(a=0.5, b=0.5, c=0.5, l_eta=4, l_alpha=4, alpha0=0.2, alpha1=0.6)
    np.testing.assert_allclose(eta(jnp.array([0.49, 0.5]), cfg), [1.0, 0.0])
    np.testing.assert_allclose(alpha(jnp.array([0.49, 0.5]), cfg), [0.2, 0.6])


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(a=-0.1), r"a=-0\.1.*\[0, 1\]"), (dict(c=1.5), r"c=1\.5.*\[0, 1\]"),
     (dict(a=0.8, b=0.7), r"a <= b <= c.*a=0\.8"), (dict(l_eta=0), r"l_eta=0.*>= 1"),
     (dict(l_alpha=2.5), r"l_alpha=2\.5.*>= 1"), (dict(alpha0=-1.0), r"alpha0=-1\.0.*>= 0")],
)
def test_validation_messages(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnnealConfig(**kwargs)
