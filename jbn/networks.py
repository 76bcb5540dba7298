"""Actor, critic, edge net and permutation net (paper Table 2; DESIGN.md §3). flax.linen, ReLU, hidden 64,
orthogonal init.

Architectures (Table 2), where Base(h) = FC(h)-ReLU-FC(h)-ReLU:
  actor "smax":  Concat(o_i, id_i, a^{P_i}) - Base - FC(A)
  actor "cg":    Concat(Base(o_i, id_i), a^{P_i}) - FC(A)
  (the FC layer that reads a^{P_i} is split into an own half and a bias-free parent half "parent_in",
  which is the same map; in DAG mode `none` the parent half is skipped instead of fed zeros)
  actor "aloha": Concat(Base(o_i, id_i), Base(Concat(o^{P_i}, a^{P_i}))) - FC(A)
  critic:        world_state - Base - FC(1)
  edge net:      joint obs - FC(h)-ReLU-FC(2N^2) (CG: a DeepSet over agents)
  perm net:      joint obs - FC(h)-ReLU-FC(N^2)
The agent id (one-hot) is appended to the actor input since parameters are shared across agents.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

ACTOR_ARCHS = ("smax", "cg", "aloha")


def _dense(features, scale=np.sqrt(2.0), use_bias=True, name=None):
    return nn.Dense(features, use_bias=use_bias, kernel_init=nn.initializers.orthogonal(scale),
                    bias_init=nn.initializers.zeros, name=name)


class Base(nn.Module):
    hidden: int = 64

    @nn.compact
    def __call__(self, x):
        x = nn.relu(_dense(self.hidden)(x))
        return nn.relu(_dense(self.hidden)(x))


class Actor(nn.Module):
    """Logits of π_i(a_i | o_i, a^{P_i}) for any leading batch shape.

    obs [..., D]; agent_id [..., N] one-hot; parent_actions [..., N*A] (zeros for non-parents);
    parent_obs [..., N*D] (aloha only; zeros for non-parents). Returns logits [..., A] (unmasked).
    """

    num_actions: int
    arch: str = "smax"
    hidden: int = 64

    @nn.compact
    def __call__(self, obs, agent_id, parent_actions=None, parent_obs=None):
        """parent_actions None means "no parents" (mode none): the parent input layer is skipped, which
        equals feeding zeros (it has no bias) at the cost of an independent MAPPO actor."""
        own = jnp.concatenate([obs, agent_id], -1)
        if self.arch == "smax":
            # FC(h) on Concat(o_i, id_i, a^P), written as two bias-sharing halves so `none` can skip one.
            h = _dense(self.hidden)(own)
            if parent_actions is not None:
                h = h + _dense(self.hidden, use_bias=False, name="parent_in")(parent_actions)
            h = nn.relu(_dense(self.hidden)(nn.relu(h)))
            out = _dense(self.num_actions, 0.01)(h)
        elif self.arch == "cg":
            out = _dense(self.num_actions, 0.01)(Base(self.hidden)(own))
            if parent_actions is not None:
                out = out + _dense(self.num_actions, 0.01, use_bias=False, name="parent_in")(parent_actions)
        elif self.arch == "aloha":
            h = jnp.concatenate([Base(self.hidden)(own), Base(self.hidden)(jnp.concatenate([parent_obs, parent_actions], -1))], -1)
            out = _dense(self.num_actions, 0.01)(h)
        else:
            raise ValueError(f"unknown actor arch {self.arch!r}; valid: {ACTOR_ARCHS}")
        return out


class Critic(nn.Module):
    """V(world_state): [..., S] -> [...] (in value-normalised units)."""

    hidden: int = 64

    @nn.compact
    def __call__(self, world_state):
        return _dense(1, 1.0)(Base(self.hidden)(world_state))[..., 0]


class EdgeNet(nn.Module):
    """Joint observation [..., N, D] -> edge logits [..., N, N, 2] (class 1 = edge j -> i present)."""

    num_agents: int
    hidden: int = 64
    deepset: bool = False

    @nn.compact
    def __call__(self, joint_obs):
        n = self.num_agents
        if self.deepset:  # Table 2's DeepSet for CG: per-agent encoder, mean over agents, decoder.
            enc = nn.Sequential([_dense(self.hidden), nn.relu, _dense(self.hidden), nn.relu, _dense(self.hidden)])
            z = enc(joint_obs).mean(-2)
            out = nn.Sequential([_dense(self.hidden), nn.relu, _dense(self.hidden), nn.relu, _dense(2 * n * n, 0.01)])(z)
        else:
            x = joint_obs.reshape(joint_obs.shape[:-2] + (-1,))
            out = _dense(2 * n * n, 0.01)(nn.relu(_dense(self.hidden)(x)))
        return out.reshape(out.shape[:-1] + (n, n, 2))


class PermNet(nn.Module):
    """Joint observation [..., N, D] -> permutation logits [..., N (position), N (agent)]."""

    num_agents: int
    hidden: int = 64

    @nn.compact
    def __call__(self, joint_obs):
        n = self.num_agents
        x = joint_obs.reshape(joint_obs.shape[:-2] + (-1,))
        out = _dense(n * n, 0.01)(nn.relu(_dense(self.hidden)(x)))
        return out.reshape(out.shape[:-1] + (n, n))
