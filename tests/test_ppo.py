"""MAPPO loss pieces (jbn/training/ppo.py) against numpy loops and hand-computed numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jbn.training import ppo
from jbn.policy.joint import entropy_of_logits

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


def test_density_penalty_gradient_is_zero_at_the_target():
    """d/dρ_b of α·mean_b |ρ_b − η| = α·sign(ρ_b − η)/B, with 0 (not JAX's +1 of |x| at 0) for a DAG exactly at η:
    with η = 1, a full DAG must not be pushed back down."""
    rho = jnp.array([0.0, 1.0, 0.5, 1.0])
    grad = jax.grad(lambda r: ppo.density_penalty(r, 1.0, 2.0))(rho)
    np.testing.assert_allclose(grad, 2.0 * np.array([-1.0, 0.0, -1.0, 0.0]) / 4)
    grad0 = jax.grad(lambda r: ppo.density_penalty(r, 0.0, 2.0))(rho)
    np.testing.assert_allclose(grad0, 2.0 * np.array([0.0, 1.0, 1.0, 1.0]) / 4)


# ----------------------------------------------------------------------------------- entropy


def test_entropy_matches_numpy_masked_softmax():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 5)).astype(np.float32)  # [E, N, A]
    avail = rng.random((2, 3, 5)) < 0.6
    avail[..., 0] = True
    p = np.where(avail, np.exp(logits), 0.0)
    p = p / p.sum(-1, keepdims=True)
    h_np = -np.sum(np.where(avail, p * np.log(np.where(avail, p, 1.0)), 0.0), -1)
    np.testing.assert_allclose(entropy_of_logits(logits, avail), h_np, rtol=1e-5, atol=1e-6)


def test_entropy_uniform_and_inf_masked_logits():
    avail = jnp.array([[True, True, True, False], [True, False, False, False]])
    logits = jnp.where(avail, 0.7, -jnp.inf)  # uniform over k available actions, -inf elsewhere
    h = entropy_of_logits(logits, avail)
    np.testing.assert_allclose(h, [np.log(3), 0.0], atol=1e-6)
    grad = jax.grad(lambda lg: entropy_of_logits(lg, avail).sum())(logits)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(np.asarray(grad)[~np.asarray(avail)], 0.0)


# ------------------------------------------------------------------------- the whole BN-MAPPO loss
import dataclasses

from jbn.policy.dag import DagNoise
from jbn.policy.joint import BNPolicy
from jbn.training.types import Batch, Hyper

N_AG, N_ACT, OBS_D, B = 4, 3, 5, 6


def _loss_batch(mode="context", dead=(), seed=0):
    """A hand-built minibatch of B steps; agents in `dead` have only the no-op (action 0) available in
    every step. Edge noise of ±50 makes the hand-made DAG G[j, i] = [j < i and (i + j) even] whatever the
    (near-zero initialised) edge logits are."""
    pol = BNPolicy(num_agents=N_AG, obs_dim=OBS_D, state_dim=7, num_actions=N_ACT, mode=mode, arch="smax",
                   learn_order=False)
    params = pol.init(jax.random.PRNGKey(seed))
    k1, k2, k3, k4 = jax.random.split(jax.random.PRNGKey(100 + seed), 4)
    obs = jax.random.normal(k1, (B, N_AG, OBS_D))
    avail = np.ones((B, N_AG, N_ACT), bool)
    for i in dead:
        avail[:, i, 1:] = False
    avail = jnp.asarray(avail)
    want_edge = np.array([[(j < i) and (i + j) % 2 == 0 for i in range(N_AG)] for j in range(N_AG)])
    edge = np.where(want_edge[..., None], [-50.0, 50.0], [50.0, -50.0]).astype(np.float32)
    noise = DagNoise(edge=jnp.broadcast_to(jnp.asarray(edge), (B, N_AG, N_AG, 2)), perm=None) if pol.learns_dag else None
    visible = jnp.ones((B, N_AG, N_AG), bool)
    actions = jax.random.categorical(k2, jnp.where(avail, 0.0, -1e9)).astype(jnp.int32)
    logp, _, _ = jax.vmap(pol.log_prob, (None, 0, 0, 0, 0, 0))(params, obs, avail, visible, noise, actions)
    batch = Batch(obs=obs, world_state=jax.random.normal(k3, (B, 7)), avail=avail, visible=visible, noise=noise,
                  actions=actions, logp=logp, value_n=jnp.zeros((B,)),
                  advantages=jax.random.normal(k4, (B,)), targets_n=jnp.ones((B,)))
    return pol, params, batch, want_edge


def _hyper(**loss):
    """A Hyper with the loss's four values (the others, which the loss does not read, NaN)."""
    return Hyper(**{name: float("nan") for name in Hyper._fields})._replace(**loss)


def test_bn_mappo_loss_at_the_collecting_parameters():
    """At the parameters that collected the batch every ratio is 1: policy loss = −mean(A) over living
    agents, clip fraction 0, approx-KL 0; the density term is α·mean|ρ − η| of the hand-made DAG."""
    pol, params, batch, want_edge = _loss_batch(dead=(1, 3))
    hyper = _hyper(clip_eps=0.2, vf_coef=0.5, ent_coef=0.01, huber_delta=10.0)
    eta, alpha = 0.3, 0.7
    total, info = ppo.bn_mappo_loss(pol, params, batch, eta, alpha, hyper)
    adv = np.asarray(batch.advantages)
    np.testing.assert_allclose(info.policy, -adv.mean(), rtol=1e-5, atol=1e-7)  # 2 living agents per step
    assert float(info.clip_frac) == 0.0 and abs(float(info.approx_kl)) < 1e-6
    rho = want_edge.sum() / (N_AG * (N_AG - 1) / 2)  # 2 edges (0->2, 1->3) of 6 possible
    assert rho == pytest.approx(1 / 3)
    np.testing.assert_allclose(info.dag_density, rho, rtol=1e-6)
    np.testing.assert_allclose(info.density_penalty, alpha * abs(rho - eta), rtol=1e-5)
    np.testing.assert_allclose(info.active_frac, 0.5)
    np.testing.assert_allclose(
        total, info.policy + 0.5 * info.value - 0.01 * info.entropy + info.density_penalty, rtol=1e-6
    )


def _policy_terms_numpy(pol, params, batch, living, clip_eps):
    """Surrogate and entropy by hand from per-agent log-probs and logits, over the living agents only."""
    new_lp, ent, _ = jax.vmap(pol.log_prob, (None, 0, 0, 0, 0, 0))(
        params, batch.obs, batch.avail, batch.visible, batch.noise, batch.actions)
    r = np.exp(np.asarray(new_lp, np.float64) - np.asarray(batch.logp, np.float64))[:, living]
    a = np.asarray(batch.advantages, np.float64)[:, None]
    obj = np.minimum(r * a, np.clip(r, 1 - clip_eps, 1 + clip_eps) * a)
    return -obj.mean(), np.asarray(ent)[:, living].mean(), (np.abs(r - 1) > clip_eps).mean()


@pytest.mark.parametrize("mode", ["none", "context"])
def test_dead_agents_leave_the_actor_loss(mode):
    """Half the agents dead: the policy loss, entropy and clip fraction are those of the living agents alone."""
    pol, params, batch, _ = _loss_batch(mode=mode, dead=(0, 2))
    moved = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.PRNGKey(7), x.shape), params)
    hyper = _hyper(clip_eps=0.2, vf_coef=1.0, ent_coef=0.01, huber_delta=10.0)
    _, info = ppo.bn_mappo_loss(pol, moved, batch, 1.0, 0.0, hyper)
    pg, ent, frac = _policy_terms_numpy(pol, moved, batch, [1, 3], hyper.clip_eps)
    assert abs(pg) > 1e-3  # the ratios moved: a loss that ignores them could not match
    np.testing.assert_allclose(info.policy, pg, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(info.entropy, ent, rtol=1e-5)
    np.testing.assert_allclose(info.clip_frac, frac, rtol=1e-6)
    # The dead agents' own data does not matter: other obs for them leave the actor loss unchanged (mode none).
    if mode == "none":
        obs2 = batch.obs.at[:, 0].set(9.0).at[:, 2].set(-9.0)
        _, info2 = ppo.bn_mappo_loss(pol, moved, batch._replace(obs=obs2), 1.0, 0.0, hyper)
        np.testing.assert_allclose(info2.policy, info.policy, rtol=1e-6)
        np.testing.assert_allclose(info2.entropy, info.entropy, rtol=1e-6)


def test_active_agents_is_more_than_one_choice():
    avail = jnp.array([[[1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 1, 1]]], bool)
    np.testing.assert_array_equal(ppo.active_agents(avail), [[False, True, False, True]])


def _norm(tree):
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(x))) for x in jax.tree.leaves(tree))))


def test_gradient_clipping_per_network():
    """A huge critic gradient is clipped on its own and leaves the actor's gradient untouched (MAPPO's separate
    optimisers); with one global norm it would shrink the actor's too."""
    grads = {"actor": {"w": jnp.array([0.6, 0.8])}, "critic": {"w": jnp.array([30.0, 40.0]), "b": jnp.array([0.0])},
             "edge": {"w": jnp.array([3.0, 4.0])}}
    per = ppo.grad_clipper(10.0, grads, "per_network")
    out, _ = per.update(grads, per.init(grads), grads)
    np.testing.assert_allclose(out["actor"]["w"], [0.6, 0.8], rtol=1e-6)  # norm 1 < 10: unchanged
    np.testing.assert_allclose(out["critic"]["w"], [6.0, 8.0], rtol=1e-6)  # norm 50 -> 10
    np.testing.assert_allclose(out["edge"]["w"], [3.0, 4.0], rtol=1e-6)  # norm 5 < 10
    glob = ppo.grad_clipper(10.0, grads, "global")
    out_g, _ = glob.update(grads, glob.init(grads), grads)
    scale = 10.0 / np.sqrt(1 + 2500 + 25)
    np.testing.assert_allclose(out_g["actor"]["w"], np.array([0.6, 0.8]) * scale, rtol=1e-5)
    assert _norm(out_g) == pytest.approx(10.0, rel=1e-5)
    with pytest.raises(ValueError, match="grad_clip='both'"):
        ppo.grad_clipper(10.0, grads, "both")
