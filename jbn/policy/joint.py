"""The Bayesian-network joint policy (paper §4-6; docs/architecture.md §3).

Per env (vmap over envs outside):
  sample(params, obs, avail, visible, noise, key)   -> (actions [N], logp [N], G [N, N])
      lax.scan over the N topological positions; at position p only the agent order[p] is evaluated,
      seeing the one-hot actions of its parents (G[:, i]) sampled at earlier positions.
  log_prob(params, obs, avail, visible, noise, actions) -> (logp [N], entropy [N], G [N, N])
      one parallel pass over all agents given the stored joint action (teacher forcing) and the
      stored DAG noise, with gradients into the actor, the edge net and the permutation net.
Mode `none` needs no scan: all agents are sampled in one batched pass (plain MAPPO).

Recurrent policies (gru_width = H > 0): every agent's actor and the critic keep a GRU state (`Memory`). Per step,
    memory = step_memory(params, memory, obs, world_state)     once, for all agents, before the topological scan
and `sample`, `log_prob` and `value` read `memory` (their parent-free input) instead of the observation;
`reset_memory(memory, done)` zeroes the state of envs whose episode ended, and `replay` recomputes a rollout's states
from the one it started with (the update's truncated BPTT).
"""
from __future__ import annotations


from dataclasses import dataclass
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import dag as dag_lib
from .networks import Actor, Arch, Critic, EdgeNet, PermNet, RecurrentCritic, reset_where

# The one stand-in for −inf at unavailable actions: finite, so masked log-softmax and its gradient stay
# NaN-free.
MASKED_LOGIT = -1e9


def mask_logits(logits, avail):
    """logits [..., A] with unavailable actions (avail False) set to MASKED_LOGIT."""
    return jnp.where(avail, logits, MASKED_LOGIT)


def entropy_of_logits(logits, avail):
    """Entropy of the categorical softmax(logits) restricted to the available actions.

    logits: float32 [..., A] (may already hold −inf at unavailable actions).
    avail: bool [..., A]; unavailable actions get probability 0.
    Returns float32 [...]. Finite values and gradients whenever at least one action is available.
    """
    avail = jnp.asarray(avail, bool)
    logp = jax.nn.log_softmax(mask_logits(jnp.asarray(logits, jnp.float32), avail), axis=-1)
    return -jnp.sum(jnp.where(avail, jnp.exp(logp) * logp, 0.0), axis=-1)


class Memory(NamedTuple):
    """The GRU states of a recurrent policy (leaves [..., N, H] and [..., H], any leading batch shape)."""

    actor: jax.Array  # [..., N, H] each agent's actor state
    critic: jax.Array  # [..., H] the critic's state


@dataclass(frozen=True)
class BNPolicy:
    """Static description of the joint policy; parameters live in a dict {actor, critic[, edge, perm]}."""

    num_agents: int
    obs_dim: int
    state_dim: int
    num_actions: int
    mode: dag_lib.DagMode = "context"
    arch: Arch = "smax"  # actor architecture (networks.ACTOR_ARCHS)
    hidden: int = 64
    learn_order: bool = True  # context only: learn Π (else Π = I)
    deepset_edges: bool = False  # CG: DeepSet edge net (Table 2)
    edge_prior: float = 0.5  # context: each edge's probability at initialisation (EdgeNet.prior)
    mask_invisible_parents: bool = False  # SMAX: a parent the child cannot see contributes zeros
    parent_obs: bool = False  # Aloha: parents also pass their observations
    sinkhorn_iters: int = 20
    tau: float = 1.0
    gru_width: int = 0  # GRU width of the actor and the critic (0: feed-forward)
    dag_reads_memory: bool = False  # context, recurrent: the edge and perm nets read the GRU states [N, H], not obs
    # Evaluation only (jbn/evaluate.py): each agent takes the argmax of its conditional, in topological order,
    # and the DAG is the most likely one (zero Gumbel noise: per-edge argmax, max-weight order). Never trained.
    greedy: bool = False
    # Grid observations (torso "cnn", networks read [H, W, C] through a ConvTorso): one agent's observation shape and
    # the world state's; () means the vectors [obs_dim] and [state_dim].
    torso: str = "mlp"
    obs_shape: tuple = ()
    state_shape: tuple = ()

    def __post_init__(self):
        if self.mode not in dag_lib.DAG_MODES:
            raise ValueError(f"unknown DAG mode {self.mode!r}; valid: {', '.join(dag_lib.DAG_MODES)}")

    # ---- modules ----
    @property
    def actor(self):
        return Actor(self.num_agents, self.num_actions, self.arch, self.hidden, self.gru_width, self.torso)

    @property
    def critic(self):
        if self.gru_width:
            return RecurrentCritic(self.hidden, self.gru_width, self.torso)
        return Critic(self.hidden, self.torso)

    @property
    def recurrent(self) -> bool:
        return self.gru_width > 0

    @property
    def edge_net(self):
        return EdgeNet(self.num_agents, self.hidden, self.deepset_edges, self._dag_torso, self.edge_prior)

    @property
    def perm_net(self):
        return PermNet(self.num_agents, self.hidden, self._dag_torso)

    @property
    def _dag_torso(self) -> str:
        """The edge and permutation nets read observations through the torso, GRU states ([N, H]) directly."""
        return "mlp" if self.dag_reads_memory else self.torso

    @property
    def one_obs_shape(self) -> tuple:
        """One agent's observation shape ([D] for vectors)."""
        return tuple(self.obs_shape) or (self.obs_dim,)

    @property
    def learns_dag(self) -> bool:
        return dag_lib.is_learned(self.mode)

    @property
    def has_parents(self) -> bool:
        """Some agent conditions on another's action (False in mode none: decentralised execution)."""
        return dag_lib.has_parents(self.mode)

    def init(self, key):
        n, a = self.num_agents, self.num_actions
        o, s = self.one_obs_shape, tuple(self.state_shape) or (self.state_dim,)
        k1, k2, k3, k4 = jax.random.split(key, 4)
        if self.recurrent:
            m = jnp.zeros((self.gru_width,))
            params = {
                "actor": self.actor.init(k1, jnp.zeros(o), jnp.zeros((n,)), jnp.zeros((n,)),
                                         jnp.zeros((n,), jnp.int32), jnp.zeros((n,) + o), m),
                "critic": self.critic.init(k2, m, jnp.zeros(s), method="initialize"),
            }
        else:
            params = {
                "actor": self.actor.init(k1, jnp.zeros(o), jnp.zeros((n,)), jnp.zeros((n,)),
                                         jnp.zeros((n,), jnp.int32), jnp.zeros((n,) + o)),
                "critic": self.critic.init(k2, jnp.zeros(s)),
            }
        if self.learns_dag:
            dag_in = jnp.zeros((n, self.gru_width) if self.dag_reads_memory else (n,) + o)
            params["edge"] = self.edge_net.init(k3, dag_in)
            if self.learn_order:
                params["perm"] = self.perm_net.init(k4, dag_in)
        return params

    # ---- memory (recurrent policies) ----
    def initial_memory(self, batch_shape=()) -> Optional[Memory]:
        """Zero GRU states for envs of `batch_shape` (an episode's start); None for a feed-forward policy."""
        if not self.recurrent:
            return None
        m = self.gru_width
        return Memory(actor=jnp.zeros(tuple(batch_shape) + (self.num_agents, m)),
                      critic=jnp.zeros(tuple(batch_shape) + (m,)))

    def encode(self, params, obs, world_state) -> Memory:
        """The GRUs' gate inputs (leaves [..., N, 3H] and [..., 3H]) of obs [..., N, D] and world_state [..., S]: the
        part of a GRU step that needs no state, for any number of steps at once."""
        lead = obs.shape[: obs.ndim - len(self.one_obs_shape)]  # [..., N]
        agent_id = jnp.broadcast_to(jnp.eye(self.num_agents), lead + (self.num_agents,))
        return Memory(actor=self.actor.apply(params["actor"], obs, agent_id, method="encode"),
                      critic=self.critic.apply(params["critic"], world_state, method="encode"))

    def gru_step(self, params, memory: Memory, gates: Memory) -> Memory:
        """The GRUs' next states from their states and a step's `encode`."""
        return Memory(actor=self.actor.apply(params["actor"], memory.actor, gates.actor, method="gru_step"),
                      critic=self.critic.apply(params["critic"], memory.critic, gates.critic, method="gru_step"))

    def step_memory(self, params, memory: Memory, obs, world_state) -> Memory:
        """One GRU step of every agent's actor and of the critic, for any leading batch shape: obs [..., N, D],
        world_state [..., S], memory leaves [..., N, H] and [..., H]. Parent-free: one pass for all agents."""
        return self.gru_step(params, memory, self.encode(params, obs, world_state))

    def replay_critic(self, params, start, world_state, done):
        """`replay` of the critic alone: start [E, H], world_state [T, E, S], done [T, E] -> states [T, E, H]."""
        gates = self.critic.apply(params["critic"], world_state, method="encode")
        return self.critic.apply(params["critic"], start, gates, done, method="replay")

    def step_critic_memory(self, params, critic_memory, world_state):
        """The critic's GRU step alone ([..., H], [..., S] -> [..., H]): the value of a state reached (bootstrap)."""
        return self.critic.apply(params["critic"], critic_memory, world_state, method="step_memory")

    @staticmethod
    def reset_memory(memory: Optional[Memory], done) -> Optional[Memory]:
        """memory with the states of envs whose episode ended (done [E] bool) zeroed: the next step starts anew."""
        if memory is None:
            return None
        return jax.tree.map(lambda x: reset_where(done, x), memory)

    def replay(self, params, start: Memory, obs, world_state, done) -> Memory:
        """The states a rollout's steps acted with, recomputed from the state it started with (truncated BPTT):
        start leaves [E, ...], obs [T, E, N, D], world_state [T, E, S], done [T, E]. Returns Memory leaves [T, E, ...]
        (the state after each step's `step_memory`, before `reset_memory`), differentiable in params."""

        # the input projections of all T steps at once (large matmuls); a scan runs only the recurrent part
        # (networks.gru_sequence), differentiated by JAX
        gates = self.encode(params, obs, world_state)
        return Memory(actor=self.actor.apply(params["actor"], start.actor, gates.actor, done, method="replay"),
                      critic=self.critic.apply(params["critic"], start.critic, gates.critic, done, method="replay"))

    # ---- DAG ----
    def sample_noise(self, key, batch_shape=()):
        """DAG noise for `context` mode (stored in the rollout); None for fixed DAGs."""
        if not self.learns_dag:
            return None
        noise = dag_lib.sample_noise(key, tuple(batch_shape), self.num_agents, self.learn_order)
        return jax.tree.map(jnp.zeros_like, noise) if self.greedy else noise

    def dag(self, params, obs, visible, noise, differentiable=True, memory: Optional[Memory] = None):
        """(G, G_eff, order) of one env step. obs [N, D]; visible [N, N] bool ([i, j]: i sees j); memory: the step's
        GRU states, which the edge and perm nets read instead of obs when `dag_reads_memory`.

        G [N, N] is the sampled DAG (G[j, i] = 1: j is a parent of i); G_eff additionally zeroes
        parents the child cannot see when `mask_invisible_parents` (the authors' SMAC code).
        differentiable=False: the same values without the straight-through soft parts (for sampling)."""
        n = self.num_agents
        if self.learns_dag:
            x = memory.actor if self.dag_reads_memory else obs
            edge_logits = self.edge_net.apply(params["edge"], x)
            perm_logits = self.perm_net.apply(params["perm"], x) if self.learn_order else None
            g, order = dag_lib.sample_dag(
                self.mode, n, noise, edge_logits, perm_logits, self.learn_order, self.tau, self.sinkhorn_iters,
                differentiable=differentiable,
            )
        else:
            g, order = dag_lib.fixed_dag(self.mode, n), jnp.arange(n, dtype=jnp.int32)
        g_eff = g * visible.T.astype(g.dtype) if self.mask_invisible_parents else g
        return g, g_eff, order

    # ---- actor ----
    def _parent_free(self, params, obs, memory: Optional[Memory] = None):
        """The parent-free part of every agent's actor (Actor.own): obs [..., N, D] -> [..., N, F]; a recurrent policy
        reads the agents' GRU states memory.actor [..., N, H] instead."""
        if self.recurrent:
            return self.actor.apply(params["actor"], memory.actor, method="parent_free_from")
        n = self.num_agents
        return self.actor.apply(params["actor"], obs, jnp.eye(n), method="parent_free")

    def _head(self, params, own, parents, actions, obs):
        """Logits from the own part; parents [..., N] (G_eff columns) or None (mode none); actions int [N]."""
        obs_all = obs if self.parent_obs else jnp.zeros_like(obs)
        return self.actor.apply(params["actor"], own, parents, actions, obs_all, method="head")

    def _choose(self, key, logits):
        """An action index from masked logits [..., A]: a sample, or the argmax when `greedy`."""
        if self.greedy:
            return jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return jax.random.categorical(key, logits).astype(jnp.int32)

    def sample(self, params, obs, avail, visible, noise, key, memory: Optional[Memory] = None):
        """Sample the joint action of one env step.

        obs [N, D], avail [N, A] bool, visible [N, N] bool, noise DagNoise or None; memory: the step's GRU states
        (after `step_memory`; recurrent policies only).
        Returns actions int32 [N], logp float32 [N] (log π_i(a_i | o_i, a^{P_i})), G float32 [N, N].
        The parent-free part of the actor runs for all agents at once; the scan then evaluates, at each
        topological position, only the parent-dependent rest for the agent at that position.
        """
        n = self.num_agents
        g, g_eff, order = self.dag(params, obs, visible, noise, differentiable=False, memory=memory)  # values only
        own = self._parent_free(params, obs, memory)
        if not self.has_parents:
            logits = mask_logits(self._head(params, own, None, None, obs), avail)
            actions = self._choose(key, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), actions[:, None], -1)[:, 0]
            return actions, logp, g

        def position(carry, xs):
            actions, logp = carry  # actions of agents not yet sampled are 0 placeholders (never parents)
            i, k = xs
            logits = mask_logits(self._head(params, own[i], g_eff[:, i], actions, obs), avail[i])
            ai = self._choose(k, logits)
            return (actions.at[i].set(ai), logp.at[i].set(jax.nn.log_softmax(logits)[ai])), None

        init = (jnp.zeros((n,), jnp.int32), jnp.zeros((n,)))
        (actions, logp), _ = jax.lax.scan(position, init, (order, jax.random.split(key, n)))
        return actions, logp, g

    def log_prob(self, params, obs, avail, visible, noise, actions, memory: Optional[Memory] = None):
        """Teacher-forced log-probs and entropies of stored joint actions (one parallel pass), for any leading batch
        shape *B: obs [*B, N, ...], avail [*B, N, A], visible [*B, N, N], noise leaves [*B, ...] (or None), actions
        int [*B, N]; memory: the steps' GRU states (recurrent policies, from `replay`).

        The actor runs on the whole batch at once; only the DAG (one per sample) is vmapped. (Under a vmap of the
        whole function, XLA transposed the gradient of each actor layer's output before its weight-gradient product,
        a copy and a slower product on every minibatch; bench/RESULTS.md.)
        Returns logp [*B, N], entropy [*B, N] (of each agent's conditional), G [*B, N, N] (differentiable in context
        mode).
        """
        lead = actions.shape[:-1]

        def dag(p, o, v, z, m):  # one sample's (G, G_eff, order)
            return self.dag(p, o, v, z, memory=m)

        for _ in lead:
            dag = jax.vmap(dag, in_axes=(None, 0, 0, 0, 0))
        g, g_eff, _ = dag(params, obs, visible, noise, memory)
        parents = jnp.swapaxes(g_eff, -1, -2) if self.has_parents else None  # row i: the parent weights of agent i
        # every agent's head sees the joint action and observations: one broadcast axis in front of the agents'
        joint = len(lead)
        logits = self._head(params, self._parent_free(params, obs, memory), parents,
                            jnp.expand_dims(actions, joint), jnp.expand_dims(obs, joint))
        logits = mask_logits(logits, avail)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), actions[..., None], -1)[..., 0]
        return logp, entropy_of_logits(logits, avail), g

    def value(self, params, world_state, memory: Optional[Memory] = None):
        """V in value-normalised units, any leading shape: of world_state [..., S], or for a recurrent policy of the
        critic's GRU state memory.critic [..., H] (which has read the world state)."""
        if self.recurrent:
            return self.critic.apply(params["critic"], memory.critic)
        return self.critic.apply(params["critic"], world_state)
