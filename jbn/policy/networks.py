"""Actor, critic, edge net and permutation net (paper Table 2; docs/architecture.md §3.4-3.5).
flax.linen, ReLU, hidden 64, orthogonal init.

Architectures (Table 2), where Base(h) = FC(h)-ReLU-FC(h)-ReLU:
  actor "smax":  Concat(o_i, id_i, a^{P_i}) - Base - FC(A)
  actor "cg":    Concat(Base(o_i, id_i), a^{P_i}) - FC(A)
  (the FC layer that reads a^{P_i} is split into an own half and a bias-free parent half "parent_in",
  which is the same map; in DAG mode `none` the parent half is skipped instead of fed zeros; the parent
  half gathers one kernel row per parent instead of multiplying the N*A one-hot block, see ParentIn)
  actor "aloha": Concat(Base(o_i, id_i), Base(Concat(o^{P_i}, a^{P_i}))) - FC(A)
  critic:        world_state - Base - FC(1)
  edge net:      joint obs - FC(h)-ReLU-FC(2N^2) (CG: a DeepSet over agents)
  perm net:      joint obs - FC(h)-ReLU-FC(N^2)
The agent id (one-hot) is appended to the actor input since parameters are shared across agents.

Recurrent (`gru_width` H > 0, `--recurrent gru`): a GRU of width H sits in front of each network and the network reads its
state instead of its input. Actor: h_i ← GRU(h_i, ReLU(FC(H)(o_i, id_i))), then the arch above on h_i in place of
(o_i, id_i); the parents' actions still enter after the GRU (the head), so the GRU is parent-free and runs once per
step for all agents before the topological scan. Critic: h ← GRU(h, ReLU(FC(H)(s))), then Base(h) - FC(1).
"""
from __future__ import annotations

from typing import Literal, Sequence, get_args

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from .torso import ConvTorso

Arch = Literal["smax", "cg", "aloha"]
ACTOR_ARCHS: tuple[str, ...] = get_args(Arch)


def matmul(x, kernel, precision=None):
    """x [..., D] @ kernel [D, F] as one [M, D] @ [D, F] product (M = the leading dims' size). The same values as
    the product on the leading dims; but the gradient of the latter contracts the kernel's cotangent over two or more
    dims (batch and agents), for which XLA's CPU backend first transposed the layer's output gradient (a copy, and a
    slower product after it) on every dense layer of the actor (bench/RESULTS.md)."""
    if x.ndim <= 2:
        return jax.lax.dot_general(x, kernel, (((x.ndim - 1,), (0,)), ((), ())), precision=precision)
    y = jax.lax.dot_general(x.reshape(-1, x.shape[-1]), kernel, (((1,), (0,)), ((), ())), precision=precision)
    return y.reshape(x.shape[:-1] + kernel.shape[1:])


def _flat_dot_general(lhs, rhs, dimension_numbers, precision=None, **kw):
    """`nn.Dense`'s product (lhs [..., D] with kernel [D, F]) through `matmul`."""
    (lc, rc), (lb, rb) = dimension_numbers
    if kw or lb or rb or tuple(lc) != (lhs.ndim - 1,) or tuple(rc) != (0,) or rhs.ndim != 2:
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision, **kw)
    return matmul(lhs, rhs, precision)


def _dense(features, scale=np.sqrt(2.0), use_bias=True, name=None):
    return nn.Dense(features, use_bias=use_bias, kernel_init=nn.initializers.orthogonal(scale),
                    bias_init=nn.initializers.zeros, name=name, dot_general=_flat_dot_general)


class IdDense(nn.Module):
    """FC(F) on Concat(x, agent_id), evaluated without building the concatenation:

        Concat(x, id) @ W + b = x @ W[:D] + id @ W[D:] + b

    with the parameters of `nn.Dense` on the concatenation (kernel [D + N, F], bias [F], `_dense`'s initialisers, in
    the same order: the same values from the same key), so a checkpoint of either loads in the other. The
    concatenation copied the whole batch of observations once more in the forward pass and again in the gradient
    (0.6 ms of a 6 ms minibatch gradient on Overcooked; bench/RESULTS.md); the id term is an [N, N] @ [N, F] product
    that broadcasts over the batch. x [..., D]; agent_id [..., N] one-hot rows, or None for a plain dense layer on x
    (a recurrent actor's layers after its GRU)."""

    features: int
    scale: float = float(np.sqrt(2.0))

    @nn.compact
    def __call__(self, x, agent_id=None):
        d = x.shape[-1]
        n = 0 if agent_id is None else agent_id.shape[-1]
        kernel = self.param("kernel", nn.initializers.orthogonal(self.scale), (d + n, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = matmul(x, kernel[:d])
        if agent_id is not None:
            y = y + agent_id @ kernel[d:]
        return y + bias


class Base(nn.Module):
    """FC(h)-ReLU-FC(h)-ReLU; `agent_id` (one-hot [..., N]) is read by the first layer as if appended to x."""

    hidden: int = 64

    @nn.compact
    def __call__(self, x, agent_id=None):
        x = nn.relu(IdDense(self.hidden, name="Dense_0")(x, agent_id))
        return nn.relu(_dense(self.hidden, name="Dense_1")(x))


def gru_cell(kernel, bias, h, gates):
    """One GRU step: the new state from the state h [..., H] and the input gates [..., 3H] (`GRU.inputs`), with the
    recurrent kernel [H, 3H] and bias [3H]; the one formula that `GRU.step` and `gru_sequence` share."""
    xr, xz, xn = jnp.split(gates, 3, axis=-1)
    hr, hz, hn = jnp.split(h @ kernel + bias, 3, axis=-1)
    r, z = nn.sigmoid(xr + hr), nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return (1.0 - z) * n + z * h


def reset_where(done, x):
    """x [T?, *B, H] with the rows of `done` ([T?, *B'], a prefix of *B) zeroed."""
    return jnp.where(done.reshape(done.shape + (1,) * (x.ndim - done.ndim)), 0.0, x)


def gru_sequence(kernel, bias, gates, h0, done):
    """The states of a GRU run over a sequence: gates [T, *B, 3H] (the input projection of every step, `GRU.inputs`),
    h0 [*B, H], done [T, *B'] (*B' a prefix of *B: the state is zeroed after a step whose episode ended). Returns
    states [T, *B, H], the state after each step before the reset (as `GRU.step` step by step). A `lax.scan` over
    the recurrent part only, differentiated by JAX (backpropagation through time; a hand-written backward pass was
    measured no faster inside the training program, bench/RESULTS.md)."""

    def step(h, xs):
        gates_t, done_t = xs
        out = gru_cell(kernel, bias, h, gates_t)
        return reset_where(done_t, out), out

    return jax.lax.scan(step, h0, (gates, done))[1]


class GRU(nn.Module):
    """A GRU of width H (Cho et al. 2014, in PyTorch's form: the reset gate scales the recurrent term after its bias),
    split where a sequence is parallel: `inputs(x) -> [..., 3H]`, the input's share of the three gates (r, z, n),
    for every step of a sequence at once; `step(h, gates) -> h'`, the recurrent part, the only one a scan over time
    must run step by step:
        r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h
    (flax's GRUCell computes the same map with the input projection inside each step.)"""

    features: int

    def setup(self):
        m = self.features
        self.wi = nn.Dense(3 * m, kernel_init=nn.initializers.lecun_normal(), bias_init=nn.initializers.zeros)
        self.wh = nn.Dense(3 * m, kernel_init=nn.initializers.orthogonal(), bias_init=nn.initializers.zeros)

    def inputs(self, x):
        return self.wi(x)

    def step(self, h, gates):
        if self.is_initializing():
            self.wh(h)  # creates the recurrent kernel and bias
        w = self.wh.variables["params"]
        return gru_cell(w["kernel"], w["bias"], h, gates)

    def sequence(self, h0, gates, done):
        """`gru_sequence` with this GRU's recurrent weights: the states of every step of a sequence."""
        if self.is_initializing():
            self.wh(h0)
        w = self.wh.variables["params"]
        return gru_sequence(w["kernel"], w["bias"], gates, h0, done)


class ParentIn(nn.Module):
    """Bias-free linear layer on the parent block of a^{P_i}: x ↦ x @ W, where x [N*A] is the one-hot block
    x[j*A + a] = parents[j]·[a_j = a] (Table 2's "a^{P_i}" input) and W [N*A, F] an ordinary dense kernel.

    Evaluated without building x: x @ W = Σ_j parents[j]·W[j*A + a_j], a gather of one kernel row per agent
    and an N-term weighted sum, O(N·F) instead of O(N·A·F). parents [..., N] (the column G[:, i], may carry
    straight-through gradients); actions int [..., N] (entries where parents[j] = 0 are ignored).
    Returns [..., F]."""

    num_agents: int
    num_actions: int
    features: int
    scale: float = float(np.sqrt(2.0))

    @nn.compact
    def __call__(self, parents, actions):
        n, a = self.num_agents, self.num_actions
        kernel = self.param("kernel", nn.initializers.orthogonal(self.scale), (n * a, self.features))
        rows = jnp.take(kernel, jnp.arange(n) * a + actions, axis=0)  # [..., N, F]
        return jnp.matmul(parents[..., None, :], rows)[..., 0, :]


class Actor(nn.Module):
    """Logits of π_i(a_i | o_i, a^{P_i}) for any leading batch shape, in two parts so that sampling can
    evaluate the parent-free part of all agents at once and only the rest agent by agent:

        own(obs [..., D], agent_id [..., N] one-hot) -> [..., F]      (no parent input)
        head(own, parents [..., N] | None, actions int [..., N] | None, obs_all [N, D] | None) -> logits [..., A]

    parents = the column G[:, i] (weights of each agent as a parent of i), actions = the joint action
    (only parents' entries matter). parents None means "no parents" (mode none): the smax and cg archs skip
    the parent input, which equals feeding zeros since it has no bias; the aloha arch feeds its parent
    encoder zeros. obs_all (aloha only): every agent's observation, parents' observations are inputs.
    """

    num_agents: int
    num_actions: int
    arch: str = "smax"
    hidden: int = 64
    gru_width: int = 0  # GRU width (0: feed-forward)
    torso: str = "mlp"  # cnn: observations are grids [..., H, W, C] read by a ConvTorso (torso.py)

    def setup(self):
        n, a, h = self.num_agents, self.num_actions, self.hidden
        if self.torso == "cnn":
            self.conv = ConvTorso(h)
        if self.gru_width:
            self.embed = IdDense(self.gru_width)
            self.gru = GRU(self.gru_width)
        if self.arch == "smax":
            # FC(h) on Concat(o_i, id_i, a^P), written as an own half and a bias-free parent half.
            self.own_in = IdDense(h)
            self.parent_in = ParentIn(n, a, h)
            self.mid = _dense(h)
            self.out = _dense(a, 0.01)
        elif self.arch == "cg":
            self.base = Base(h)
            self.out = _dense(a, 0.01)
            self.parent_in = ParentIn(n, a, a, 0.01)
        elif self.arch == "aloha":
            self.base = Base(h)
            self.parent_base = Base(h)
            self.out = _dense(a, 0.01)
        else:
            raise ValueError(f"unknown actor arch {self.arch!r}; valid: {ACTOR_ARCHS}")

    def encode(self, obs, agent_id):
        """The GRU's gate inputs [..., 3H] from (o_i, id_i) (recurrent only; any number of steps at once)."""
        return self.gru.inputs(nn.relu(self.embed(self.features(obs), agent_id)))

    def features(self, obs):
        """o_i as the actor reads it: the ConvTorso's features of a grid, else the observation vector itself."""
        return self.conv(obs) if self.torso == "cnn" else obs

    def gru_step(self, carry, gates):
        """The GRU's next state [..., H] from its state `carry` [..., H] and the step's `encode`."""
        return self.gru.step(carry, gates)

    def step_memory(self, carry, obs, agent_id):
        return self.gru_step(carry, self.encode(obs, agent_id))

    def replay(self, carry, gates, done):
        """The GRU states of a whole sequence (`GRU.sequence`): carry [*B, H], gates [T, *B, 3H], done [T, *B']."""
        return self.gru.sequence(carry, gates, done)

    def parent_free(self, obs, agent_id):
        return self.parent_free_from(self.features(obs), agent_id)

    def parent_free_from(self, x, agent_id=None):
        """The parent-free part from the actor's input: (o_i, id_i) (x = o_i's features, agent_id = id_i), or the GRU
        state h_i when recurrent (x = h_i, no id)."""
        if self.arch == "smax":
            return self.own_in(x, agent_id)  # pre-activation of the first layer
        if self.arch == "cg":
            return self.out(self.base(x, agent_id))  # the own logits
        return self.base(x, agent_id)  # aloha: own encoding

    def head(self, own, parents=None, actions=None, obs_all=None):
        if self.arch == "smax":
            h = own if parents is None else own + self.parent_in(parents, actions)
            return self.out(nn.relu(self.mid(nn.relu(h))))
        if self.arch == "cg":
            return own if parents is None else own + self.parent_in(parents, actions)
        n, a = self.num_agents, self.num_actions
        lead = own.shape[:-1]
        if parents is None:
            pa = jnp.zeros(lead + (n * a,))
            po = jnp.zeros(lead + (n * obs_all.shape[-1],))
        else:
            w = parents[..., :, None]
            pa = (w * jax.nn.one_hot(actions, a)).reshape(lead + (n * a,))
            po = (w * obs_all).reshape(lead + (-1,))
        return self.out(jnp.concatenate([own, self.parent_base(jnp.concatenate([po, pa], -1))], -1))

    def __call__(self, obs, agent_id, parents=None, actions=None, obs_all=None, carry=None):
        if self.gru_width:
            return self.head(self.parent_free_from(self.step_memory(carry, obs, agent_id)), parents, actions, obs_all)
        return self.head(self.parent_free(obs, agent_id), parents, actions, obs_all)


class Critic(nn.Module):
    """V(world_state): [..., S] -> [...] (in value-normalised units)."""

    hidden: int = 64
    torso: str = "mlp"  # cnn: the world state is a grid [..., H, W, C]

    @nn.compact
    def __call__(self, world_state):
        if self.torso == "cnn":
            world_state = ConvTorso(self.hidden, name="conv")(world_state)
        return _dense(1, 1.0)(Base(self.hidden)(world_state))[..., 0]


class RecurrentCritic(nn.Module):
    """The critic behind a GRU of width H: step_memory(carry [..., H], world_state [..., S]) -> the next state [..., H]
    (= gru_step(carry, encode(world_state)), as the actor's); __call__(state [..., H]) -> V [...] (value-normalised)."""

    hidden: int = 64
    gru_width: int = 64
    torso: str = "mlp"

    def setup(self):
        if self.torso == "cnn":
            self.conv = ConvTorso(self.hidden)
        self.embed = _dense(self.gru_width)
        self.gru = GRU(self.gru_width)
        self.base = Base(self.hidden)
        self.out = _dense(1, 1.0)

    def encode(self, world_state):
        if self.torso == "cnn":
            world_state = self.conv(world_state)
        return self.gru.inputs(nn.relu(self.embed(world_state)))

    def gru_step(self, carry, gates):
        return self.gru.step(carry, gates)

    def step_memory(self, carry, world_state):
        return self.gru_step(carry, self.encode(world_state))

    def replay(self, carry, gates, done):
        return self.gru.sequence(carry, gates, done)

    def __call__(self, state):
        return self.out(self.base(state))[..., 0]

    def initialize(self, carry, world_state):
        return self(self.step_memory(carry, world_state))


class EdgeNet(nn.Module):
    """Joint observation [..., N, D] -> edge logits [..., N, N, 2] (class 1 = edge j -> i present)."""

    num_agents: int
    hidden: int = 64
    deepset: bool = False
    torso: str = "mlp"  # cnn: joint_obs [..., N, H, W, C], each agent's grid read by one shared ConvTorso
    # Each edge's probability at initialisation: the output layer's weights start near 0 and its bias is logit(prior)
    # on the edge class (0 on the other), so a Gumbel-argmax edge is present with probability sigmoid(bias) = prior.
    prior: float = 0.5

    def _out(self, features):
        bias = np.zeros((features // 2, 2), np.float32)
        bias[:, 1] = np.log(self.prior) - np.log1p(-self.prior)
        return nn.Dense(features, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=lambda *_: jnp.asarray(bias.reshape(-1)))

    @nn.compact
    def __call__(self, joint_obs):
        n = self.num_agents
        if self.torso == "cnn":
            joint_obs = ConvTorso(self.hidden, name="conv")(joint_obs)
        if self.deepset:  # Table 2's DeepSet for CG: per-agent encoder, mean over agents, decoder.
            enc = nn.Sequential([_dense(self.hidden), nn.relu, _dense(self.hidden), nn.relu, _dense(self.hidden)])
            z = enc(joint_obs).mean(-2)
            out = nn.Sequential([_dense(self.hidden), nn.relu, _dense(self.hidden), nn.relu, self._out(2 * n * n)])(z)
        else:
            x = joint_obs.reshape(joint_obs.shape[:-2] + (-1,))
            out = self._out(2 * n * n)(nn.relu(_dense(self.hidden)(x)))
        return out.reshape(out.shape[:-1] + (n, n, 2))


class PermNet(nn.Module):
    """Joint observation [..., N, D] -> permutation logits [..., N (position), N (agent)]."""

    num_agents: int
    hidden: int = 64
    torso: str = "mlp"  # cnn: joint_obs [..., N, H, W, C]

    @nn.compact
    def __call__(self, joint_obs):
        n = self.num_agents
        if self.torso == "cnn":
            joint_obs = ConvTorso(self.hidden, name="conv")(joint_obs)
        x = joint_obs.reshape(joint_obs.shape[:-2] + (-1,))
        out = _dense(n * n, 0.01)(nn.relu(_dense(self.hidden)(x)))
        return out.reshape(out.shape[:-1] + (n, n))
