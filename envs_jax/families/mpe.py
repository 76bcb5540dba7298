"""The MPE family: JaxMARL's multi-particle envs (discrete actions) as `mpe_<scenario>`.

Built as JaxMARL builds them (`jaxmarl.make("MPE_simple_spread_v3", **kwargs)`, ...); kwargs go to the scenario's
constructor (e.g. `num_agents=4` for simple_spread; see `MPE_KWARGS`). The rules (`MpeFamily`), chosen so that our
numbers read like JaxMARL's MAPPO/IPPO MPE baselines (baselines/MAPPO/mappo_rnn_mpe.py, baselines/IPPO/ippo_ff_mpe.py):
  team_reward  'sum' of the agents' rewards. Both baselines log through `MPELogWrapper`, which multiplies every agent's
               reward by the number of agents before summing it into that agent's return, and report the mean over
               agents of those returns: mean_i(N * sum_t r_i) = sum_i sum_t r_i, the sum. (simple_spread's rewards
               differ per agent by the collision term, so 'shared' would be wrong there; speaker_listener's are equal,
               so its return is twice the common reward, as JaxMARL reports it.)
  world_state  'concat': the agents' observations concatenated (unpadded), as mappo_rnn_mpe.py's MPEWorldStateWrapper
               ([N * 18] for simple_spread, [3 + 11] for speaker_listener, [2 * 21] for simple_reference)
  avail        all actions of each agent's own space (MPE has no mask); speaker_listener's speaker has 3 actions and
               the listener 5: the speaker's actions 3, 4 are padded and masked. Its observations (3 vs 11) are
               padded with zeros to 11 (JaxMarlFamily pads the last axis; the actor appends the agent id).
  truncation   MPE reports no truncation and ends episodes only at its time limit: every end is a truncation
               (`ArrayEnv`'s time-limit rule). JaxMARL computes `done = state.step >= max_steps` before the counter
               moves, so an episode lasts max_steps + 1 = 26 env steps (as SMAX's); that is our `max_steps`.
  win, visibility  none.
  team geometry  the agents' positions (`state.p_pos`, agents first, then the landmarks), for the parent / ally
               distance analysis (Fig. 9); no health, and no agent ever dies.
Baseline hyperparameters (for the trainer's preset): MAPPO (mappo_homogenous_rnn_mpe.yaml) LR 2e-3, NUM_ENVS 16,
NUM_STEPS 128, TOTAL_TIMESTEPS 1e7, FC 128, GRU 128, UPDATE_EPOCHS 4, NUM_MINIBATCHES 4, GAMMA 0.99, GAE_LAMBDA 0.95,
CLIP_EPS 0.2, ENT_COEF 0.01, VF_COEF 0.5, MAX_GRAD_NORM 0.5, tanh, ANNEAL_LR; IPPO (ippo_ff_mpe.yaml) the same but
LR 2.5e-4, no GRU.
"""
from __future__ import annotations

import jax.numpy as jnp
import jaxmarl
from jaxmarl.environments.mpe import SimpleReferenceMPE, SimpleSpeakerListenerMPE, SimpleSpreadMPE
from jaxmarl.environments.mpe.simple import SimpleMPE

from .base import TeamGeometry
from .jaxmarl import JaxMarlFamily
from .kwargs import build

# our name -> jaxmarl's env id (the cooperative, discrete-action scenarios)
MPE_SCENARIOS: dict[str, str] = {
    "simple_spread": "MPE_simple_spread_v3",
    "simple_speaker_listener": "MPE_simple_speaker_listener_v4",
    "simple_reference": "MPE_simple_reference_v3",
}
_MPE_CLASSES = {"simple_spread": SimpleSpreadMPE, "simple_speaker_listener": SimpleSpeakerListenerMPE,
                "simple_reference": SimpleReferenceMPE}  # what jaxmarl.make builds for each id, for the kwargs check
# keys SimpleMPE reads from **kwargs (not in any signature), besides the scenario's and SimpleMPE's named arguments
MPE_KWARGS: tuple[str, ...] = ("rad", "moveable", "silent", "collide", "mass", "accel", "max_speed", "u_noise",
                               "c_noise", "damping", "contact_force", "contact_margin")
MPE_FIXED_KWARGS: tuple[str, ...] = ("action_type", "agents", "landmarks", "action_spaces", "observation_spaces",
                                     "colour", "dim_c", "dim_p")  # set by the scenario (discrete actions) or fixed


def make_mpe(scenario: str, /, **kwargs) -> SimpleMPE:
    """JaxMARL's MPE scenario (discrete actions), built by `jaxmarl.make`; kwargs checked by name and type first."""
    env_id = MPE_SCENARIOS[scenario]
    return build(lambda **kw: jaxmarl.make(env_id, **kw), kwargs, what=f"mpe_{scenario}",
                 signature_of=_MPE_CLASSES[scenario], extra_keys=MPE_KWARGS, fixed_keys=MPE_FIXED_KWARGS)


class MpeFamily(JaxMarlFamily):
    """An MPE env with the rules above (each can still be overridden, e.g. `adapt(env, team_reward='mean')`)."""

    def __init__(self, env: SimpleMPE, *, team_reward: str = "sum", world_state: str | None = "concat",
                 max_steps: int | None = None):
        super().__init__(env, family="mpe", team_reward=team_reward, world_state=world_state,
                         max_steps=env.max_steps + 1 if max_steps is None else max_steps)

    def team_geometry(self, state) -> TeamGeometry:
        """The agents' positions in an MPE state (world units; `p_pos` holds the agents first), every agent alive."""
        n = self.num_agents
        return TeamGeometry(positions=state.p_pos[:n].astype(jnp.float32), health=None, alive=jnp.ones((n,), bool))
