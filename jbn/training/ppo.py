"""The BN-MAPPO loss and its pieces (docs/architecture.md, "One update"): GAE, value normalisation,
clipped surrogate, value loss, density penalty, the whole loss `bn_mappo_loss`, and the optimiser with
gradient clipping per network. All pure and jittable.

Axes: ``T`` time, ``E`` env, ``N`` agent, ``B`` flattened batch, ``A`` actions.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import jax
import jax.numpy as jnp
import optax

from ..policy import dag as dag_lib
from .types import Batch, Hyper, ValueNorm


Ratio = Literal["agent", "joint"]
RATIO_MODES: tuple[str, ...] = get_args(Ratio)
GradClip = Literal["per_network", "global"]
GRAD_CLIP_MODES: tuple[str, ...] = get_args(GradClip)

# --------------------------------------------------------------------------------------------- GAE


def gae(rewards, values, next_values, terminated, dones, gamma, lam):
    """Generalised advantage estimation, scanned backwards over time.

    rewards, values, next_values: float32 [T, ...] (e.g. [T, E]).
      values[t] = V(s_t); next_values[t] = V of the state reached after step t *before* auto-reset
      (at a time-limit truncation: the value of the real final state, which we bootstrap from).
    terminated: bool [T, ...], true termination at step t (no bootstrap).
    dones: bool [T, ...], terminated or truncated at step t (the episode ended: cut the recursion).
    gamma, lam: discount and GAE λ (floats or scalar arrays).

    δ_t = r_t + γ(1 − terminated_t)·next_values_t − values_t
    A_t = δ_t + γλ(1 − dones_t)·A_{t+1},   A_T = 0.
    Returns (advantages, targets), float32 [T, ...], targets = advantages + values.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    values = jnp.asarray(values, jnp.float32)
    next_values = jnp.asarray(next_values, jnp.float32)
    not_term = 1.0 - jnp.asarray(terminated, jnp.float32)
    not_done = 1.0 - jnp.asarray(dones, jnp.float32)

    deltas = rewards + gamma * not_term * next_values - values

    def step(adv_next, xs):
        delta, nd = xs
        adv = delta + gamma * lam * nd * adv_next
        return adv, adv

    _, advantages = jax.lax.scan(
        step, jnp.zeros_like(deltas[0]), (deltas, not_done), reverse=True
    )
    return advantages, advantages + values


# ------------------------------------------------------------------------------------- ValueNorm


VALUE_NORM_BETA = 0.99999
VALUE_NORM_EPS = 1e-5
VALUE_NORM_MIN_VAR = 1e-2


def value_norm_init() -> ValueNorm:
    """All-zero statistics. Before any update the debiased mean is 0 and var is clamped to 1e-2."""
    z = jnp.zeros((), jnp.float32)
    return ValueNorm(running_mean=z, running_mean_sq=z, debiasing_term=z)


def value_norm_update(vn: ValueNorm, x, beta: float = VALUE_NORM_BETA) -> ValueNorm:
    """One EMA step with the batch x (any shape, all elements pooled): stat ← β·stat + (1 − β)·batch stat."""
    x = jnp.asarray(x, jnp.float32)
    w = jnp.float32(beta)
    return ValueNorm(
        running_mean=w * vn.running_mean + (1.0 - w) * jnp.mean(x),
        running_mean_sq=w * vn.running_mean_sq + (1.0 - w) * jnp.mean(jnp.square(x)),
        debiasing_term=w * vn.debiasing_term + (1.0 - w),
    )


def value_norm_mean_var(vn: ValueNorm):
    """Debiased (mean, var); debiasing term clamped at 1e-5, var clamped at 1e-2. Float32 scalars."""
    d = jnp.maximum(vn.debiasing_term, VALUE_NORM_EPS)
    mean = vn.running_mean / d
    var = jnp.maximum(vn.running_mean_sq / d - jnp.square(mean), VALUE_NORM_MIN_VAR)
    return mean, var


def value_norm_normalize(vn: ValueNorm, x):
    """(x − mean) / sqrt(var), x any shape."""
    mean, var = value_norm_mean_var(vn)
    return (jnp.asarray(x, jnp.float32) - mean) / jnp.sqrt(var)


def value_norm_denormalize(vn: ValueNorm, x):
    """x · sqrt(var) + mean, x any shape (inverse of value_norm_normalize)."""
    mean, var = value_norm_mean_var(vn)
    return jnp.asarray(x, jnp.float32) * jnp.sqrt(var) + mean


# ---------------------------------------------------------------------------------------- losses

def _masked_mean(x, mask):
    if mask is None:
        return jnp.mean(x)
    m = jnp.asarray(mask, bool)
    return jnp.sum(jnp.where(m, x, 0.0)) / jnp.maximum(jnp.sum(m), 1)


def clipped_surrogate(logp_new, logp_old, advantages, clip_eps, ratio="agent", mask=None):
    """PPO clipped surrogate, to MINIMISE: −mean(min(r·A, clip(r, 1 − ε, 1 + ε)·A)).

    logp_new, logp_old: float32 [B, N] per-agent log-probs of the taken actions (logp_old is treated
      as data; pass it already stopped).
    advantages: float32 [B], the team advantage (broadcast to the agents).
    clip_eps: ε. ratio: "agent" (MAPPO: rᵢ = exp(logp_newᵢ − logp_oldᵢ), objective averaged over B and
      N) or "joint" (r = ∏ᵢ rᵢ = exp(Σᵢ ...), objective averaged over B).
    mask: optional bool/float [B, N], 0 for agents to ignore (e.g. dead). "agent": masked mean over
      (B, N); "joint": masked agents drop out of the Σᵢ of log-ratios.
    Returns (loss, clip_frac, approx_kl), float32 scalars. clip_frac = fraction of ratios with
    |r − 1| > ε; approx_kl = mean((r − 1) − log r) (non-negative estimator of KL(old ‖ new)), both over
    the same elements as the loss.
    """
    if ratio not in RATIO_MODES:
        raise ValueError(f"clipped_surrogate: ratio={ratio!r}; choose one of {RATIO_MODES}")
    log_ratio = jnp.asarray(logp_new, jnp.float32) - jnp.asarray(logp_old, jnp.float32)  # [B, N]
    adv = jnp.asarray(advantages, jnp.float32)  # [B]
    if ratio == "agent":
        adv = adv[:, None]  # [B, 1] -> broadcast over agents
        elem_mask = mask
    else:
        if mask is not None:
            log_ratio = jnp.where(jnp.asarray(mask, bool), log_ratio, 0.0)
        log_ratio = jnp.sum(log_ratio, axis=-1)  # [B]
        elem_mask = None
    r = jnp.exp(log_ratio)
    objective = jnp.minimum(r * adv, jnp.clip(r, 1.0 - clip_eps, 1.0 + clip_eps) * adv)
    loss = -_masked_mean(objective, elem_mask)
    r_sg = jax.lax.stop_gradient(r)
    clip_frac = _masked_mean((jnp.abs(r_sg - 1.0) > clip_eps).astype(jnp.float32), elem_mask)
    approx_kl = _masked_mean((r_sg - 1.0) - jax.lax.stop_gradient(log_ratio), elem_mask)
    return loss, clip_frac, approx_kl


def value_loss(values_new, values_old, targets, clip_eps, huber_delta=10.0):
    """MAPPO clipped value loss with Huber: mean(max(H(targets − v), H(targets − v_clipped))).

    values_new, values_old, targets: float32, same shape (e.g. [B]), all in the same space (the
    normalised one when ValueNorm is used). v_clipped = values_old + clip(values_new − values_old, ±ε).
    H = optax.huber_loss with δ = huber_delta (½e² for |e| ≤ δ, δ(|e| − ½δ) beyond).
    Returns a float32 scalar.
    """
    values_new = jnp.asarray(values_new, jnp.float32)
    values_old = jnp.asarray(values_old, jnp.float32)
    targets = jnp.asarray(targets, jnp.float32)
    v_clipped = values_old + jnp.clip(values_new - values_old, -clip_eps, clip_eps)
    l_orig = optax.huber_loss(values_new, targets, delta=huber_delta)
    l_clip = optax.huber_loss(v_clipped, targets, delta=huber_delta)
    return jnp.mean(jnp.maximum(l_orig, l_clip))


def density_penalty(rho, eta, alpha):
    """Density regulariser α·|ρ(G) − η| (paper §7.4.4), mean over the batch.

    rho: float32 [B] (or any shape) DAG densities in [0, 1]; eta, alpha: scalars (jbn.training.schedules).
    Returns a float32 scalar.
    """
    d = jnp.asarray(rho, jnp.float32) - eta
    # |d| with the subgradient 0 where d = 0: a DAG already at its target gets no push. (jnp.abs has gradient +1 at
    # 0, which pushed every DAG sampled exactly at η back down: with η = 1 at the start of the annealing schedule and
    # 2 agents, every DAG with its one edge is exactly at η, and the density stayed near 0.5 whatever α.)
    return alpha * jnp.mean(jnp.sign(jax.lax.stop_gradient(d)) * d)


class LossInfo(NamedTuple):
    """Diagnostics of one loss evaluation, all float32 scalars []."""

    total: jnp.ndarray
    policy: jnp.ndarray  # clipped surrogate, averaged over living agents
    value: jnp.ndarray
    entropy: jnp.ndarray  # mean entropy of the living agents' conditionals
    density_penalty: jnp.ndarray
    dag_density: jnp.ndarray
    clip_frac: jnp.ndarray  # over living agents
    approx_kl: jnp.ndarray  # over living agents
    active_frac: jnp.ndarray  # share of (step, agent) pairs with a choice (alive on SMAX)


def active_agents(avail):
    """bool [..., N]: agents with more than one available action.

    An agent with a single available action has no choice: its log-prob is 0 and its ratio 1 whatever the
    parameters. On SMAX that is exactly a dead unit (only the no-op is available), which MAPPO's
    `active_masks` take out of the actor loss; in CG and Aloha every agent is always active.
    avail: bool [..., N, A].
    """
    return jnp.sum(jnp.asarray(avail, jnp.int32), axis=-1) > 1


def bn_mappo_loss(policy, params, batch: Batch, eta, alpha, hyper: Hyper, ratio: Ratio = "agent"):
    """The whole BN-MAPPO loss of one minibatch, to MINIMISE.

    policy: a `jbn.policy.joint.BNPolicy`; params its parameters (actor, critic[, edge, perm]).
    batch: a `Batch` with a leading batch axis B (obs [B, N, D], avail [B, N, A], actions [B, N],
      logp [B, N] at sampling time, advantages [B], value_n / targets_n [B] in normalised units, and the
      DAG noise stored in the rollout, from which G is recomputed with the current DAG nets). A recurrent
      policy's batch has leading axes [T, E'] instead (whole sequences of E' envs): its GRU states are replayed
      from the stored first ones (`BNPolicy.replay`, truncated BPTT over T), then everything is as above.
    eta, alpha: the density target and weight of this update (jbn.training.schedules); ignored unless the policy
      learns its DAG.
    hyper: the run's `Hyper` (floats or scalar arrays); the loss reads clip_eps, vf_coef, ent_coef and huber_delta.

        loss = surrogate − ent_coef · entropy + vf_coef · value_loss + α·mean|ρ(G) − η|

    Surrogate, entropy, clip fraction and approx-KL are averaged over the ACTIVE agents only (see
    `active_agents`): a dead unit contributes neither a zero advantage term nor a zero entropy that
    would shrink the living agents' gradient as units die. The critic is a team value: all steps count.
    Returns (loss, LossInfo).
    """
    memory = None
    if policy.recurrent:  # leaves [T, E', ...]: replay each env's GRU states from its first step's, then flatten
        start = jax.tree.map(lambda x: x[0], batch.memory)
        memory = policy.replay(params, start, batch.obs, batch.world_state, batch.done)
        flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
        batch, memory = jax.tree.map(flat, (batch._replace(memory=None, done=None), memory))
    logp, entropy, g = policy.log_prob(params, batch.obs, batch.avail, batch.visible, batch.noise, batch.actions, memory)
    active = active_agents(batch.avail)  # [B, N]
    pg_loss, clip_frac, approx_kl = clipped_surrogate(
        logp, batch.logp, batch.advantages, hyper.clip_eps, ratio, mask=active
    )
    ent = _masked_mean(entropy, active)
    v = policy.value(params, batch.world_state, memory)
    v_loss = value_loss(v, batch.value_n, batch.targets_n, hyper.clip_eps, hyper.huber_delta)
    rho = dag_lib.density(g)  # [B]
    d_pen = density_penalty(rho, eta, alpha) if policy.learns_dag else jnp.float32(0.0)
    total = pg_loss + hyper.vf_coef * v_loss - hyper.ent_coef * ent + d_pen
    info = LossInfo(
        total=total, policy=pg_loss, value=v_loss, entropy=ent, density_penalty=d_pen,
        dag_density=jnp.mean(rho), clip_frac=clip_frac, approx_kl=approx_kl,
        active_frac=jnp.mean(active.astype(jnp.float32)),
    )
    return total, info


# ------------------------------------------------------------------------------------- optimiser


def grad_clipper(max_grad_norm, networks, grad_clip: GradClip = "per_network") -> optax.GradientTransformation:
    """Gradient clipping to global norm `max_grad_norm`, over all parameters ("global") or for each top-level
    network of the parameter dict on its own ("per_network": actor, critic, edge, perm), as MAPPO's separate
    actor and critic optimisers do, so that a large critic gradient cannot shrink the actor's step.
    networks: the top-level keys of the parameter dict."""
    if grad_clip not in GRAD_CLIP_MODES:
        raise ValueError(f"grad_clip={grad_clip!r}; choose one of {GRAD_CLIP_MODES}")
    if grad_clip == "global":
        return optax.clip_by_global_norm(max_grad_norm)
    networks = list(networks)
    return optax.multi_transform(
        {name: optax.clip_by_global_norm(max_grad_norm) for name in networks}, {name: name for name in networks}
    )


def make_optimizer(lr, max_grad_norm, networks, grad_clip: GradClip = "per_network") -> optax.GradientTransformation:
    """Adam (eps 1e-5) after `grad_clipper`. Adam is per-parameter, so one Adam over all networks equals one
    Adam per network: only the clipping needs the split."""
    return optax.chain(grad_clipper(max_grad_norm, networks, grad_clip), optax.adam(lr, eps=1e-5))
