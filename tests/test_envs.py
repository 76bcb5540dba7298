"""The env contract for every registered env, plus exact checks of the Coordination Game and Aloha."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax import ArrayEnv
from envs_jax.aloha import Aloha, aloha_adjacency
from envs_jax.coordination_game import CoordinationGame
from envs_jax.families.jumanji import jumanji_names
from envs_jax.families.matrax import matrax_names

# Every registered env except the large SMAX maps (compile time); smax_3m and smax_6h_vs_8z included.
_SKIP = {"smax_25m", "smax_27m_vs_30m", "smax_smacv2_20_units", "smax_3s5z_vs_3s6z", "smax_10m_vs_11m",
         "smax_smacv2_10_units", "smax_smacv2_5_units", "smax_3s5z", "smax_8m", "smax_5m_vs_6m", "smax_3s_vs_5z"}
# Jumanji's and matrax's names have their own contract test (tests/test_families_jumanji.py: shapes by eval_shape for
# every name, whole episodes beside the raw env for one task of each env).
_OWN_TESTS = set(jumanji_names() + matrax_names())
# MPE's and Overcooked's likewise (tests/test_families_jaxmarl.py: whole episodes beside jaxmarl's own step)
_OWN_TESTS |= set(envs_jax.registry.jaxmarl_names())
CONTRACT_ENVS = [n for n in envs_jax.names() if n not in _SKIP and n not in _OWN_TESTS]


def _rollout(env: ArrayEnv, key, num_envs=2, steps=None):
    return _rollout_fn(env, num_envs, steps or env.max_steps + 3)(jax.random.split(key, num_envs))


_CACHE = {}


def _rollout_fn(env: ArrayEnv, num_envs, steps):
    """One compiled rollout per (env, shape): jit(vmap(scan(step))) with random available actions.

    Returns, with axes [E, T]: the TimeStep before each step, the actions, the TimeStep after it, the
    EnvState before it and the key the step was given."""
    if (id(env), num_envs, steps) in _CACHE:
        return _CACHE[id(env), num_envs, steps]

    def one(key):
        key, rk = jax.random.split(key)
        state, ts = env.reset(rk)

        def body(carry, _):
            key, state, ts = carry
            key, ak, sk = jax.random.split(key, 3)
            logits = jnp.where(ts.avail, 0.0, -jnp.inf)
            act = jax.random.categorical(ak, logits).astype(jnp.int32)
            state2, ts2 = env.step(sk, state, act)
            return (key, state2, ts2), (ts, act, ts2, state, sk)

        _, out = jax.lax.scan(body, (key, state, ts), None, steps)
        return out

    fn = _CACHE[id(env), num_envs, steps] = jax.jit(jax.vmap(one))
    return fn


@pytest.mark.parametrize("name", CONTRACT_ENVS)
def test_env_contract(name):
    kwargs = {"max_steps": 20} if name.startswith("smax_") else {}
    env = ArrayEnv(envs_jax.make(name, **kwargs))
    N, D, S, A = env.num_agents, env.obs_dim, env.state_dim, env.num_actions
    before, act, ts, pre_state, step_key = _rollout(env, jax.random.PRNGKey(0))
    E, T = 2, env.max_steps + 3
    assert ts.obs.shape == (E, T, N, D) and ts.obs.dtype == jnp.float32
    assert ts.world_state.shape == (E, T, S) and ts.world_state.dtype == jnp.float32
    assert ts.final_world_state.shape == (E, T, S)
    assert ts.avail.shape == (E, T, N, A) and ts.avail.dtype == jnp.bool_
    assert ts.visible.shape == (E, T, N, N)
    assert ts.reward.shape == (E, T) and ts.reward.dtype == jnp.float32
    for f in (ts.done, ts.terminated, ts.truncated, ts.won):
        assert f.shape == (E, T) and f.dtype == jnp.bool_
    # Sampled actions were available; every agent always has at least one available action.
    assert np.all(np.take_along_axis(np.asarray(before.avail), np.asarray(act)[..., None], -1))
    assert np.all(np.asarray(ts.avail).any(-1))
    # Auto-reset: T > max_steps so every env finished at least one episode; done = terminated xor truncated.
    done = np.asarray(ts.done)
    assert done.any(1).all()
    assert np.array_equal(done, np.asarray(ts.terminated) | np.asarray(ts.truncated))
    assert not np.any(np.asarray(ts.terminated) & np.asarray(ts.truncated))
    lengths = np.asarray(ts.episode_length)[done]
    assert lengths.min() >= 1 and lengths.max() <= env.max_steps
    # Where a step ended an episode at the time limit the length equals max_steps.
    assert np.all(np.asarray(ts.episode_length)[np.asarray(ts.truncated)] == env.max_steps)
    # Episode return = sum of the episode's rewards (first env, first episode).
    t_end = int(np.argmax(done[0]))
    np.testing.assert_allclose(ts.episode_return[0, t_end], np.asarray(ts.reward[0, : t_end + 1]).sum(), rtol=1e-5)
    # After a done the next obs comes from a reset: its step counter restarted, i.e. the following
    # episode lasts its own length again (checked through episode_length increments).
    lens = np.asarray(ts.episode_length[0])
    assert lens[t_end + 1] == 1 if t_end + 1 < T else True
    # Same key -> same trajectory; another key -> another one.
    ts_again = _rollout(env, jax.random.PRNGKey(0))[2]
    np.testing.assert_array_equal(ts.obs, ts_again.obs)
    np.testing.assert_array_equal(ts.reward, ts_again.reward)
    ts_other = _rollout(env, jax.random.PRNGKey(1))[2]
    assert not np.array_equal(ts.obs, ts_other.obs)
    _check_final_world_state(env, act, ts, pre_state, step_key)


def _check_final_world_state(env: ArrayEnv, act, ts, pre_state, step_key):
    """final_world_state is the world state the step reached before the auto-reset, world_state the one
    after it. Reference: the jaxmarl env itself, from the state before each step with that step's key and
    actions: `step_env` (no reset; its key is the first half of the step key, as in MultiAgentEnv.step)
    for the former, jaxmarl's own auto-resetting `MultiAgentEnv.step` for the latter."""

    def reference(env_state, key, actions):
        actions = {a: actions[i] for i, a in enumerate(env.agents)}
        step_env_key, _ = jax.random.split(key)
        obs_reached, _, _, _, _ = env.env.step_env(step_env_key, env_state, actions)
        obs_next, _, _, _, _ = env.env.step(key, env_state, actions)
        return obs_reached["world_state"], obs_next["world_state"]

    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # [E, T, ...] -> [E * T, ...]
    reached, after = jax.jit(jax.vmap(reference))(
        jax.tree.map(flat, pre_state.env_state), flat(step_key), flat(act))
    shape = ts.final_world_state.shape
    reached, after = np.asarray(reached).reshape(shape), np.asarray(after).reshape(shape)
    done = np.asarray(ts.done)
    np.testing.assert_allclose(ts.final_world_state, reached, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ts.world_state, after, rtol=1e-6, atol=1e-6)
    # Without an end the two coincide; at an end the reset moved the world state (at least once here, so
    # a final_world_state taken after the reset would fail the first check).
    final, after_reset = np.asarray(ts.final_world_state), np.asarray(ts.world_state)
    np.testing.assert_array_equal(final[~done], after_reset[~done])
    assert np.any(np.abs(final[done] - after_reset[done]) > 1e-3)


def test_smax_reports_wins_and_truncations():
    """Scripted smax_3m episodes whose outcome is known in advance. Enemies do not shoot, so allies die only
    by walking into a wall (walls_cause_death). ATTACK (each ally fires at the lowest-index enemy in range,
    else walks east towards them) must win; STOP (everybody stands still) must run into the time limit;
    WEST (walk into the west wall) must lose. SMAX's time-limited episode lasts max_steps + 1 env steps."""
    env = ArrayEnv(envs_jax.make("smax_3m", max_steps=25, enemy_shoots=False))
    assert env.has_win and env.max_steps == 26
    attack_, stop_, west_ = 0, 1, 2
    north, east, south, west, stop = range(5)  # SMAX's movement actions; attacks on enemy k are 5 + k

    def episode(key, policy):
        key, rk = jax.random.split(key)
        state, ts = env.reset(rk)

        def body(carry, _):
            key, state, ts = carry
            key, sk = jax.random.split(key)
            shoot = ts.avail[:, 5:]
            focus = jnp.where(shoot.any(-1), 5 + jnp.argmax(shoot, -1), east)
            act = jnp.select([policy == attack_, policy == stop_], [focus, jnp.full_like(focus, stop)],
                             jnp.full_like(focus, west))
            state, ts = env.step(sk, state, act.astype(jnp.int32))
            return (key, state, ts), ts

        return jax.lax.scan(body, (key, state, ts), None, env.max_steps + 1)[1]

    ts = jax.jit(jax.vmap(episode, (None, 0)))(jax.random.PRNGKey(3), jnp.arange(3))
    done, term, trunc, won = (np.asarray(f) for f in (ts.done, ts.terminated, ts.truncated, ts.won))
    length = np.asarray(ts.episode_length)
    # Every flag is set only at the step that ends an episode.
    for f in (term, trunc, won):
        assert not np.any(f & ~done)
    ends = [int(np.argmax(d)) for d in done]  # the first episode's last step, per policy
    assert all(d.any() for d in done)
    # ATTACK: a win before the time limit.
    t = ends[attack_]
    assert t + 1 < env.max_steps and length[attack_, t] == t + 1
    assert won[attack_, t] and term[attack_, t] and not trunc[attack_, t]
    assert float(ts.reward[attack_, t]) >= 1.0  # SMAX's win bonus
    # STOP: nobody dies; the episode is cut exactly at its (max_steps + 1)-th step.
    assert ends[stop_] == env.max_steps - 1 and length[stop_, -1] == 1  # the next step starts a new episode
    assert trunc[stop_, -2] and not term[stop_, -2] and not won[stop_, -2]
    assert length[stop_, -2] == env.max_steps
    # WEST: all allies dead, the game ended but was lost.
    t = ends[west_]
    assert t + 1 < env.max_steps and term[west_, t] and not won[west_, t] and not trunc[west_, t]


# ---------------------------------------------------------------- Coordination Game
def _alg1(s, bound):
    zeros, ones = s.count(0), s.count(1)
    if abs(zeros - ones) <= bound:
        return 1.0 if zeros < ones else 0.0
    return 3.0 if zeros > ones else 2.0


@pytest.mark.parametrize("n", [2, 3, 5])
def test_cg_exact_tables_match_enumeration(n):
    eps, bound = 0.1, {2: 1, 3: 1, 5: 2}[n]
    P, R = CoordinationGame(n).exact_tables()
    S = 2**n
    assert P.shape == (S, S, S) and R.shape == (S,)
    for s in range(S):
        bits = [(s >> i) & 1 for i in range(n)]
        assert R[s] == _alg1(bits, bound)
    for s, a, s2 in itertools.product(range(S), range(S), range(S)):
        p = 1.0
        for i in range(n):
            ai, si = (a >> i) & 1, (s2 >> i) & 1
            p_zero = 1 - eps if ai == 0 else eps
            p *= p_zero if si == 0 else 1 - p_zero
        assert abs(P[s, a, s2] - p) < 1e-6


def test_cg_rewards_hand_picked():
    # N = 2 (bound 1): 00 -> 3, 11 -> 2, 01 -> 0.
    assert CoordinationGame(2).reward_table().tolist() == [3.0, 0.0, 0.0, 2.0]
    r3 = CoordinationGame(3).reward_table()
    assert r3[0b000] == 3 and r3[0b111] == 2 and r3[0b001] == 0 and r3[0b011] == 1
    r5 = CoordinationGame(5).reward_table()  # bound 2
    assert r5[0b00000] == 3 and r5[0b11111] == 2 and r5[0b00011] == 0 and r5[0b00111] == 1 and r5[0b00001] == 3


def test_cg_step_frequencies_match_P():
    env = CoordinationGame(2)
    P, R = env.exact_tables()
    _, state = env.reset(jax.random.PRNGKey(0))
    n_samples = 20000
    for a_idx in range(4):
        acts = {f"agent_{i}": jnp.int32((a_idx >> i) & 1) for i in range(2)}
        keys = jax.random.split(jax.random.PRNGKey(a_idx), n_samples)
        _, st, rew, _, _ = jax.vmap(lambda k: env.step_env(k, state, acts))(keys)
        s_idx = np.asarray(st.s[:, 0] + 2 * st.s[:, 1])
        freq = np.bincount(s_idx, minlength=4) / n_samples
        s0 = int(state.s[0] + 2 * state.s[1])
        sd = np.sqrt(P[s0, a_idx] * (1 - P[s0, a_idx]) / n_samples)
        assert np.all(np.abs(freq - P[s0, a_idx]) <= 5 * sd + 1e-9), (a_idx, freq, P[s0, a_idx])
        assert np.allclose(rew["agent_0"], R[s0])  # r_t = R(s_t)


def test_cg_difference_bound_follows_algorithm_1():
    # Algorithm 1 (App. B.1): 1 for N in {2, 3}, else 2 (written out, not read from the code's table).
    expected = {2: 1, 3: 1, 4: 2, 5: 2, 7: 2, 10: 2}
    assert {n: CoordinationGame(n).difference_bound for n in expected} == expected
    assert envs_jax.make("cg_10").difference_bound == 2
    assert CoordinationGame(4, difference_bound=3).difference_bound == 3


def test_cg_bad_input():
    with pytest.raises(ValueError, match="N <= 5"):
        CoordinationGame(10).exact_tables()
    assert CoordinationGame(10).local_transition().shape == (2, 2)


# ---------------------------------------------------------------- Aloha
def _aloha_python_step(backlog, actions, arrivals):
    """Independent plain-Python Aloha step (CASEC semantics) with given arrivals."""
    n = len(backlog)
    nbrs = {i: set() for i in range(n)}
    for i in range(n - 1):
        nbrs[i].add(i + 1), nbrs[i + 1].add(i)
    for i in range(n - 5):
        nbrs[i].add(i + 5), nbrs[i + 5].add(i)
    reward, new = 0.0, list(backlog)
    for i in range(n):
        if actions[i] == 1 and backlog[i] > 0:
            if any(actions[j] == 1 for j in nbrs[i]):
                reward -= 10.0
            else:
                reward += 0.1
                new[i] -= 1
    new = [min(b + x, 5) for b, x in zip(new, arrivals)]
    return new, reward


def _aloha_step(env, backlog, actions, key):
    from envs_jax.aloha import AlohaState

    st = AlohaState(backlog=jnp.asarray(backlog, jnp.int32), step=jnp.int32(0), done=jnp.bool_(False))
    acts = {a: jnp.int32(actions[i]) for i, a in enumerate(env.agents)}
    _, st2, rew, _, _ = env.step_env(key, st, acts)
    arrivals = jax.random.bernoulli(key, env.arrival_prob, (10,)).astype(int)  # same draw as the env
    return np.asarray(st2.backlog).tolist(), float(rew[env.agents[0]]), np.asarray(arrivals).tolist()


def test_aloha_neighbours():
    adj = aloha_adjacency()
    assert adj[4, 5] and adj[0, 5] and adj[4, 9] and adj[3, 4] and not adj[0, 2] and not adj[0, 6]
    assert adj.sum() == 2 * (9 + 5)


@pytest.mark.parametrize(
    "backlog,actions,expected_reward",
    [
        ([1] * 10, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0.1),  # lone success
        ([1, 0] + [1] * 8, [1, 1] + [0] * 8, -10.0),  # neighbour 1 has an empty backlog but still collides
        ([1] * 10, [0, 0, 0, 0, 1, 1, 0, 0, 0, 0], -20.0),  # 4-5 are neighbours: both collide
        ([1] * 10, [1, 0, 0, 0, 0, 1, 0, 0, 0, 0], -20.0),  # vertical link 0-5
        ([1] * 10, [1, 0, 1, 0, 1, 0, 0, 0, 0, 0], 0.3),  # 0, 2, 4 are not neighbours
        ([0] * 10, [1] + [0] * 9, 0.0),  # empty backlog transmits nothing
    ],
)
def test_aloha_scenarios(backlog, actions, expected_reward):
    env = Aloha()
    new, rew, arrivals = _aloha_step(env, backlog, actions, jax.random.PRNGKey(0))
    ref_new, ref_rew = _aloha_python_step(backlog, actions, arrivals)
    assert abs(rew - expected_reward) < 1e-5 and abs(ref_rew - expected_reward) < 1e-5
    assert new == ref_new


def test_aloha_cap_at_five():
    env = Aloha()
    for seed in range(5):
        new, _, arrivals = _aloha_step(env, [5] * 10, [0] * 10, jax.random.PRNGKey(seed))
        assert new == [5] * 10
    assert sum(arrivals) > 0  # the cap, not a lack of arrivals, kept them at 5


def test_aloha_random_vs_python():
    env = Aloha()
    rng = np.random.default_rng(0)
    for t in range(200):
        backlog = rng.integers(0, 6, 10).tolist()
        actions = rng.integers(0, 2, 10).tolist()
        new, rew, arrivals = _aloha_step(env, backlog, actions, jax.random.PRNGKey(t))
        ref_new, ref_rew = _aloha_python_step(backlog, actions, arrivals)
        assert new == ref_new and abs(rew - ref_rew) < 1e-4


def test_aloha_arrival_rate():
    env = Aloha()
    news = [_aloha_step(env, [0] * 10, [0] * 10, jax.random.PRNGKey(k))[0] for k in range(100)]
    assert abs(np.mean(news) - 0.6) < 0.05


# ---------------------------------------------------------------- bad input
def test_unknown_env_name_lists_choices():
    with pytest.raises(ValueError) as e:
        envs_jax.make("cg_4")
    msg = str(e.value)
    assert "cg_4" in msg and "cg_2" in msg and "aloha_10" in msg and "smax_3m" in msg
    with pytest.raises(ValueError, match="Did you mean 'smax_6h_vs_8z'"):
        envs_jax.make("smax_6h_vs_8")


def test_bad_action_shape_and_dtype():
    env = ArrayEnv(envs_jax.make("cg_3"))
    state, _ = env.reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        jax.jit(env.step)(jax.random.PRNGKey(0), state, jnp.zeros((2,), jnp.int32))
    with pytest.raises(TypeError, match="integers"):
        jax.jit(env.step)(jax.random.PRNGKey(0), state, jnp.zeros((3,), jnp.float32))


def test_debug_mode_checks_action_values():
    from jax.experimental import checkify

    env = ArrayEnv(envs_jax.make("cg_3"), debug=True)
    state, _ = env.reset(jax.random.PRNGKey(0))
    step = jax.jit(checkify.checkify(env.step))
    err, _ = step(jax.random.PRNGKey(0), state, jnp.array([0, 1, 7], jnp.int32))
    with pytest.raises(checkify.JaxRuntimeError, match="out of range"):
        err.throw()
    err, _ = step(jax.random.PRNGKey(0), state, jnp.array([0, 1, 1], jnp.int32))
    err.throw()  # no error


def test_long_choice_lists_collapse_numbered_series():
    from envs_jax.choices import check_choice, collapse
    names = ["m_P-0-s", "m_P-25-s", "x_1a_vs_2b", "m_C-0-s", "m_C-1-s", "m_C-2-s", "m_C-4-s", "m_C-5-s", "m_C-6-s",
             "m_C-7-s", "cg_10", "m_P-50-s", "plain", "m_C-3-f", "m_P-75-s", "m_P-100-s", "cg_2"]
    assert collapse(names) == ["m_P-{0,25,50,75,100}-s", "x_1a_vs_2b", "m_C-{0..2,4..7}-s", "cg_10", "cg_2", "plain",
                               "m_C-3-f"]
    with pytest.raises(ValueError, match=r"Did you mean 'mpe_simple_spread'\? Valid choices \(\d+; .*"
                                         r"matrax_Conflict-\{0\.\.56\}-stateless,") as e:
        envs_jax.make("mpe_simple_sprd")
    assert "matrax_Conflict-1-stateless" not in str(e.value) and len(str(e.value)) < 3000
    with pytest.raises(ValueError, match=r"^k='d' is not valid\. Valid choices: a1, a2, a3$"):  # short: as they are
        check_choice("k", "d", ["a1", "a2", "a3"])
