"""Jumanji's LBF, RWARE, Connector, Cleaner and matrax's matrix games through `ArrayEnv`, against independent
computations: each adapted env stepped beside the raw env (its own API, the same keys and actions, the auto-reset
done by hand), with the team reward, ends, observations, world states and masks recomputed here in numpy from the
raw TimeSteps and states; the matrix games' payoffs against the published matrices."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax import ArrayEnv
from envs_jax.families import JumanjiFamily, MatraxFamily, adapt
from envs_jax.families.jumanji import TASKS, jumanji_names
from envs_jax.families.matrax import matrax_names
from jumanji.wrappers import Wrapper  # after envs_jax: importing jumanji starts JAX's backend (XLA_FLAGS first)

LAST = 2  # jumanji.types.StepType.LAST


# ---- the two envs side by side ----
def _side_by_side(env: ArrayEnv, raw, num_envs: int, steps: int, seed: int = 0,
                  unavailable_logit: float = -2.0):
    """jit(vmap(scan)): ArrayEnv and the raw Jumanji env stepped with the same actions and keys.

    Actions are sampled mostly from the available ones (unavailable ones keep the logit `unavailable_logit` against
    0, so that Cleaner's invalid-move end and the envs' own no-op rules are exercised). The raw env is reset by
    hand with the key split ArrayEnv uses: key, key_reset = split(step_key). Returns (reset TimeStep of each,
    per-step outputs [E, T, ...]: actions, ArrayEnv's TimeStep, the raw state before the step, the raw state and
    TimeStep after it (before any reset), and the raw reset TimeStep)."""

    def one(key):
        key, rk = jax.random.split(key)
        state, ts = env.reset(rk)
        raw_state, raw_ts0 = raw.reset(rk)

        def body(carry, _):
            key, state, ts, raw_state = carry
            key, ak, sk = jax.random.split(key, 3)
            act = jax.random.categorical(ak, jnp.where(ts.avail, 0.0, unavailable_logit)).astype(jnp.int32)
            state2, ts2 = env.step(sk, state, act)
            _, key_reset = jax.random.split(sk)
            raw_new, raw_ts = raw.step(raw_state, act)
            reset_state, reset_ts = raw.reset(key_reset)
            last = raw_ts.step_type == LAST
            raw_next = jax.tree.map(lambda a, b: jnp.where(last, a, b), reset_state, raw_new)
            return (key, state2, ts2, raw_next), (act, ts2, raw_state, raw_new, raw_ts, reset_ts)

        _, out = jax.lax.scan(body, (key, state, ts, raw_state), None, steps)
        return (ts, raw_ts0), out

    keys = jax.random.split(jax.random.PRNGKey(seed), num_envs)
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(one))(keys))


def _select(done, a, b):
    """a where done else b, done [E, T] broadcast over the trailing axes."""
    return np.where(done.reshape(done.shape + (1,) * (a.ndim - done.ndim)), a, b)


def _check_common(env, first, out, team_reward, terminated, obs_of, state_of, won=None, visible=None):
    """The checks every family shares. team_reward, terminated, won: [E, T] by hand; obs_of(raw_ts) and
    state_of(raw_ts) compute the observation [E, T, N, ...] and world state [E, T, ...] by hand."""
    (ts0, raw_ts0), (act, ts, raw_before, raw_new, raw_ts, reset_ts) = first, out
    # The reset.
    np.testing.assert_array_equal(ts0.obs, obs_of(raw_ts0))
    np.testing.assert_array_equal(ts0.world_state, state_of(raw_ts0))
    # done, and the team reward by the family's rule.
    done = raw_ts.step_type == LAST
    np.testing.assert_array_equal(ts.done, done)
    np.testing.assert_allclose(ts.reward, team_reward, rtol=1e-6, atol=1e-6)
    # Terminated vs truncated, and the time limit.
    np.testing.assert_array_equal(ts.terminated, done & terminated)
    np.testing.assert_array_equal(ts.truncated, done & ~terminated)
    np.testing.assert_array_equal(np.asarray(raw_ts.observation.step_count)[ts.truncated], env.max_steps)
    # Episode return and length, accumulated here.
    E, T = done.shape
    ret, length = np.zeros(E), np.zeros(E, int)
    for t in range(T):
        ret, length = ret + team_reward[:, t], length + 1
        np.testing.assert_allclose(ts.episode_return[:, t], ret, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(ts.episode_length[:, t], length)
        ret, length = np.where(done[:, t], 0.0, ret), np.where(done[:, t], 0, length)
    # Observation, world state, mask after the auto-reset; the world state before it.
    np.testing.assert_array_equal(ts.obs, _select(done, obs_of(reset_ts), obs_of(raw_ts)))
    np.testing.assert_array_equal(ts.world_state, _select(done, state_of(reset_ts), state_of(raw_ts)))
    np.testing.assert_array_equal(ts.final_world_state, state_of(raw_ts))
    if hasattr(raw_ts.observation, "action_mask"):
        mask = _select(done, reset_ts.observation.action_mask, raw_ts.observation.action_mask)
    else:  # matrax: every action
        mask = np.ones(ts.avail.shape, bool)
    np.testing.assert_array_equal(ts.avail, mask)
    np.testing.assert_array_equal(ts.won, done & won if won is not None else np.zeros_like(done))
    if visible is not None:
        np.testing.assert_array_equal(ts.visible, visible)
    return done


def _concat(view):
    """The agents' views [E, T, N, D] concatenated: [E, T, N * D]."""
    v = np.asarray(view, np.float32)
    return v.reshape(v.shape[:-2] + (-1,))


# ---- Level-Based Foraging ----
def test_lbf_beside_raw_jumanji():
    raw = envs_jax.make("lbf_2s-8x8-2p-2f-coop", grid_size=6, time_limit=9)
    assert raw.grid_size == 6 and raw.fov == 2 and raw.time_limit == 9  # kwargs reach the generator and env
    env = ArrayEnv(raw)
    first, out = _side_by_side(env, raw, num_envs=3, steps=30)
    _, (act, ts, before, new, raw_ts, reset_ts) = first, out
    terminated = new.food_items.eaten.all(-1)  # every food eaten
    done = _check_common(env, first, out, team_reward=raw_ts.reward.sum(-1), terminated=terminated,
                         obs_of=lambda t: np.asarray(t.observation.agents_view, np.float32),
                         state_of=lambda t: _concat(t.observation.agents_view))
    # Visibility (LBF's field of view): from the positions after the step, Chebyshev distance <= fov.
    p = new.agents.position  # [E, T, N, 2] (before the reset)
    vis = np.abs(p[..., :, None, :] - p[..., None, :, :]).max(-1) <= 2
    keep = ~done  # after a reset the visibility is the reset state's
    np.testing.assert_array_equal(ts.visible[keep], vis[keep])
    assert done.sum() >= 3 and ts.truncated.any()


# ---- Robot Warehouse ----
@pytest.mark.slow  # ~15 s of compile on 2 cores
def test_rware_beside_raw_jumanji():
    raw = envs_jax.make("rware_tiny-2ag", time_limit=12)
    env = ArrayEnv(raw)
    first, out = _side_by_side(env, raw, num_envs=3, steps=40)
    _, (act, ts, before, new, raw_ts, reset_ts) = first, out
    pos = np.stack([new.agents.position.x, new.agents.position.y], -1)  # [E, T, N, 2]
    collided = (pos[..., :, None, :] == pos[..., None, :, :]).all(-1).sum((-1, -2)) > pos.shape[-2]
    _check_common(env, first, out, team_reward=raw_ts.reward, terminated=collided,
                  obs_of=lambda t: np.asarray(t.observation.agents_view, np.float32),
                  state_of=lambda t: _concat(t.observation.agents_view))
    assert ts.truncated.any()


# ---- Connector ----
def _connector_view(grid, n):
    """Mava's encoding, from its perspective switch (Mava: agent i's values 1 + 3i.. become 1, 2, 3):
    [.., G, G] grid -> [.., N, G, G, 5]."""
    grid = np.asarray(grid)
    views = []
    for i in range(n):
        g = np.where(grid >= 1, (grid - 1 - 3 * i) % (3 * n) + 1, grid)
        pos = np.where(g % 3 == 2, np.ceil(g / 3), 0) / n
        tgt = np.where((g % 3 == 0) & (g != 0), np.ceil(g / 3), 0) / n
        views.append(np.stack([pos, tgt, g % 3 == 1, g == 2, g == 3], -1))
    return np.stack(views, -4).astype(np.float32)


@pytest.mark.slow  # ~12 s of compile on 2 cores
def test_connector_beside_raw_jumanji():
    raw = envs_jax.make("connector_con-5x5x3a")
    env = ArrayEnv(raw)
    first, out = _side_by_side(env, raw, num_envs=3, steps=40)
    _, (act, ts, before, new, raw_ts, reset_ts) = first, out
    mask = new.action_mask  # [E, T, N, 5]; an agent is done when connected or when it cannot move
    agents_done = new.agents.connected | ~mask[..., 1:].any(-1)
    done = _check_common(env, first, out, team_reward=raw_ts.reward.sum(-1), terminated=agents_done.all(-1),
                         obs_of=lambda t: _connector_view(t.observation.grid, 3),
                         state_of=lambda t: _connector_view(t.observation.grid, 3)[..., 0, :, :, :3],
                         won=new.agents.connected.all(-1))
    assert env.obs_shape == (5, 5, 5) and env.state_shape == (5, 5, 3)
    assert ts.terminated.any()


# ---- Cleaner ----
def _cleaner_view(grid, loc):
    """[.., R, C] grid and [.., N, 2] locations -> [.., N, R, C, 4]: dirty, wall, agents on the cell, own cell."""
    grid, loc = np.asarray(grid), np.asarray(loc)
    lead, (n, (R, C)) = loc.shape[:-2], (loc.shape[-2], grid.shape[-2:])
    out = np.zeros(lead + (n, R, C, 4), np.float32)
    for idx in np.ndindex(*lead):
        for i in range(n):
            out[idx + (i, ..., 0)] = grid[idx] == 0  # DIRTY
            out[idx + (i, ..., 1)] = grid[idx] == 2  # WALL
            for j in range(n):
                out[idx + (i, loc[idx + (j, 0)], loc[idx + (j, 1)], 2)] += 1
            out[idx + (i, loc[idx + (i, 0)], loc[idx + (i, 1)], 3)] = 1
    return out


def test_cleaner_beside_raw_jumanji():
    raw = envs_jax.make("cleaner_clean-5x5x5a", num_agents=3, time_limit=10)
    assert raw.num_agents == 3
    env = ArrayEnv(raw)
    first, out = _side_by_side(env, raw, num_envs=3, steps=30, unavailable_logit=-5.0)
    _, (act, ts, before, new, raw_ts, reset_ts) = first, out
    invalid = ~np.take_along_axis(before.action_mask, act[..., None], -1)[..., 0].all(-1)
    clean = ~(new.grid == 0).any((-1, -2))
    _check_common(env, first, out, team_reward=raw_ts.reward, terminated=invalid | clean,
                  obs_of=lambda t: _cleaner_view(t.observation.grid, t.observation.agents_locations),
                  state_of=lambda t: _cleaner_view(t.observation.grid,
                                                   t.observation.agents_locations)[..., 0, :, :, :3],
                  won=clean)
    assert ts.terminated.any() and ts.truncated.any()


# ---- matrix games ----
@pytest.mark.parametrize("name", ["matrax_Climbing-stateless", "matrax_Penalty-25-stateful"])
def test_matrax_beside_raw(name):
    raw = envs_jax.make(name, time_limit=5)
    env = ArrayEnv(raw)
    first, out = _side_by_side(env, raw, num_envs=2, steps=12)
    _, (act, ts, before, new, raw_ts, reset_ts) = first, out
    _check_common(env, first, out, team_reward=raw_ts.reward.mean(-1), terminated=np.zeros(act.shape[:2], bool),
                  obs_of=lambda t: np.asarray(t.observation.agent_obs, np.float32),
                  state_of=lambda t: _concat(t.observation.agent_obs))
    assert ts.truncated.sum() == 2 * 2


# Claus & Boutilier (1998), Table 3 (Climbing) and Table 4 (Penalty, k <= 0 in their notation: -k here), row =
# agent A's action, column = agent B's; common payoff.
CLIMBING = np.array([[11, -30, 0], [-30, 7, 6], [0, 0, 5]])


def _penalty(k):
    return np.array([[-k, 0, 10], [0, 2, 0], [10, 0, -k]])


def _pure_nash(payoff):
    """Joint actions (a, b) where neither agent gains by deviating alone (brute force over best responses)."""
    return {(a, b) for a, b in itertools.product(range(3), range(3))
            if payoff[a, b] >= payoff[:, b].max() and payoff[a, b] >= payoff[a, :].max()}


def _matrax_payoff(name):
    """The team reward ArrayEnv gives for each joint action (a0, a1): [3, 3] indexed by (agent 0, agent 1)."""
    env = ArrayEnv(envs_jax.make(name))
    state, _ = env.reset(jax.random.PRNGKey(0))
    joint = jnp.array(list(itertools.product(range(3), range(3))), jnp.int32)
    step = jax.vmap(lambda a: env.step(jax.random.PRNGKey(1), state, a)[1].reward)
    return np.asarray(step(joint)).reshape(3, 3)


def test_climbing_payoffs_optimum_and_nash():
    # The literature: the optimum is (0, 0) = 11; the pure Nash equilibria are (0, 0) and (1, 1) (7), the
    # one independent learners tend to reach.
    assert CLIMBING.max() == 11 and np.argwhere(CLIMBING == 11).tolist() == [[0, 0]]
    assert _pure_nash(CLIMBING) == {(0, 0), (1, 1)}
    for state in ("stateless", "stateful"):
        # matrax's row is agent 0's action and its matrix is the published one transposed: agent 0 plays the
        # published column player. Optimum and equilibria are the same joint actions (they lie on the diagonal).
        got = _matrax_payoff(f"matrax_Climbing-{state}")
        np.testing.assert_array_equal(got, CLIMBING.T)
        assert _pure_nash(got) == {(0, 0), (1, 1)}


@pytest.mark.parametrize("k", [0, 25, 50, 75, 100])
def test_penalty_payoffs_optimum_and_nash(k):
    # The literature: the optima are (0, 2) and (2, 0) = 10 (a miscoordination costs k); the pure Nash
    # equilibria are the two optima and the safe (1, 1) = 2.
    p = _penalty(k)
    assert p.max() == 10 and sorted(map(tuple, np.argwhere(p == 10))) == [(0, 2), (2, 0)]
    assert _pure_nash(p) == {(0, 2), (2, 0), (1, 1)}
    for state in ("stateless", "stateful"):
        np.testing.assert_array_equal(_matrax_payoff(f"matrax_Penalty-{k}-{state}"), p)  # symmetric


def test_matrax_observations():
    """Stateless: zeros; stateful: the previous joint action, seen by both agents (-1 after a reset)."""
    for state, want in (("stateless", [[0, 0], [0, 0]]), ("stateful", [[2, 1], [2, 1]])):
        env = ArrayEnv(envs_jax.make(f"matrax_Climbing-{state}"))
        s, ts = env.reset(jax.random.PRNGKey(0))
        np.testing.assert_array_equal(ts.obs, [[0, 0], [0, 0]] if state == "stateless" else [[-1, -1], [-1, -1]])
        _, ts = env.step(jax.random.PRNGKey(1), s, jnp.array([2, 1], jnp.int32))
        np.testing.assert_array_equal(ts.obs, want)


# ---- names, kwargs, contract ----
def test_task_parameters_are_mavas():
    """A few tasks' generator parameters and time limits as Mava's configs give them (the contract test below checks
    that every built env has its task's parameters)."""
    want = {
        "lbf_2s-8x8-2p-2f-coop": (dict(grid_size=8, fov=2, num_agents=2, num_food=2, force_coop=True), 100),
        "lbf_15x15-4p-3f": (dict(grid_size=15, fov=15, num_agents=4, num_food=3, force_coop=False), 100),
        "rware_small-4ag": (dict(shelf_rows=2, shelf_columns=3, num_agents=4, request_queue_size=4), 500),
        "connector_con-7x7x5a": (dict(grid_size=7, num_agents=5), 49),
        "cleaner_clean-10x10x10a": (dict(num_rows=10, num_cols=10, num_agents=10), 100),
    }
    for name, (gen, limit) in want.items():
        assert {k: TASKS[name].generator[k] for k in gen} == gen and TASKS[name].env == {"time_limit": limit}
    assert envs_jax.make("matrax_Penalty-50-stateful").time_limit == 25


def test_unknown_kwargs_are_refused():
    with pytest.raises(ValueError, match=r"unknown env kwarg 'grid_sise'.*grid_size.*time_limit"):
        envs_jax.make("lbf_8x8-2p-2f-coop", grid_sise=6)
    with pytest.raises(ValueError, match=r"unknown env kwarg 'rows'.*num_rows"):
        envs_jax.make("cleaner_clean-5x5x5a", rows=6)
    with pytest.raises(ValueError, match=r"unknown env kwarg 'payoff'.*time_limit"):
        envs_jax.make("matrax_Climbing-stateless", payoff=1)
    with pytest.raises(ValueError, match=r"lbf_8x8-2p-2f-coop: the env kwargs .* are not valid"):
        envs_jax.make("lbf_8x8-2p-2f-coop", grid_size=5)  # LBF's generator: no room for the food
    with pytest.raises(ValueError, match=r"grid_size='8' has type str; expected int"):
        envs_jax.make("lbf_8x8-2p-2f-coop", grid_size="8")
    with pytest.raises(ValueError, match=r"force_coop=1 has type int; expected bool"):
        envs_jax.make("lbf_8x8-2p-2f-coop", force_coop=1)
    with pytest.raises(ValueError, match=r"time_limit=2.5 has type float; expected int"):
        envs_jax.make("matrax_Penalty-0-stateless", time_limit=2.5)


def test_adapt_recognises_jumanji_envs():
    """adapt: matrax's MatrixGame -> MatraxFamily; a known Jumanji env -> its rules; any other Jumanji env (here LBF
    behind a plain jumanji Wrapper, so its class is not LBF's) -> the generic rules read from its TimeStep."""
    assert type(adapt(envs_jax.make("matrax_Climbing-stateless"))) is MatraxFamily
    lbf = envs_jax.make("lbf_2s-8x8-2p-2f-coop")
    assert adapt(lbf).family == "lbf" and adapt(lbf).has_visibility
    generic = adapt(Wrapper(lbf))
    assert type(generic) is JumanjiFamily and generic.family == "jumanji" and not generic.has_visibility
    assert generic.rules["team_reward"] == "sum" and generic.rules["truncation"] == "discount"
    assert generic.obs_shape == adapt(lbf).obs_shape and generic.max_steps == 100
    assert adapt(lbf, team_reward="mean").rules["team_reward"] == "mean"


FAMILY_NAMES = jumanji_names() + matrax_names()


def test_names_registered():
    names = set(envs_jax.names())
    for n in ("lbf_2s-8x8-2p-2f-coop", "lbf_8x8-2p-2f-coop", "lbf_15x15-4p-3f", "rware_tiny-2ag", "rware_tiny-4ag",
              "rware_small-4ag", "connector_con-5x5x3a", "cleaner_clean-10x10x10a", "matrax_Climbing-stateless",
              "matrax_Climbing-stateful", *(f"matrax_Penalty-{k}-{s}" for k in (0, 25, 50, 75, 100)
                                             for s in ("stateless", "stateful"))):
        assert n in names, n
    assert set(FAMILY_NAMES) <= names


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_contract_shapes(name):
    """The env contract by shapes and dtypes only (jax.eval_shape of reset and step: no compile)."""
    env = ArrayEnv(envs_jax.make(name))
    N, A = env.num_agents, env.num_actions

    def reset_and_step(key):
        state, ts = env.reset(key)
        return ts, env.step(key, state, jnp.zeros(N, jnp.int32))[1]

    for t in jax.eval_shape(reset_and_step, jax.random.PRNGKey(0)):
        assert t.obs.shape == (N, *env.obs_shape) and t.obs.dtype == jnp.float32
        assert t.world_state.shape == env.state_shape and t.world_state.dtype == jnp.float32
        assert t.final_world_state.shape == env.state_shape
        assert t.avail.shape == (N, A) and t.avail.dtype == jnp.bool_
        assert t.visible.shape == (N, N) and t.visible.dtype == jnp.bool_
        assert t.reward.shape == () and t.reward.dtype == jnp.float32
        for f in (t.done, t.terminated, t.truncated, t.won):
            assert f.shape == () and f.dtype == jnp.bool_
    assert env.max_steps == env.env.time_limit >= 1
    assert env.family.family == name.split("_")[0]
    if name in TASKS:  # the built env has its task's parameters
        generator = env.env.generator if hasattr(env.env, "generator") else env.env._generator
        assert {k: getattr(generator, k) for k in TASKS[name].generator} == TASKS[name].generator
        assert env.max_steps == TASKS[name].env["time_limit"]
