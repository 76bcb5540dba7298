"""The Overcooked family: JaxMARL's Overcooked (v1) as `overcooked_<layout>`.

Built as JaxMARL's IPPO baseline builds it: `jaxmarl.make("overcooked", layout=overcooked_layouts[layout], **kwargs)`
(kwargs: `random_reset`, `max_steps`; the layout is fixed by the name). The rules (`OvercookedFamily`):
  observations  grids [H, W, 26] per agent, kept as grids (obs_shape (H, W, 26); cramped_room 4x5, asymm_advantages
                5x9, coord_ring 5x5, forced_coord 5x5, counter_circuit 5x8), cast from uint8 to float32
  world_state   'concat': the two agents' grids stacked on channels, [H, W, 52]
  team_reward   'shared': both agents get the same sparse reward (20 per soup delivered, by either agent); it is
                what JaxMARL's LogWrapper reports per agent (and so their mean)
  shaped_reward the sum over agents of infos['shaped_reward'] (3 for an onion put in a pot, 3 for a plate picked up,
                5 for a soup picked up, each paid to the agent that did it). JaxMARL's IPPO trains agent i on
                r + anneal * s_i; the env's sparse reward is itself the sum of both agents' deliveries, r = d_0 + d_1,
                so r + anneal * (s_0 + s_1) = sum_i (d_i + anneal * s_i): every event keeps the weight against the
                delivery that IPPO gives it (a mean would halve the shaping against the delivery). The trainer adds
                it as `ArrayEnv.step(..., shaping=anneal)`, anneal going linearly from 1 to 0 over
                REW_SHAPING_HORIZON env steps; `episode_return` counts the sparse reward only (what JaxMARL reports).
  avail         all 6 actions (up, down, right, left, stay, interact); Overcooked has no mask
  truncation    Overcooked ends episodes only at its time limit (400 steps; the step counter moves before `done` is
                computed, so an episode is exactly max_steps env steps): every end is a truncation.
  win, visibility  none.
JaxMARL's IPPO Overcooked configs (the trainer's preset):
  ippo_cnn_overcooked.yaml: LR 5e-4, NUM_ENVS 64, NUM_STEPS 256, TOTAL_TIMESTEPS 5e6, UPDATE_EPOCHS 4,
    NUM_MINIBATCHES 16, GAMMA 0.99, GAE_LAMBDA 0.95, CLIP_EPS 0.2, ENT_COEF 0.01, VF_COEF 0.5, MAX_GRAD_NORM 0.5,
    relu, REW_SHAPING_HORIZON 2.5e6, ANNEAL_LR True, layout counter_circuit; CNN torso: conv 32 5x5, conv 32 3x3,
    conv 32 3x3, flatten, dense 64.
  ippo_ff_overcooked.yaml: LR 2.5e-4, NUM_ENVS 16, NUM_STEPS 128, TOTAL_TIMESTEPS 5e6, UPDATE_EPOCHS 4,
    NUM_MINIBATCHES 4, the same GAMMA/GAE_LAMBDA/CLIP_EPS/ENT_COEF/VF_COEF/MAX_GRAD_NORM, tanh,
    REW_SHAPING_HORIZON 2.5e6, layout coord_ring.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import jaxmarl
from jaxmarl.environments.overcooked import Overcooked, overcooked_layouts

from .base import TeamGeometry
from .jaxmarl import JaxMarlFamily
from .kwargs import build

OVERCOOKED_LAYOUTS: tuple[str, ...] = ("cramped_room", "asymm_advantages", "coord_ring", "forced_coord",
                                       "counter_circuit")


def make_overcooked(layout: str, /, **kwargs) -> Overcooked:
    """JaxMARL's Overcooked on `layout`; kwargs (random_reset, max_steps) checked by name and type first."""
    def ctor(**kw):
        with warnings.catch_warnings():  # v1's DeprecationWarning pointing to OvercookedV2 (v1 is what IPPO uses)
            warnings.simplefilter("ignore", DeprecationWarning)
            return jaxmarl.make("overcooked", layout=overcooked_layouts[layout], **kw)

    return build(ctor, kwargs, what=f"overcooked_{layout}", signature_of=Overcooked, fixed_keys=("layout",))


class OvercookedFamily(JaxMarlFamily):
    """Overcooked with the rules above: JaxMarlFamily's defaults plus the shaped reward."""

    has_shaped_reward = True

    def __init__(self, env: Overcooked, *, team_reward: str = "shared", world_state: str | None = "concat",
                 max_steps: int | None = None):
        super().__init__(env, family="overcooked", team_reward=team_reward, world_state=world_state,
                         max_steps=max_steps)

    @property
    def rules(self) -> dict:
        return dict(super().rules, shaped_reward="sum of infos['shaped_reward'], annealed by the trainer")

    def team_geometry(self, state) -> TeamGeometry:
        """The two cooks' cells in an Overcooked state (`agent_pos`, (x, y) grid cells), both always present: the
        evaluation's parent-distance analysis (Fig. 9) reads them."""
        n = self.num_agents
        return TeamGeometry(positions=state.agent_pos[:n].astype(jnp.float32), health=None,
                            alive=jnp.ones((n,), bool))

    def _shaped_reward(self, infos) -> jax.Array:
        return sum(jnp.asarray(infos["shaped_reward"][a], jnp.float32) for a in self.agents)
