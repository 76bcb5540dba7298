"""The StarCraft II bridge (envs_jax/sc2) against our fake game server, through pysc2's real client stack.

No test needs the game; `test_real_game` runs only where StarCraft II and the SMAC maps are installed.
The `smax` layout is checked against jaxmarl's own SMAX functions on random unit configurations.
"""
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("pysc2", reason="the StarCraft II bridge needs pysc2: pip install -e '.[sc2]'")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import envs_jax  # noqa: E402
from envs_jax import sc2  # noqa: E402
from envs_jax.sc2 import env as sc2_env  # noqa: E402
from envs_jax.sc2.fake_server import FakeLauncher, fake_map, write_fake_install  # noqa: E402
from envs_jax.sc2.layouts import (  # noqa: E402
    ABILITY_ATTACK,
    ABILITY_HEAL,
    ABILITY_MOVE,
    ABILITY_STOP,
    Command,
    SmaxLayout,
    SmaxParams,
    SmaxUnits,
    smax_avail,
    smax_obs,
    smax_visibility,
    smax_world_state,
)
from envs_jax.sc2.maps import SMAC_MAPS  # noqa: E402
from envs_jax.sc2.units import Geometry, Roster, UnitTable  # noqa: E402


# ----------------------------------------------------------------------------------------------- helpers
def _env(name="sc2_3m", layout="smax", **kw):
    launcher = FakeLauncher(**kw.pop("map_options", {}))
    return sc2.make(name, layout=layout, launcher=launcher, **kw), launcher


def _attack_or_advance(ts, layout):
    """First available attack, else move east (towards the enemy), else stop / no-op."""
    first_target, east, stop = (5, 1, 4) if layout == "smax" else (6, 4, 1)
    acts = []
    for av in ts.avail:
        targets = np.flatnonzero(av[first_target:])
        acts.append(first_target + targets[0] if len(targets) else east if av[east] else stop if av[stop] else 0)
    return np.array(acts)


def _hold(ts, layout):
    stop = 4 if layout == "smax" else 1
    return np.where(ts.avail[:, stop], stop, 0)


def _run_episode(env, state, ts, policy, layout, max_steps=400):
    steps = []
    for _ in range(max_steps):
        state, ts = env.step(None, state, policy(ts, layout))
        steps.append(ts)
        if ts.done:
            return state, steps
    raise AssertionError("episode did not end")


def _commands_of(pb_commands):
    out = []
    for c in pb_commands:
        pos = (c.target_world_space_pos.x, c.target_world_space_pos.y) if c.HasField("target_world_space_pos") else None
        out.append(Command(c.ability_id, c.unit_tags[0], c.target_unit_tag, pos))
    return out


# ----------------------------------------------------------------------------------------------- names
def test_names_and_make_without_a_game():
    names = sc2.sc2_names()
    assert {"sc2_6h_vs_8z", "sc2_MMM2", "sc2_3m"} <= set(names)
    env = sc2.make("sc2_6h_vs_8z")  # builds, starts nothing
    ref = envs_jax.ArrayEnv(envs_jax.make("smax_6h_vs_8z"))
    assert (env.num_agents, env.obs_dim, env.state_dim, env.num_actions) == (
        ref.num_agents, ref.obs_dim, ref.state_dim, ref.num_actions) == (6, 179, 14 * 12, 13)
    assert env.max_steps == 150 and env.has_win and env.agents == ref.agents
    smac = sc2.make("sc2_6h_vs_8z", layout="smac")
    assert (smac.obs_dim, smac.state_dim, smac.num_actions) == (78, 140, 14)  # SMAC's sizes on 6h_vs_8z
    mmm2 = sc2.make("sc2_MMM2", layout="smac")
    assert (mmm2.obs_dim, mmm2.state_dim, mmm2.num_actions, mmm2.max_steps) == (176, 322, 18, 180)
    assert sc2.make("sc2_MMM2").num_actions == envs_jax.ArrayEnv(envs_jax.make("smax_MMM2")).num_actions
    with pytest.raises(ValueError, match="Did you mean 'sc2_3m'"):
        sc2.make("sc2_3mm")
    with pytest.raises(ValueError, match="needs a SMAX scenario"):
        sc2.make("sc2_corridor")  # no SMAX scenario for it; layout="smac" works
    assert sc2.make("sc2_corridor", layout="smac").num_agents == 6


def test_import_and_build_without_pysc2():
    code = (
        "import sys; sys.modules['pysc2'] = None; sys.modules['s2clientprotocol'] = None\n"
        "from envs_jax import sc2\n"
        "env = sc2.make('sc2_3m')\n"
        "try:\n    env.reset()\nexcept ImportError as e:\n    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, SC2PATH="/nonexistent"))
    assert out.returncode == 0, out.stderr
    assert "ERR the StarCraft II bridge needs pysc2: pip install -e '.[sc2]'" in out.stdout


# ----------------------------------------------------------------------------------------------- smax layout = SMAX
def _random_smax_state(env, seed):
    """A SMAX state with random positions (units close enough to see and shoot each other), health, deaths,
    cooldowns (SMAX's go negative), last actions and medivac energy."""
    game = env._env
    _, st = env.reset(jax.random.PRNGKey(seed))
    s = st.state
    rng = np.random.default_rng(seed)
    n = game.num_agents
    types = np.asarray(s.unit_types).astype(int)
    enemy = (np.arange(n) >= game.num_allies)[:, None]
    pos = np.asarray(s.unit_positions) + rng.normal(0, 1, (n, 2)) * [4, 2] - enemy * [10, 0]  # armies overlap
    health = np.asarray(game.unit_type_health)[types] * rng.uniform(0.1, 1.0, n)
    health[rng.uniform(size=n) < 0.2] = 0.0
    health[rng.uniform(size=n) < 0.2] = np.asarray(game.unit_type_health)[types][0]  # some at full health
    health = np.minimum(health, np.asarray(game.unit_type_health)[types])
    moves = np.array([[0, 1], [1, 0], [0, -1], [-1, 0], [0, 0]], float)[rng.integers(0, 5, n)]
    attack = np.where(rng.uniform(size=n) < 0.5, rng.integers(5, game.num_ally_actions, n), 0)
    fields = dict(
        unit_positions=jnp.asarray(pos, jnp.float32), unit_health=jnp.asarray(health, jnp.float32),
        unit_alive=jnp.asarray(health > 0), unit_weapon_cooldowns=jnp.asarray(rng.uniform(-1, 2, n), jnp.float32),
        prev_movement_actions=jnp.asarray(moves, jnp.float32), prev_attack_actions=jnp.asarray(attack, jnp.int32),
    )
    if hasattr(s, "unit_energy"):
        energy = np.where(types == 6, rng.choice([0.0, 3.0, 120.0], n), 0.0)
        fields["unit_energy"] = jnp.asarray(energy, jnp.float32)
    return st.replace(state=s.replace(**fields))


def _smax_reference(env, st):
    game, s = env._env, st.state
    obs = game.get_obs(s)
    avail = game.get_avail_actions(s)
    return (np.stack([np.asarray(obs[a]) for a in env.agents]), np.asarray(game.get_world_state(s)),
            np.stack([np.asarray(avail[a]) for a in env.agents]).astype(bool), np.asarray(env.ally_visibility(st)))


@pytest.mark.parametrize("smax_map", ["3m", "6h_vs_8z", "MMM2"])
def test_smax_functions_equal_jaxmarl_smax(smax_map):
    env = envs_jax.make(f"smax_{smax_map}")
    p = SmaxParams.from_env(env)
    for seed in range(6):
        st = _random_smax_state(env, seed)
        s = st.state
        types = np.asarray(s.unit_types).astype(int)
        u = SmaxUnits(
            pos=np.asarray(s.unit_positions, float), health=np.asarray(s.unit_health, float) / p.health[types],
            types=types, alive=np.asarray(s.unit_alive), cooldown=np.asarray(s.unit_weapon_cooldowns, float),
            prev_move=np.asarray(s.prev_movement_actions, float), prev_attack=np.asarray(s.prev_attack_actions),
            energy=np.asarray(getattr(s, "unit_energy", np.zeros(len(types))), float),
        )
        obs, ws, avail, vis = _smax_reference(env, st)
        np.testing.assert_allclose(smax_obs(u, p), obs, atol=1e-6)
        np.testing.assert_allclose(smax_world_state(u, p), ws, atol=1e-5)
        np.testing.assert_array_equal(smax_avail(u, p), avail)
        np.testing.assert_array_equal(smax_visibility(u, p), vis)
        assert avail[:, 5:].any() and (obs != 0).any()  # the states exercise targets and visibility


@pytest.mark.parametrize("smax_map", ["6h_vs_8z", "MMM2"])
def test_smax_layout_from_unit_table_equals_smax_get_obs(smax_map):
    """SC2 units (a translated frame, protoss shields, cooldowns in game loops, the learner's last actions)
    through SmaxLayout give SMAX's get_obs of the same configuration. SC2 does not report the bot's
    cooldowns and last actions: the SMAX state has them at 0 and the layout's inference is off."""
    env = envs_jax.make(f"smax_{smax_map}")
    game = env._env
    layout = SmaxLayout(SMAC_MAPS[smax_map], infer_enemy_actions=False)
    p, na = layout.params, layout.num_agents
    origin = np.array([5.0, 3.0])
    for seed in range(4):
        st = _random_smax_state(env, seed)
        s = st.state
        n = game.num_agents
        rng = np.random.default_rng(100 + seed)
        types = np.asarray(s.unit_types).astype(int)
        kinds = tuple(p.type_names[t] for t in types)
        actions = np.array([rng.choice(np.flatnonzero(a)) for a in _smax_reference(env, st)[2]])
        move, attack = game._decode_discrete_actions(jnp.asarray(np.concatenate([actions, np.zeros(n - na, int)])))
        cooldown = np.where(np.arange(n) < na, np.maximum(np.asarray(s.unit_weapon_cooldowns), 0), 0.0)
        s = s.replace(unit_weapon_cooldowns=jnp.asarray(cooldown, jnp.float32),
                      prev_movement_actions=move.at[na:].set(0.0), prev_attack_actions=attack.at[na:].set(0))
        st = st.replace(state=s)
        full = np.asarray(game.unit_type_health)[types]
        health = np.asarray(s.unit_health, float)
        shield_max = np.where(np.isin(kinds, ["zealot", "stalker"]), full / 3, 0.0)  # part of SMAX's health
        shield = np.minimum(health, shield_max)
        alive = np.asarray(s.unit_alive)
        table = UnitTable(alive=alive, pos=np.asarray(s.unit_positions, float) + origin, health=health - shield,
                          health_max=full - shield_max, shield=shield, shield_max=shield_max,
                          energy=np.asarray(getattr(s, "unit_energy", np.zeros(n)), float),
                          cooldown=cooldown * 22.4)
        roster = Roster(np.arange(1, n + 1, dtype=np.uint64), kinds, na)
        layout.start(roster, table, Geometry((40, 40), tuple(origin), tuple(origin + 32), np.ones((40, 40), bool)))
        layout.record(actions, table, table)
        ob = layout.observe(table)
        obs, ws, avail, vis = _smax_reference(env, st)
        np.testing.assert_allclose(ob.obs, obs, atol=1e-5)
        np.testing.assert_allclose(ob.world_state, ws, atol=1e-4)
        np.testing.assert_array_equal(ob.avail, avail)
        np.testing.assert_array_equal(ob.visible, vis)


def test_enemy_last_actions_are_inferred():
    layout = SmaxLayout(SMAC_MAPS["3m"])
    n = 6
    pos = np.array([[10, 16], [10, 17], [10, 18], [14, 16], [20, 16], [20, 18]], float)
    z = np.zeros(n)
    before = UnitTable(np.ones(n, bool), pos.copy(), z + 45, z + 45, z, z, z, z)
    after = before.copy()
    after.pos[4] += [1.0, 0.2]  # enemy 1 walked east
    roster = Roster(np.arange(1, n + 1, dtype=np.uint64), ("marine",) * n, 3)
    layout.start(roster, before, Geometry((32, 32), (0.0, 0.0), (32.0, 32.0), np.ones((32, 32), bool)))
    layout.record(np.array([4, 4, 4]), before, after)
    u = layout.units(after)
    np.testing.assert_array_equal(u.prev_move[4], [1.0, 0.0])
    assert u.prev_attack[4] == 0
    # enemy 0 stood still with ally 0 (distance 4) in its range 5: SMAX's enemy attack slot of ally 0 is
    # num_allies - 1 - 0 = 2, action 7
    assert u.prev_attack[3] == 7 and not u.prev_move[3].any()
    assert u.prev_attack[5] == 0  # nobody in range
    obs = layout.observe(after).obs
    f = 7 + 6  # features per unit on 3m
    enemy0 = obs[0, 2 * f : 3 * f]  # ally 0 sees its 2 allies, then enemy 0
    assert enemy0[5] == pytest.approx(7 / 7)  # last attack / (num_enemy_actions - 1)


# ----------------------------------------------------------------------------------------------- games
def test_reset_step_interface_and_protocol():
    env, launcher = _env("sc2_6h_vs_8z")
    with env:
        state, ts = env.reset(jax.random.PRNGKey(3))
        server = launcher.servers[-1]
        setup = server.setup
        assert setup["difficulty"] == 7 and setup["raw"] and not setup["realtime"]  # VeryHard, raw interface
        assert setup["computer_race"] == 3 and setup["race"] == 2  # bot Protoss, learner Zerg
        assert setup["map_path"] == "SMAC_Maps/6h_vs_8z.SC2Map" and setup["random_seed"] is not None
        assert ts.obs.shape == (6, 179) and ts.obs.dtype == np.float32
        assert ts.world_state.shape == (168,) and ts.avail.shape == (6, 13) and ts.avail.dtype == bool
        assert ts.visible.shape == (6, 6) and ts.visible.all()  # spawned together, in sight
        assert not ts.done and ts.reward == 0 and ts.episode_length == 0
        assert [int(k == "hydralisk") for k in env.roster.kinds] == [1] * 6 + [0] * 8
        loop0, requests0 = server.game.game_loop, dict(server.requests)
        state, ts = env.step(None, state, np.full(6, 1))  # all east
        assert server.game.game_loop - loop0 == 8  # SMAC: 8 game loops per env step
        delta = {k: n - requests0.get(k, 0) for k, n in server.requests.items() if n != requests0.get(k, 0)}
        assert delta == {"action": 1, "step": 1, "observation": 1}
        assert state.episode_length == 1 and ts.episode_length == 1
        assert np.all(env.units.pos[:6, 0] > 10)  # they moved east
        with pytest.raises(ValueError, match="stale state"):
            env.step(None, state._replace(step_id=state.step_id - 1), np.full(6, 4))
        with pytest.raises(ValueError, match="shape"):
            env.step(None, state, np.zeros(5, int))
        with pytest.raises(ValueError, match="unavailable actions"):
            env.step(None, state, np.full(6, 12))  # attack the last zealot: far out of range


@pytest.mark.parametrize("layout", ["smax", "smac"])
def test_win_deaths_and_smac_reward_scaling(layout):
    """Passive bot, strong learner: enemies die one by one, then the episode is won. A won episode that
    kills everything returns exactly SMAC's maximum, 20 (reward "smac") or SMAX's 2 (reward "smax")."""
    env, launcher = _env("sc2_3m", layout, map_options=dict(enemy_ai="passive", ally_damage=4.0))
    for reward, full in (("smac", 20.0), ("smax", 2.0)):
        env.reward_kind = reward
        state, ts = env.reset()
        first_target = 5 if layout == "smax" else 6
        seen_death = False
        for _ in range(60):
            state, ts = env.step(None, state, _attack_or_advance(ts, layout))
            alive = env.units.alive
            if not ts.done and not alive[3]:  # enemy 0 dead: no one can target it, no one sees it
                seen_death = True
                assert not ts.avail[:, first_target].any()
                assert ts.reward > 0
                if layout == "smax":
                    f = 13
                    assert not ts.obs[:, 2 * f : 3 * f].any()  # enemy 0's features are zeros for every ally
            if ts.done:
                break
        assert seen_death and ts.done and ts.terminated and not ts.truncated and ts.won
        assert ts.episode_return == pytest.approx(full, rel=1e-5)
        assert state.episode_return == 0 and state.episode_length == 0  # auto-reset
        assert env.units.alive.all() and (env.units.health == env.units.health_max).all()  # respawned
        assert not np.array_equal(ts.final_world_state, ts.world_state)
    env.close()


@pytest.mark.parametrize("layout", ["smax", "smac"])
def test_loss_and_dead_agents(layout):
    env, _ = _env("sc2_3m", layout, map_options=dict(enemy_ai="attack", enemy_damage=3.0))
    with env:
        state, ts = env.reset()
        saw_dead_agent = False
        east = 1 if layout == "smax" else 4
        for _ in range(100):
            acts = _hold(ts, layout)
            acts[0] = east if ts.avail[0, east] else acts[0]  # ally 0 runs ahead and dies first
            state, ts = env.step(None, state, acts)
            if ts.done:
                break
            dead = ~env.units.alive[:3]
            if dead.any():
                saw_dead_agent = True
                only = np.zeros(env.num_actions, bool)
                only[4 if layout == "smax" else 0] = True  # SMAX: stop; SMAC: no-op
                assert (ts.avail[dead] == only).all()
                assert not ts.obs[dead][:, -1].any()  # a dead unit observes nothing of itself
                assert not ts.visible[dead][:, ~dead].any()
        assert saw_dead_agent and ts.done and ts.terminated and not ts.won
        assert ts.episode_return == 0.0  # no damage dealt


def test_episode_limit_truncates_and_restarts_units():
    env, launcher = _env("sc2_3m", map_options=dict(enemy_ai="passive"), episode_limit=5)
    with env:
        state, ts = env.reset()
        tags = env.roster.tags.copy()
        for t in range(5):
            state, ts = env.step(None, state, np.full(3, 1))  # walk east, never in range
            assert ts.done == (t == 4)
        assert ts.truncated and not ts.terminated and not ts.won and ts.episode_length == 5
        assert not np.intersect1d(tags, env.roster.tags).size  # every unit killed and respawned
        own_x = ts.obs[:, -10 + 1] * 32  # own position (SMAX: / map width)
        np.testing.assert_allclose(own_x, 10.0, atol=1e-5)  # back at the spawn
        assert ts.final_world_state[1] > 10.5  # ally 0's x before the reset


@pytest.mark.parametrize("name,layout", [("sc2_3m", "smax"), ("sc2_MMM2", "smax"), ("sc2_MMM2", "smac")])
def test_action_mapping_both_ways(name, layout):
    """Every available action -> raw commands -> the same action; the wire carries SMAX's/SMAC's meaning."""
    env, launcher = _env(name, layout, map_options=dict(enemy_ai="passive", gap=4.5))
    with env:
        state, ts = env.reset()
        table, lay = env.units, env.layout
        na, tags = env.num_agents, env.roster.tags
        medivac = [i for i in range(na) if env.roster.kinds[i] == "medivac"]
        assert ts.avail[:, 6 if layout == "smac" else 5 :].any()
        for i in range(na):
            for a in np.flatnonzero(ts.avail[i]):
                acts = np.array([a if j == i else (4 if layout == "smax" else 1) for j in range(na)])
                assert lay.actions_of(lay.commands(acts, table), table)[i] == a
        north, east, south, west, stop, first = (0, 1, 2, 3, 4, 5) if layout == "smax" else (2, 4, 3, 5, 1, 6)
        plan = [north, east, south, west, stop]
        offsets = {north: (0, 2), east: (2, 0), south: (0, -2), west: (-2, 0)}
        acts = np.array([plan[i % 5] for i in range(na)])
        cmds = {c.unit_tag: c for c in lay.commands(acts, table)}
        for i in range(na):
            if acts[i] == stop:
                assert cmds[tags[i]] == Command(ABILITY_STOP, int(tags[i]))
            else:
                assert cmds[tags[i]].ability == ABILITY_MOVE
                assert cmds[tags[i]].target_pos == pytest.approx(tuple(table.pos[i] + offsets[acts[i]]))
        if medivac:
            heal = first + (0 if layout == "smac" else 1)
            want = 0 if layout == "smac" else 1 + (1 >= medivac[0])  # SMAC: ally j; SMAX: the k-th *other* ally
            cmd = lay.commands(np.where(np.arange(na) == medivac[0], heal, stop), table)[medivac[0]]
            assert cmd == Command(ABILITY_HEAL, int(tags[medivac[0]]), int(tags[want]))
        shooter = int(np.flatnonzero(ts.avail[:, first:].any(1) & ~np.isin(np.arange(na), medivac))[0])
        k = int(np.flatnonzero(ts.avail[shooter, first:])[0])
        acts[shooter] = first + k
        assert lay.commands(acts, table)[shooter] == Command(ABILITY_ATTACK, int(tags[shooter]), int(tags[na + k]))
        # through the wire: what the server received reads back as the actions sent
        acts = np.where(ts.avail[np.arange(na), acts], acts, stop)
        env.step(None, state, acts)
        received = _commands_of(launcher.servers[-1].last_commands)
        np.testing.assert_array_equal(lay.actions_of(received, table), acts)


def test_smac_observation_by_hand():
    """A few SMAC features computed by hand on 3m at spawn (allies 1.2 apart on x = 10, enemies at x = 22)."""
    env, _ = _env("sc2_3m", "smac")
    with env:
        _, ts = env.reset()
        p = env.units.pos
        o = ts.obs[1]  # ally 1 (the middle one): move feats 4, enemies 3 x 5, allies 2 x 5, own 1
        np.testing.assert_array_equal(o[:4], [1, 1, 1, 1])
        assert not o[4:19].any()  # enemies 12 away: out of sight 9
        d = p[0] - p[1]
        np.testing.assert_allclose(o[19:24], [1, np.hypot(*d) / 9, d[0] / 9, d[1] / 9, 1.0], atol=1e-6)
        assert o[-1] == 1.0
        s = ts.world_state
        np.testing.assert_allclose(s[0:4], [1, 0, (p[0, 0] - 16) / 32, (p[0, 1] - 16) / 32], atol=1e-6)
        assert s.shape == (48,) and not s[-3 * 9 :].any()  # no last actions yet


def test_rewards_by_hand():
    """SMAC: |damage to health + shields (a unit that dies counts its remaining health) + 10 per kill|, +200 on a
    win, / (max_reward / 20); SMAX: lost health fractions / enemies, +1 on a win."""
    from envs_jax.sc2.layouts import max_smac_reward, smac_reward, smax_reward

    spec = SMAC_MAPS["3s_vs_3z"]  # 3 stalkers vs 3 zealots (100 health + 50 shields)
    n = 6
    z = np.zeros(n)
    full = np.array([80, 80, 80, 100, 100, 100.0]), np.array([80, 80, 80, 50, 50, 50.0])
    before = UnitTable(np.ones(n, bool), np.zeros((n, 2)), full[0].copy(), full[0], full[1].copy(), full[1], z, z)
    before.health[3:], before.shield[3:] = [100, 30, 100], [50, 0, 10]
    after = before.copy()
    after.health[3:], after.shield[3:] = [100, 0, 90], [20, 0, 0]  # zealot 1 dies, 0 and 2 lose shields/health
    after.alive[4] = False
    max_reward = max_smac_reward(spec, before, 3)
    assert max_reward == 3 * 10 + 200 + 3 * 150
    delta = 30 + 30 + 20 + 10  # shields of zealot 0, the dead one's 30 health, 10 + 10 of zealot 2, a kill
    assert smac_reward(before, after, 3, False, max_reward) == pytest.approx(delta / (max_reward / 20))
    assert smac_reward(before, after, 3, True, max_reward) == pytest.approx((delta + 200) / (max_reward / 20))
    assert smax_reward(before, after, 3, False) == pytest.approx((30 + 30 + 20) / 150 / 3)
    assert smax_reward(before, after, 3, True) == pytest.approx((30 + 30 + 20) / 150 / 3 + 1)
    regen = before.copy()
    regen.shield[3] += 5  # shields regenerating: SMAC takes |delta|, SMAX's lost health ignores it
    assert smac_reward(before, regen, 3, False, max_reward) == pytest.approx(5 / (max_reward / 20))
    assert smax_reward(before, regen, 3, False) == 0.0


def test_pathing_grid_read_as_smac_reads_it():
    from s2clientprotocol import raw_pb2

    start = raw_pb2.StartRaw()
    start.map_size.x, start.map_size.y = 16, 2
    grid = np.zeros((2, 16), np.uint8)  # rows of y, x's MSB first
    grid[0, 3] = grid[1, 9] = 1
    start.pathing_grid.bits_per_pixel, start.pathing_grid.data = 1, np.packbits(grid).tobytes()
    start.playable_area.p1.x, start.playable_area.p1.y = 16, 2
    geometry = sc2_env._geometry(start)
    assert geometry.pathing.shape == (16, 2)
    assert set(zip(*np.nonzero(geometry.pathing))) == {(3, 0), (9, 1)}


def test_server_dies_mid_episode_restart_and_raise():
    env, launcher = _env("sc2_3m", map_options=dict(enemy_ai="passive"))
    with env:
        state, ts = env.reset()
        state, ts = env.step(None, state, np.full(3, 1))
        state, ts = env.step(None, state, np.full(3, 1))
        launcher.servers[-1].crash()
        with pytest.warns(RuntimeWarning, match="launching a new game"):
            state, ts = env.step(None, state, np.full(3, 1))
        assert ts.done and ts.truncated and not ts.terminated and ts.episode_length == 3
        assert env.restarts == 1 and "died during step" in env.last_error and len(launcher.servers) == 2
        assert state.episode_length == 0 and env.units.alive.all()
        state, ts = env.step(None, state, np.full(3, 1))  # the new game plays on
        assert not ts.done and ts.episode_length == 1
    env, launcher = _env("sc2_3m", map_options=dict(enemy_ai="passive"), on_crash="raise")
    with env:
        state, ts = env.reset()
        launcher.servers[-1].crash()
        with pytest.raises(sc2.SC2GameCrashed, match="reset\\(\\) launches a new game"):
            env.step(None, state, np.full(3, 1))
        state, ts = env.reset()
        state, ts = env.step(None, state, np.full(3, 1))
        assert len(launcher.servers) == 2 and not ts.done


def test_crash_inside_the_game_during_a_step():
    """The fake game exits at game loop 20 (third step) without answering."""
    env, launcher = _env("sc2_3m", map_options=dict(enemy_ai="passive", crash_at_loop=20), max_restarts=1)
    with env, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        state, ts = env.reset()
        for _ in range(2):
            state, ts = env.step(None, state, np.full(3, 1))
            assert not ts.done
        state, ts = env.step(None, state, np.full(3, 1))
        assert ts.done and ts.truncated and env.restarts == 1


def test_game_that_ends_itself_is_restarted():
    env, launcher = _env("sc2_3m", map_options=dict(enemy_ai="passive", ally_damage=4.0, end_game_on_wipe=True))
    with env:
        state, ts = env.reset()
        state, steps = _run_episode(env, state, ts, _attack_or_advance, "smax")
        assert steps[-1].won and steps[-1].terminated
        assert launcher.servers[-1].requests.get("restart_game") == 1 and env.units.alive.all()
        state, ts = env.step(None, state, np.full(3, 1))
        assert not ts.done


def test_vec_env():
    launcher = FakeLauncher(enemy_ai="passive")
    env = sc2.make("sc2_3m", num_envs=2, launcher=launcher, episode_limit=3)
    with env:
        state, ts = env.reset(jax.random.PRNGKey(0))
        assert ts.obs.shape == (2, 3, 75) and ts.avail.shape == (2, 3, 8) and state.step_id.shape == (2,)
        seeds = {s.setup["random_seed"] for s in launcher.servers}
        assert len(seeds) == 2  # one seed per game
        for t in range(3):
            state, ts = env.step(None, state, np.ones((2, 3), int))
        assert ts.done.all() and ts.truncated.all() and (ts.episode_length == 3).all()


# ----------------------------------------------------------------------------------------------- bad input
def test_missing_game_and_map_errors(tmp_path):
    env = sc2.make("sc2_3m", sc2_path=tmp_path / "nowhere")
    with pytest.raises(sc2.SC2InstallError, match="StarCraft II not found at .*nowhere.*SC2PATH"):
        env.reset()
    (tmp_path / "game").mkdir()
    with pytest.raises(sc2.SC2InstallError, match="no game binary Versions/Base\\*/SC2_x64"):
        sc2.make("sc2_3m", sc2_path=tmp_path / "game").reset()
    root = write_fake_install(tmp_path / "fake", {"3m": fake_map("3m")})
    with pytest.raises(sc2.SC2InstallError) as err:
        sc2.make("sc2_MMM2", sc2_path=root).reset()
    msg = str(err.value)
    assert "SMAC_Maps/MMM2.SC2Map" in msg and "SMAC_Maps.zip" in msg and str(root / "Maps") in msg


def test_roster_mismatch():
    with pytest.raises(sc2.RosterError, match="needs allies 6 hydralisk vs enemies 8 zealot"):
        sc2.make("sc2_MMM2", policy_map="6h_vs_8z")  # a 6h_vs_8z policy on MMM2
    # a map file whose units are not SMAC's 3m: 3 marines vs 3 zealots
    bad = fake_map("3m", allies=[("marine", 3)], enemies=[("zealot", 3)], ally_kind_order=("marine",))
    env, _ = _env("sc2_3m", map_options={})
    env.launcher.maps["3m"] = bad
    with env, pytest.raises(sc2.RosterError, match="3 marine vs enemies 3 zealot"):
        env.reset()
    env, _ = _env("sc2_3m", "smac")
    env.launcher.maps["3m"] = fake_map("3m", allies=[("marine", 4)], enemies=[("marine", 3)],
                                       ally_kind_order=("marine",))
    with env, pytest.raises(sc2.RosterError, match="4 ally and 3 enemy units"):
        env.reset()


# ----------------------------------------------------------------------------------------------- launch path
def test_launch_path_through_fake_sc2path(tmp_path):
    """pysc2's run_configs find Versions/Base*/SC2_x64 under SC2PATH and start it as a process; killing that
    process mid-episode makes the env launch a new one."""
    root = write_fake_install(tmp_path, {"3m": fake_map("3m", enemy_ai="passive")})
    env = sc2.make("sc2_3m", sc2_path=root, timeout_s=20)
    with env, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        state, ts = env.reset()
        pid = env.game_pid
        assert pid is not None and ts.obs.shape == (3, 75)
        state, ts = env.step(None, state, np.full(3, 1))
        os.kill(pid, signal.SIGKILL)  # our own child: the fake game
        state, ts = env.step(None, state, np.full(3, 1))
        assert ts.done and ts.truncated and env.restarts == 1 and env.game_pid not in (None, pid)
        state, ts = env.step(None, state, np.full(3, 1))
        assert not ts.done
        new_pid = env.game_pid
    with pytest.raises(ProcessLookupError):  # close() ended the game process
        for _ in range(50):
            os.kill(new_pid, 0)
            time.sleep(0.1)


def _real_game():
    path = sc2_env.default_sc2_path()
    exe = list(path.glob("Versions/Base*/SC2_x64"))
    if not exe or exe[0].stat().st_size < 1_000_000:  # a fake install's SC2_x64 is a small script
        return None
    return path if (path / "Maps" / "SMAC_Maps" / "3m.SC2Map").is_file() else None


@pytest.mark.skipif(_real_game() is None, reason="needs StarCraft II and the SMAC maps ($SC2PATH, default "
                    "~/StarCraftII, with Maps/SMAC_Maps/3m.SC2Map); not installed here")
def test_real_game():
    with sc2.make("sc2_3m", layout="smax") as env:
        state, ts = env.reset(jax.random.PRNGKey(0))
        for _ in range(70):
            state, ts = env.step(None, state, _attack_or_advance(ts, "smax"))
            if ts.done:
                break
        assert ts.done
