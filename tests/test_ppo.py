"""MAPPO loss pieces (jbn/ppo.py) against numpy loops and hand-computed numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jbn import ppo

# ----------------------------------------------------------------------------------------- GAE


def _gae_numpy(r, v, nv, term, done, gamma, lam):
    T = r.shape[0]
    adv = np.zeros_like(r, dtype=np.float64)
    last = np.zeros(r.shape[1:])
    for t in reversed(range(T)):
        delta = r[t] + gamma * nv[t] * (1.0 - term[t]) - v[t]
        last = delta + gamma * lam * (1.0 - done[t]) * last
        adv[t] = last
    return adv, adv + v


def test_gae_matches_numpy_loop_with_terminations_and_truncations():
    rng = np.random.default_rng(0)
    T, E = 6, 3
    r = rng.normal(size=(T, E)).astype(np.float32)
    v = rng.normal(size=(T, E)).astype(np.float32)
    nv = rng.normal(size=(T, E)).astype(np.float32)
    term = np.zeros((T, E), bool)
    trunc = np.zeros((T, E), bool)
    term[2, 0] = term[4, 1] = True  # true terminations: no bootstrap
    trunc[3, 0] = trunc[1, 2] = trunc[4, 2] = True  # time limits: bootstrap from nv, cut recursion
    done = term | trunc
    gamma, lam = 0.99, 0.95
    adv, tgt = jax.jit(ppo.gae)(r, v, nv, term, done, gamma, lam)
    adv_np, tgt_np = _gae_numpy(r, v, nv, term, done, gamma, lam)
    np.testing.assert_allclose(adv, adv_np, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tgt, tgt_np, rtol=1e-5, atol=1e-5)
    # A truncation bootstraps: at (3, 0) the advantage is the one-step TD error with next_values.
    np.testing.assert_allclose(adv[3, 0], r[3, 0] + gamma * nv[3, 0] - v[3, 0], rtol=1e-5)
    # A termination does not: at (2, 0) it is r - v.
    np.testing.assert_allclose(adv[2, 0], r[2, 0] - v[2, 0], rtol=1e-5)
    assert adv.shape == tgt.shape == (T, E) and adv.dtype == jnp.float32


# ----------------------------------------------------------------------------------- ValueNorm


@pytest.mark.parametrize("beta", [ppo.VALUE_NORM_BETA, 0.9])
def test_value_norm_matches_numpy_ema(beta):
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=5.0 + i, scale=3.0, size=(4, 2)).astype(np.float32) for i in range(3)]
    vn = ppo.value_norm_init()
    m = msq = d = 0.0
    for x in batches:
        vn = jax.jit(ppo.value_norm_update, static_argnums=2)(vn, x, beta)
        m = beta * m + (1 - beta) * x.astype(np.float64).mean()
        msq = beta * msq + (1 - beta) * (x.astype(np.float64) ** 2).mean()
        d = beta * d + (1 - beta)
    mean_np = m / max(d, 1e-5)
    var_np = max(msq / max(d, 1e-5) - mean_np**2, 1e-2)
    mean, var = ppo.value_norm_mean_var(vn)
    np.testing.assert_allclose(mean, mean_np, rtol=1e-3)
    np.testing.assert_allclose(var, var_np, rtol=1e-3)
    x = jnp.array([-2.0, 0.0, 7.5, 30.0])
    np.testing.assert_allclose(ppo.value_norm_normalize(vn, x), (x - mean_np) / np.sqrt(var_np), rtol=1e-3)
    np.testing.assert_allclose(
        ppo.value_norm_denormalize(vn, ppo.value_norm_normalize(vn, x)), x, rtol=1e-5, atol=1e-4
    )


def test_value_norm_var_floor():
    vn = ppo.value_norm_update(ppo.value_norm_init(), jnp.full((5,), 3.0))  # zero variance
    mean, var = ppo.value_norm_mean_var(vn)
    np.testing.assert_allclose([mean, var], [3.0, 1e-2], rtol=1e-4)


# ------------------------------------------------------------------------------ clipped surrogate

# Ratios r (old log-probs are arbitrary; new = old + log r), clip ε = 0.2, advantages [2, -1]:
#   sample 0, A = 2:  r = 1.1 -> min(2.2, 2.2) = 2.2;   r = 1.5 -> min(3.0, 2.4) = 2.4 (clipped)
#   sample 1, A = -1: r = 0.5 -> min(-0.5, -0.8) = -0.8 (clipped);  r = 1.8 -> min(-1.8, -1.2) = -1.8
# joint: r = 1.65 -> min(3.3, 2.4) = 2.4 (clipped);  r = 0.9 -> min(-0.9, -0.9) = -0.9
R = np.array([[1.1, 1.5], [0.5, 1.8]])
LOGP_OLD = jnp.array([[-0.3, -1.2], [-2.0, -0.7]])
LOGP_NEW = LOGP_OLD + jnp.log(jnp.asarray(R, jnp.float32))
ADV = jnp.array([2.0, -1.0])
EPS = 0.2


def _kl(r):
    return np.mean((r - 1.0) - np.log(r))


def test_surrogate_agent_ratio_hand_computed():
    loss, clip_frac, kl = ppo.clipped_surrogate(LOGP_NEW, LOGP_OLD, ADV, EPS, ratio="agent")
    np.testing.assert_allclose(loss, -(2.2 + 2.4 - 0.8 - 1.8) / 4, rtol=1e-5)
    np.testing.assert_allclose(clip_frac, 0.75)  # 1.5, 0.5, 1.8 lie outside [0.8, 1.2]
    np.testing.assert_allclose(kl, _kl(R), rtol=1e-4)
    grad = jax.grad(lambda lp: ppo.clipped_surrogate(lp, LOGP_OLD, ADV, EPS)[0])(LOGP_NEW)
    # d(-r A / 4)/d logp = -r A / 4 where unclipped, 0 where the clipped term is the min.
    np.testing.assert_allclose(grad, [[-1.1 * 2 / 4, 0.0], [0.0, 1.8 / 4]], rtol=1e-5, atol=1e-7)


def test_surrogate_joint_ratio_hand_computed():
    fn = lambda lp: ppo.clipped_surrogate(lp, LOGP_OLD, ADV, EPS, ratio="joint")
    loss, clip_frac, kl = fn(LOGP_NEW)
    np.testing.assert_allclose(loss, -(2.4 - 0.9) / 2, rtol=1e-5)
    np.testing.assert_allclose(clip_frac, 0.5)
    np.testing.assert_allclose(kl, _kl(np.array([1.65, 0.9])), rtol=1e-4)
    grad = jax.grad(lambda lp: fn(lp)[0])(LOGP_NEW)
    # sample 0 clipped -> 0; sample 1: d(-r A / 2)/d logp_i = 0.9 / 2 for both agents.
    np.testing.assert_allclose(grad, [[0.0, 0.0], [0.45, 0.45]], rtol=1e-5, atol=1e-7)


def test_surrogate_mask():
    mask = jnp.array([[True, True], [True, False]])
    loss_a, frac_a, _ = ppo.clipped_surrogate(LOGP_NEW, LOGP_OLD, ADV, EPS, "agent", mask)
    np.testing.assert_allclose(loss_a, -(2.2 + 2.4 - 0.8) / 3, rtol=1e-5)
    np.testing.assert_allclose(frac_a, 2 / 3, rtol=1e-6)
    # joint: the masked agent leaves the product, sample 1 has r = 0.5 -> -0.8 (clipped)
    loss_j, _, _ = ppo.clipped_surrogate(LOGP_NEW, LOGP_OLD, ADV, EPS, "joint", mask)
    np.testing.assert_allclose(loss_j, -(2.4 - 0.8) / 2, rtol=1e-5)
    # -inf log-probs of masked agents do not leak NaN
    lp_new = LOGP_NEW.at[1, 1].set(-jnp.inf)
    for mode in ("agent", "joint"):
        out = ppo.clipped_surrogate(lp_new, LOGP_OLD, ADV, EPS, mode, mask)
        assert np.all(np.isfinite(out))


def test_surrogate_unknown_ratio():
    with pytest.raises(ValueError, match=r"'product'.*agent.*joint"):
        ppo.clipped_surrogate(LOGP_NEW, LOGP_OLD, ADV, EPS, ratio="product")


# ---------------------------------------------------------------------------------- value loss


def test_value_loss_hand_computed_huber():
    # clip 0.2, delta 1:
    #   old 0, new 0.5, tgt 1:   unclipped err 0.5 -> 0.125; clipped v 0.2, err 0.8 -> 0.32; max 0.32
    #   old 0, new 3,   tgt 0:   err 3 -> 1 * (3 - 0.5) = 2.5; clipped v 0.2 -> 0.02;    max 2.5
    #   old 1, new 1.1, tgt 1:   both err 0.1 -> 0.005
    new, old, tgt = jnp.array([0.5, 3.0, 1.1]), jnp.array([0.0, 0.0, 1.0]), jnp.array([1.0, 0.0, 1.0])
    loss = ppo.value_loss(new, old, tgt, 0.2, huber_delta=1.0)
    np.testing.assert_allclose(loss, (0.32 + 2.5 + 0.005) / 3, rtol=1e-5)
    # default delta 10: err 12 -> 10 * (12 - 5) = 70; clipped v -0.2 -> 0.02
    np.testing.assert_allclose(ppo.value_loss(jnp.array([-12.0]), jnp.zeros(1), jnp.zeros(1), 0.2), 70.0)


def test_density_penalty():
    np.testing.assert_allclose(ppo.density_penalty(jnp.array([0.2, 0.6]), 0.5, 2.0), 0.4, rtol=1e-6)


# ----------------------------------------------------------------------------------- entropy


def test_entropy_matches_numpy_masked_softmax():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)  # [E, N, A]
    avail = rng.random((2, 3, 5)) < 0.6
    avail[..., 0] = True
    p = np.where(avail, np.exp(logits), 0.0)
    p = p / p.sum(-1, keepdims=True)
    h_np = -np.sum(np.where(avail, p * np.log(np.where(avail, p, 1.0)), 0.0), -1)
    np.testing.assert_allclose(ppo.entropy_of_logits(logits, avail), h_np, rtol=1e-5, atol=1e-6)


def test_entropy_uniform_and_inf_masked_logits():
    avail = jnp.array([[True, True, True, False], [True, False, False, False]])
    logits = jnp.where(avail, 0.7, -jnp.inf)  # uniform over k available actions, -inf elsewhere
    h = ppo.entropy_of_logits(logits, avail)
    np.testing.assert_allclose(h, [np.log(3), 0.0], atol=1e-6)
    grad = jax.grad(lambda lg: ppo.entropy_of_logits(lg, avail).sum())(logits)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(np.asarray(grad)[~np.asarray(avail)], 0.0)
