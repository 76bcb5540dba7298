"""State and data containers of the trainer (flax.struct / NamedTuple, built by keyword)."""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import jax
import optax
from flax import struct

from envs_jax import EnvState, TimeStep

from ..policy.dag import DagNoise
from ..policy.joint import Memory

Params = dict  # {"actor", "critic"[, "edge"[, "perm"]]: flax parameter trees}


class Sweepable(NamedTuple):
    """A hyper-parameter a run reads from its state (a `Hyper` leaf), so that a sweep over it is one more batch axis."""

    meaning: str
    valid: str  # the valid range in words, as messages give it: "> 0", ">= 0", "in (0, 1]", "in [0, 1]"
    ok: Callable[[float], bool]  # whether a value lies in that range


# The one declaration of the sweepable hyper-parameters: `Hyper`'s fields (in this order), `sweep.SWEEPABLE`, and the
# ranges the config's PPO section checks its own values against (jbn.training.sections.PpoConfig). The first eight
# are Config fields; the last five come from the annealing schedule (jbn.training.schedules.AnnealConfig).
SWEEPABLE: dict[str, Sweepable] = {
    "lr": Sweepable("Adam learning rate", "> 0", lambda v: v > 0),
    "max_grad_norm": Sweepable("gradient clipping norm", "> 0", lambda v: v > 0),
    "clip_eps": Sweepable("PPO clip ε", "> 0", lambda v: v > 0),
    "vf_coef": Sweepable("value-loss weight", ">= 0", lambda v: v >= 0),
    "ent_coef": Sweepable("entropy weight", ">= 0", lambda v: v >= 0),
    "huber_delta": Sweepable("Huber δ of the value loss", "> 0", lambda v: v > 0),
    "gamma": Sweepable("discount", "in (0, 1]", lambda v: 0 < v <= 1),
    "gae_lambda": Sweepable("GAE λ", "in (0, 1]", lambda v: 0 < v <= 1),
    "alpha0": Sweepable("density-penalty weight α₀ before the α ramp", ">= 0", lambda v: v >= 0),
    "alpha1": Sweepable("density-penalty weight α₁ after the ramp", ">= 0", lambda v: v >= 0),
    "anneal_a": Sweepable("fraction of training where η starts to fall", "in [0, 1]", lambda v: 0 <= v <= 1),
    "anneal_b": Sweepable("fraction where η reaches 0 and α starts to rise", "in [0, 1]", lambda v: 0 <= v <= 1),
    "anneal_c": Sweepable("fraction where α reaches α₁", "in [0, 1]", lambda v: 0 <= v <= 1),
}

Hyper = NamedTuple("Hyper", [(name, jax.Array) for name in SWEEPABLE])
Hyper.__doc__ = """The hyper-parameters of one run, as float32 scalar leaves of its state ([runs] under the runs vmap),
    so a sweep over them is one more batch axis of one compiled program instead of one compile per value (sweep.py: how
    a point becomes a Hyper). Its fields are `SWEEPABLE`'s names, which also say what each means. The update reads a
    swept name from here and any other as the config's constant (`trainer.make_train`: a run without a sweep
    computes exactly what a program without sweeps would); lr and max_grad_norm always from here, through the
    optimiser's injected hyper-parameters; the loss reads clip_eps, vf_coef, ent_coef and huber_delta
    (`ppo.bn_mappo_loss`). Values that decide shapes or the program itself (sizes, DAG mode, staircase step counts)
    stay in the static Config."""


class Decision(NamedTuple):
    """What the policy and the critic did in one rollout step of E envs."""

    noise: Optional[DagNoise]  # [E, ...] DAG noise (context mode), stored for the PPO ratio; else None
    actions: jax.Array  # int32 [E, N]
    logp: jax.Array  # [E, N] log π_i(a_i | o_i, a^{P_i}) at sampling time
    value_n: jax.Array  # [E] critic output (value-normalised units) of the world state acted on
    density: jax.Array  # [E] ρ(G) of the sampled DAG
    memory: Optional[Memory] = None  # [E, ...] recurrent policies: the GRU states the step started from; else None


class Transition(NamedTuple):
    """One rollout step of E envs; stacked over time to [T, E, ...] by lax.scan. Built by `Transition.of`."""

    obs: jax.Array  # [E, N, D]
    world_state: jax.Array  # [E, S]
    avail: jax.Array  # [E, N, A] bool
    visible: jax.Array  # [E, N, N] bool
    noise: Optional[DagNoise]  # [E, ...] (context mode) or None
    actions: jax.Array  # [E, N] int32
    logp: jax.Array  # [E, N] log π_i(a_i | o_i, a^{P_i}) at sampling time
    value_n: jax.Array  # [E] critic output (value-normalised units) at sampling time
    reward: jax.Array  # [E]
    terminated: jax.Array  # [E] bool
    done: jax.Array  # [E] bool
    final_world_state: jax.Array  # [E, S] state reached before any auto-reset (bootstrap at truncation)
    episode_return: jax.Array  # [E] valid where done
    won: jax.Array  # [E] bool, valid where done
    density: jax.Array  # [E] ρ(G) of the sampled DAG
    memory: Optional[Memory] = None  # [E, ...] recurrent: the GRU states the step started from (the update replays
    #                                   each env's sequence from step 0's); None for feed-forward policies

    @classmethod
    def of(cls, ts: TimeStep, decision: Decision, next_ts: TimeStep) -> "Transition":
        """The step from `ts` (what was acted on) through `decision` to `next_ts` (what the env returned): the one
        constructor of the compiled rollout and the host-side one (arrays or ShapeDtypeStructs alike)."""
        return cls(
            obs=ts.obs, world_state=ts.world_state, avail=ts.avail, visible=ts.visible, noise=decision.noise,
            actions=decision.actions, logp=decision.logp, value_n=decision.value_n, reward=next_ts.reward,
            terminated=next_ts.terminated, done=next_ts.done, final_world_state=next_ts.final_world_state,
            episode_return=next_ts.episode_return, won=next_ts.won, density=decision.density, memory=decision.memory,
        )


class Batch(NamedTuple):
    """What the PPO loss reads: a Transition's inputs plus advantages and normalised targets. Built by `Batch.of`."""

    obs: jax.Array
    world_state: jax.Array
    avail: jax.Array
    visible: jax.Array
    noise: Optional[DagNoise]
    actions: jax.Array
    logp: jax.Array
    value_n: jax.Array
    advantages: jax.Array
    targets_n: jax.Array
    memory: Optional[Memory] = None  # recurrent: [T or 1, E', ...] the GRU states each step started from (the update
    #                                   keeps the first step's only: its replay starts there); else None
    done: Optional[jax.Array] = None  # recurrent: [T, E'] the episode ended at the step (the replay's resets)

    @classmethod
    def of(cls, traj: Transition, advantages: jax.Array, targets_n: jax.Array) -> "Batch":
        """A rollout's Transition with its advantages and value-normalised targets ([T, E] leaves). A recurrent
        policy's batch keeps its time axis (minibatches split the envs) and what its replay reads."""
        recurrent = traj.memory is not None
        return cls(
            obs=traj.obs, world_state=traj.world_state, avail=traj.avail, visible=traj.visible, noise=traj.noise,
            actions=traj.actions, logp=traj.logp, value_n=traj.value_n, advantages=advantages, targets_n=targets_n,
            memory=traj.memory, done=traj.done if recurrent else None,
        )


class ValueNorm(NamedTuple):
    """Running statistics of the value targets, as in MAPPO's ValueNorm (scalar, all axes pooled).

    running_mean, running_mean_sq: EMAs of the batch mean of x and of x². debiasing_term: EMA of 1
    (Adam-style bias correction of the zero initialisation). All float32 scalars [].
    """

    running_mean: jax.Array
    running_mean_sq: jax.Array
    debiasing_term: jax.Array


@struct.dataclass
class RunnerState:
    """Everything one seed's training carries from update to update."""

    params: Params
    opt_state: optax.OptState
    value_norm: ValueNorm
    env_state: EnvState  # [E]
    timestep: TimeStep  # [E], the observation to act on
    key: jax.Array
    update: jax.Array  # int32 [] updates done so far
    hyper: Hyper  # this run's hyper-parameters (float32 scalars; constant during training)
    memory: Optional[Memory] = None  # [E, ...] recurrent policies: the GRU states to act on next; else None
