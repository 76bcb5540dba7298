"""The observation torso: what turns one observation into the feature vector the networks read.

`mlp`: the observation as it is (a vector [D]; a grid is flattened to [H*W*C]): the networks' own first dense
layer is the torso (paper Table 2). `cnn`: a small convolutional torso for grid observations [H, W, C], as JaxMARL's
CNN baselines use on Overcooked: Conv(32, 3x3)-ReLU-Conv(32, 3x3)-ReLU-flatten-FC(hidden)-ReLU, 'SAME' padding,
orthogonal init. Each network (actor, critic, edge net, permutation net) owns its torso, so gradient clipping per
network keeps its meaning.
"""
from __future__ import annotations

import math
from typing import Literal, Sequence, get_args

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

TorsoKind = Literal["auto", "mlp", "cnn"]
TORSO_KINDS: tuple[str, ...] = get_args(TorsoKind)


def torso_for(kind: str, obs_shape: Sequence[int]) -> str:
    """The torso a network uses for observations of `obs_shape` (one agent's): 'auto' picks 'cnn' for grids (rank 3)
    and 'mlp' for vectors. Raises ValueError for a cnn on observations that are not [H, W, C] grids."""
    if kind not in TORSO_KINDS:
        raise ValueError(f"torso={kind!r} is not valid. Valid choices: {', '.join(TORSO_KINDS)}")
    if kind == "auto":
        return "cnn" if len(obs_shape) == 3 else "mlp"
    if kind == "cnn" and len(obs_shape) != 3:
        raise ValueError(f"torso='cnn' needs grid observations [H, W, C]; this env's are {tuple(obs_shape)} "
                         f"(use torso 'mlp')")
    return kind


def flat_size(shape: Sequence[int]) -> int:
    return int(math.prod(shape))


class ConvTorso(nn.Module):
    """[..., H, W, C] -> [..., hidden]."""

    hidden: int = 64
    channels: int = 32

    @nn.compact
    def __call__(self, x):
        init = nn.initializers.orthogonal(np.sqrt(2.0))
        for _ in range(2):
            x = nn.relu(nn.Conv(self.channels, (3, 3), padding="SAME", kernel_init=init,
                                bias_init=nn.initializers.zeros)(x))
        x = x.reshape(x.shape[:-3] + (-1,))
        return nn.relu(nn.Dense(self.hidden, kernel_init=init, bias_init=nn.initializers.zeros)(x))


def flatten_obs(x, obs_rank: int):
    """[..., *obs_shape] -> [..., prod(obs_shape)] (the mlp torso of a grid)."""
    return x.reshape(x.shape[: x.ndim - obs_rank] + (-1,)) if obs_rank > 1 else x


def features_dim(kind: str, obs_shape: Sequence[int], hidden: int) -> int:
    """The size of the torso's output for one observation of `obs_shape`."""
    return hidden if kind == "cnn" else flat_size(obs_shape)


__all__ = ["TorsoKind", "TORSO_KINDS", "torso_for", "ConvTorso", "flatten_obs", "features_dim", "flat_size"]
