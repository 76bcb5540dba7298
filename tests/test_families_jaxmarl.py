"""JaxMARL's MPE and Overcooked families, your own env by factory, and the env contract over every registered name.

Each adapter is stepped beside the raw env stepped through jaxmarl's own `env.step` (the same keys and random
actions, whole episodes with their auto-resets); what the adapter should give is computed here from the raw per-agent
values with numpy (the family's rule written out by hand), not read back from the adapter.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

import envs_jax
from envs_jax import ArrayEnv
from jaxmarl.environments.multi_agent_env import MultiAgentEnv
from jaxmarl.environments.spaces import Box, Discrete


def _side_by_side(name: str, num_steps: int, shaping: float = 0.0, seed: int = 0, script=None, **kwargs):
    """Run the adapted env and the raw env (its own step) for num_steps in one jitted scan; numpy outputs.
    Actions: uniform in each agent's own space, or the rows of `script` (int [num_steps, N]) where given."""
    raw = envs_jax.make(name, **kwargs)
    env = ArrayEnv(envs_jax.make(name, **kwargs))
    sizes = jnp.array([raw.action_spaces[a].n for a in raw.agents])

    def run(key):
        key, reset_key = jax.random.split(key)
        raw_obs, raw_state = raw.reset(reset_key)
        state, ts = env.reset(reset_key)

        def body(carry, scripted):
            key, raw_state, state = carry
            key, act_key, step_key = jax.random.split(key, 3)
            actions = jax.random.randint(act_key, (len(raw.agents),), 0, sizes)  # within each agent's own space
            actions = actions if scripted is None else scripted
            obs, raw_state, rewards, dones, infos = raw.step(
                step_key, raw_state, {a: actions[i] for i, a in enumerate(raw.agents)})
            obs_before_reset = raw.step_env(jax.random.split(step_key)[0], carry[1],
                                            {a: actions[i] for i, a in enumerate(raw.agents)})[0]
            state, ts = env.step(step_key, state, actions, shaping=shaping)
            out_raw = dict(obs=[obs[a] for a in raw.agents], obs_st=[obs_before_reset[a] for a in raw.agents],
                           rewards=jnp.stack([rewards[a] for a in raw.agents]), done=dones["__all__"],
                           shaped=jnp.stack([infos["shaped_reward"][a] for a in raw.agents])
                           if "shaped_reward" in infos else jnp.zeros(len(raw.agents)))
            return (key, raw_state, state), (out_raw, ts)

        xs = None if script is None else jnp.asarray(script, jnp.int32)
        _, (out_raw, ts) = jax.lax.scan(body, (key, raw_state, state), xs, num_steps)
        return [raw_obs[a] for a in raw.agents], out_raw, ts

    first_obs, out_raw, ts = jax.jit(run)(jax.random.PRNGKey(seed))
    to_np = lambda tree: jax.tree.map(np.asarray, tree)  # noqa: E731
    return raw, env, to_np(first_obs), to_np(out_raw), to_np(ts)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([x, np.zeros(x.shape[:-1] + (size - x.shape[-1],), x.dtype)], axis=-1)


def _check_episodes(raw, env, out_raw, ts, team: np.ndarray, episode_len: int, shaping_term: np.ndarray):
    """What every family here shares: the step's reward, the episode bookkeeping, time-limit ends, masks, obs."""
    T = len(team)
    # episodes end only at the time limit, every episode_len steps
    expected_done = (np.arange(1, T + 1) % episode_len) == 0
    np.testing.assert_array_equal(out_raw["done"], expected_done)
    np.testing.assert_array_equal(ts.done, expected_done)
    np.testing.assert_array_equal(ts.truncated, expected_done)
    assert not ts.terminated.any()
    np.testing.assert_allclose(ts.reward, team + shaping_term, rtol=1e-6, atol=1e-6)
    # episode return and length: a plain loop over the raw team reward
    ret, length = 0.0, 0
    for t in range(T):
        ret, length = ret + team[t], length + 1
        if expected_done[t]:
            assert ts.episode_return[t] == pytest.approx(ret, rel=1e-5, abs=1e-5)
            assert ts.episode_length[t] == length == episode_len
            ret, length = 0.0, 0
    assert expected_done.sum() >= 2, "the run must cover an auto-reset and a second whole episode"
    # avail: every action of the agent's own space, padded ones masked
    sizes = [raw.action_spaces[a].n for a in raw.agents]
    expected_avail = np.arange(env.num_actions)[None, :] < np.array(sizes)[:, None]
    np.testing.assert_array_equal(ts.avail, np.broadcast_to(expected_avail, ts.avail.shape))
    # observations (post-reset where done, as the raw step's), padded with zeros on their last axis
    width = max(o.shape[-1] for o in out_raw["obs"])
    # (to float32 rounding: the two computations sit in one jit, and XLA fuses each one its own way)
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ts.obs, np.stack([_pad(o.astype(np.float32), width) for o in out_raw["obs"]], 1),
                               **close)
    # world state: the agents' unpadded observations concatenated on the last axis; final_* is the pre-reset one
    concat = lambda obs: np.concatenate([o.astype(np.float32) for o in obs], axis=-1)  # noqa: E731
    np.testing.assert_allclose(ts.world_state, concat(out_raw["obs"]), **close)
    np.testing.assert_allclose(ts.final_world_state, concat(out_raw["obs_st"]), **close)
    assert env.state_shape == ts.world_state.shape[1:]


@pytest.mark.parametrize("name", ["mpe_simple_spread", "mpe_simple_speaker_listener", "mpe_simple_reference"])
def test_mpe_beside_jaxmarl(name):
    raw, env, first_obs, out_raw, ts = _side_by_side(name, 60)
    # JaxMARL's MPE baselines report mean_i(N * return_i) (MPELogWrapper) = the sum of the agents' rewards
    team = out_raw["rewards"].sum(axis=1)
    if name == "mpe_simple_spread":  # its rewards differ per agent (the collision term), so 'shared' would differ
        assert env.family.rules["team_reward"] == "sum"
    # done is computed before JaxMARL's step counter moves: an episode is max_steps + 1 = 26 env steps
    _check_episodes(raw, env, out_raw, ts, team, raw.max_steps + 1, shaping_term=0.0)
    assert env.max_steps == 26


def test_mpe_speaker_listener_padding():
    env = ArrayEnv(envs_jax.make("mpe_simple_speaker_listener"))
    assert env.agents == ["speaker_0", "listener_0"]
    assert env.obs_shape == (11,) and env.state_shape == (14,) and env.num_actions == 5
    _, ts = jax.jit(env.reset)(jax.random.PRNGKey(3))
    np.testing.assert_array_equal(ts.avail, [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert (np.asarray(ts.obs)[0, 3:] == 0).all()


def test_mpe_kwargs_reach_the_env():
    env = ArrayEnv(envs_jax.make("mpe_simple_spread", num_agents=4, num_landmarks=4, max_steps=10))
    assert env.num_agents == 4 and env.max_steps == 11
    assert env.obs_shape == (4 + 3 * 4 + 4 * 2,) and env.state_shape == (4 * 24,)


@pytest.mark.slow  # random play; the default run has the scripted test below
def test_overcooked_beside_jaxmarl():
    coef = 0.75
    raw, env, first_obs, out_raw, ts = _side_by_side("overcooked_cramped_room", 48, shaping=coef, max_steps=16)
    assert env.obs_shape == (4, 5, 26) and env.state_shape == (4, 5, 52) and env.num_actions == 6
    # the sparse reward is the same for both agents; JaxMARL's IPPO trains agent i on r + anneal * s_i, our team
    # reward is r + anneal * (s_0 + s_1)
    np.testing.assert_array_equal(out_raw["rewards"][:, 0], out_raw["rewards"][:, 1])
    team = out_raw["rewards"][:, 0]
    _check_episodes(raw, env, out_raw, ts, team, 16, shaping_term=coef * out_raw["shaped"].sum(axis=1))
    assert env.family.has_shaped_reward


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["cramped_room", "asymm_advantages", "coord_ring", "forced_coord",
                                    "counter_circuit"])
def test_overcooked_full_episodes_beside_jaxmarl(layout):
    """Whole 400-step episodes; random play rarely delivers, but shaping events happen."""
    raw, env, _, out_raw, ts = _side_by_side(f"overcooked_{layout}", 820, shaping=1.0, seed=1)
    _check_episodes(raw, env, out_raw, ts, out_raw["rewards"][:, 0], 400, shaping_term=out_raw["shaped"].sum(1))
    # (random play seldom earns shaping; test_overcooked_shaped_reward_scripted plays the events on purpose)


# cramped_room (4 x 5): pot at row 0 col 2, onion piles at row 1 cols 0 and 4, agent 0 starts at row 1 col 1.
# Actions: 0 up, 1 down, 2 right, 3 left, 4 stay, 5 interact. Agent 0 fetches an onion from the left pile
# (face left, interact), steps right under the pot, faces up and puts it in (interact): +3 to agent 0, three times.
_UP, _RIGHT, _LEFT, _STAY, _INTERACT = 0, 2, 3, 4, 5
_ONE_ONION = [_LEFT, _INTERACT, _RIGHT, _UP, _INTERACT, _LEFT]  # ends back at col 1, facing the pile


def test_overcooked_shaped_reward_scripted():
    script = [(a, _STAY) for a in _ONE_ONION * 3] + [(_STAY, _STAY)] * 6  # 24 steps, one 12-step episode + reset
    coef = 0.5
    raw, env, _, out_raw, ts = _side_by_side("overcooked_cramped_room", len(script), shaping=coef, script=script,
                                             max_steps=12)
    shaped = out_raw["shaped"]
    # by hand: the onions go in at steps 5 and 11 (1-based) of the first episode, each worth 3 to agent 0; the
    # episode ends at step 12, so the third trip (steps 13-18) starts over from the reset at the start position
    placed_at = np.flatnonzero(shaped[:, 0])
    np.testing.assert_array_equal(placed_at, [4, 10, 16])
    np.testing.assert_array_equal(shaped[placed_at, 0], [3.0, 3.0, 3.0])
    assert (shaped[:, 1] == 0).all()
    _check_episodes(raw, env, out_raw, ts, out_raw["rewards"][:, 0], 12, shaping_term=coef * shaped.sum(axis=1))
    np.testing.assert_allclose(ts.reward[placed_at], coef * 3.0)
    assert (ts.episode_return[ts.done] == 0).all(), "the return counts the sparse reward only"


@pytest.mark.slow
def test_overcooked_no_shaping_without_coef():
    """Evaluation leaves shaping at 0: the step's reward is the sparse reward only."""
    raw, env, _, out_raw, ts = _side_by_side("overcooked_forced_coord", 20, shaping=0.0, max_steps=10, seed=2)
    _check_episodes(raw, env, out_raw, ts, out_raw["rewards"][:, 0], 10, shaping_term=0.0)


# ---- your own env: a tiny MultiAgentEnv written here, gymnax-style, built by "module:factory" ----

@struct.dataclass
class MatchState:
    step: jax.Array  # int32 []
    last: jax.Array  # int32 [2] the agents' previous actions


class Match(MultiAgentEnv):
    """Two agents pick one of `num_actions` numbers; agent i earns 1 when both match, plus 0.25 * i (so the team
    reward rules differ). Each observes the other's previous pick (one-hot). Ends after `length` steps."""

    def __init__(self, num_actions: int = 3, length: int = 4):
        super().__init__(num_agents=2)
        self.agents = ["a", "b"]
        self.length = length
        self.max_steps = length
        self.action_spaces = {a: Discrete(num_actions) for a in self.agents}
        self.observation_spaces = {a: Box(0.0, 1.0, (num_actions,)) for a in self.agents}
        self.n = num_actions

    def _obs(self, last):
        return {"a": jax.nn.one_hot(last[1], self.n), "b": jax.nn.one_hot(last[0], self.n)}

    def reset(self, key):
        last = jax.random.randint(key, (2,), 0, self.n)
        return self._obs(last), MatchState(step=jnp.int32(0), last=last)

    def step_env(self, key, state, actions):
        act = jnp.stack([actions["a"], actions["b"]]).astype(jnp.int32)
        match = (act[0] == act[1]).astype(jnp.float32)
        step = state.step + 1
        done = step >= self.length
        state = MatchState(step=step, last=act)
        return self._obs(act), state, {"a": match, "b": match + 0.25}, {"a": done, "b": done, "__all__": done}, {}


def make_match(num_actions: int = 3, length: int = 4) -> Match:
    return Match(num_actions, length)


def not_an_env(size: int = 2):
    return {"size": size}


FACTORY = f"{__name__}:make_match"  # importable as the test module is (pytest puts tests/ on the path)


def test_factory_env_steps_by_its_rules():
    env = ArrayEnv(envs_jax.make(FACTORY, num_actions=4, length=3), team_reward="sum")
    assert env.family.rules["team_reward"] == "sum" and env.family.rules["world_state"] == "concat"
    assert env.num_actions == 4 and env.obs_shape == (4,) and env.state_shape == (8,) and env.max_steps == 3
    state, ts = env.reset(jax.random.PRNGKey(0))
    actions = [(0, 0), (1, 2), (3, 3), (2, 2)]
    key = jax.random.PRNGKey(1)
    step = jax.jit(env.step)
    got = []
    for a in actions:
        key, k = jax.random.split(key)
        state, ts = step(k, state, jnp.array(a, jnp.int32))
        got.append(ts)
    # by hand: sum of (match) + (match + 0.25)
    assert [float(t.reward) for t in got] == [2.25, 0.25, 2.25, 2.25]
    assert [bool(t.done) for t in got] == [False, False, True, False]
    assert bool(got[2].truncated) and not bool(got[2].terminated)
    assert float(got[2].episode_return) == pytest.approx(4.75) and int(got[2].episode_length) == 3
    np.testing.assert_array_equal(got[1].obs, [[0, 0, 1, 0], [0, 1, 0, 0]])  # a sees b's 2, b sees a's 1
    assert envs_jax.adapt(envs_jax.make(FACTORY), team_reward="mean").rules["team_reward"] == "mean"


@pytest.mark.parametrize("spec, kwargs, needle", [
    ("no_such_module_xyz:make", {}, "no_such_module_xyz"),
    (f"{__name__}:no_such_factory", {}, "no_such_factory"),
    (f"{__name__}:FACTORY", {}, "not a callable"),
    (f"{__name__}:not_an_env", {}, "builtins.dict"),
    (f"{__name__}:make_match:x", {}, "make_match:x"),
    (FACTORY, {"colour": 1}, "'colour'"),
    (FACTORY, {"num_actions": "3"}, "num_actions='3'"),
    (FACTORY, {"num_actions": 2.5}, "num_actions=2.5"),
    ("mpe_simple_spread", {"num_agent": 4}, "'num_agent'"),
    ("mpe_simple_spread", {"num_agents": True}, "num_agents=True"),
    ("mpe_simple_spread", {"action_type": "Continuous"}, "'action_type'"),
    ("mpe_simple_speaker_listener", {"num_agents": 3}, "num_agents"),
    ("overcooked_cramped_room", {"layout": "coord_ring"}, "'layout'"),
    ("overcooked_cramped_room", {"max_steps": "400"}, "max_steps='400'"),
])
def test_bad_factories_and_kwargs_are_one_value_error(spec, kwargs, needle):
    with pytest.raises(ValueError) as e:
        envs_jax.make(spec, **kwargs)
    assert needle in str(e.value)


@pytest.mark.parametrize("name", ["mpe_simple_spred", "overcooked_cramped", "mpe_simple_adversary", "overcooked"])
def test_unknown_names_are_refused_not_mapped(name):
    with pytest.raises(ValueError, match="is not valid.*Valid choices") as e:
        envs_jax.make(name)
    assert repr(name) in str(e.value)


def test_names_and_families():
    names = envs_jax.names()
    for n in ["mpe_simple_spread", "mpe_simple_speaker_listener", "mpe_simple_reference"] + [
            f"overcooked_{l}" for l in ["cramped_room", "asymm_advantages", "coord_ring", "forced_coord",
                                        "counter_circuit"]]:
        assert n in names
    fams = envs_jax.registry.families()
    for f in ["mpe", "overcooked", "factory"]:
        assert f in fams and ":" in fams[f]


# ---- the env contract over every registered name ----
# Cheap: declared shapes and dtypes by jax.eval_shape. MPE and Overcooked by default; every other name (cg, aloha,
# smax, Jumanji, matrax) in the slow set, as their own files already run a contract test with real rollouts
# (tests/test_envs.py, tests/test_families_jumanji.py) and building ~100 envs takes ~1 min on 2 cores.
_OURS = envs_jax.registry.jaxmarl_names()
_CONTRACT = [pytest.param(n, marks=() if n in _OURS else pytest.mark.slow) for n in envs_jax.names()]


def _family_name(name: str) -> str:
    return name.split("_")[0]


@pytest.mark.parametrize("name", _CONTRACT)
def test_env_contract(name):
    """Declared shapes and dtypes hold for reset and step (traced only: jax.eval_shape)."""
    env = ArrayEnv(envs_jax.make(name))
    N, A = env.num_agents, env.num_actions
    assert len(env.agents) == N and env.max_steps >= 1
    state, ts = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    state, ts2 = jax.eval_shape(env.step, jax.random.PRNGKey(0), state, jnp.zeros(N, jnp.int32))
    for t in (ts, ts2):
        assert t.obs.shape == (N, *env.obs_shape) and t.obs.dtype == jnp.float32
        assert t.world_state.shape == env.state_shape and t.world_state.dtype == jnp.float32
        assert t.final_world_state.shape == env.state_shape
        assert t.avail.shape == (N, A) and t.avail.dtype == jnp.bool_
        assert t.visible.shape == (N, N) and t.visible.dtype == jnp.bool_
        for f in ("reward", "episode_return"):
            assert getattr(t, f).shape == () and getattr(t, f).dtype == jnp.float32
        for f in ("done", "terminated", "truncated", "won"):
            assert getattr(t, f).shape == () and getattr(t, f).dtype == jnp.bool_
        assert t.episode_length.shape == () and t.episode_length.dtype == jnp.int32


# one real jitted step for the first name of each family (slow: MPE and Overcooked step above beside jaxmarl, the
# others in their own files)
_ONE_PER_FAMILY = list({_family_name(n): n for n in reversed(envs_jax.names())}.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", _ONE_PER_FAMILY)
def test_one_real_step_per_family(name):
    env = ArrayEnv(envs_jax.make(name))
    state, ts = jax.jit(env.reset)(jax.random.PRNGKey(0))
    act = jnp.argmax(ts.avail, axis=-1).astype(jnp.int32)  # the first available action of each agent
    assert bool(ts.avail.any(axis=-1).all()), "every agent has an available action after reset"
    state, ts = jax.jit(env.step)(jax.random.PRNGKey(1), state, act)
    assert np.isfinite(np.asarray(ts.obs)).all() and np.isfinite(float(ts.reward))
