"""The medivac extension of SMAX (issue 5): healing, masks, end rule, heuristic medivac, registration.

Hand-built states: units put at chosen positions and health, then one env step (0.5 s of game time =
8 world steps of 1/16 s), checked against numbers computed here from the stated figures.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxmarl.environments.smax.heuristic_enemy import get_heuristic_policy_initial_state
from jaxmarl.environments.smax.smax_env import SMAX

import envs_jax
from envs_jax.smax import SMAXEnv, smax_maps
from envs_jax.smax_medivac import (
    MARAUDER,
    MARINE,
    MEDIVAC,
    UNIT_TYPE_ATTACKS,
    UNIT_TYPE_NAMES,
    MedivacSMAX,
    MedivacSMAXEnv,
    make_scenario,
    medivac_maps,
)

STALKER = 2
DT, WORLD_STEPS = 1 / 16, 8  # SMAX: time_per_step, world_steps_per_env_step
HEAL_PER_STEP = 12.6 * DT * WORLD_STEPS  # 6.3 hp per env step
REGEN_PER_STEP = 0.7875 * DT * WORLD_STEPS
STOP = 4  # SMAX's stop action; target slot k is action 5 + k

# Allies: marine, marauder, stalker, medivac A, medivac B; enemies: marine, marine, medivac.
SMALL = make_scenario([MARINE, MARAUDER, STALKER, MEDIVAC, MEDIVAC], [MARINE, MARINE, MEDIVAC])
A, B = 3, 4  # the ally medivacs; for A slot k is ally k + (k >= 3), for B ally k
E_MARINE0, E_MARINE1, E_MEDIVAC = 5, 6, 7  # for the enemy medivac slot 0 is unit 6, slot 1 unit 5


@pytest.fixture(scope="module")
def small():
    # The medivac is given a nonzero attack value: any path that treated its target actions as
    # attacks would then show damage.
    return MedivacSMAX(scenario=SMALL, unit_type_attacks=UNIT_TYPE_ATTACKS.at[MEDIVAC].set(10.0))


@pytest.fixture(scope="module")
def mmm():
    return MedivacSMAXEnv("MMM")


def _inner_state(env, pos=None, health=None, energy=None):
    """Reset state with units far apart (allies at x = 3, enemies at x = 29) and the given overrides."""
    _, s = env.reset(jax.random.PRNGKey(0))
    p = np.asarray(s.unit_positions).copy()
    p[: env.num_allies] = [[3.0, 3.0 + 2.5 * i] for i in range(env.num_allies)]
    p[env.num_allies :] = [[29.0, 3.0 + 2.5 * i] for i in range(env.num_enemies)]
    h = np.asarray(s.unit_health).copy()
    e = np.asarray(s.unit_energy).copy()
    for i, xy in (pos or {}).items():
        p[i] = xy
    for i, v in (health or {}).items():
        h[i] = v
    for i, v in (energy or {}).items():
        e[i] = v
    return s.replace(
        unit_positions=jnp.asarray(p), unit_health=jnp.asarray(h), unit_alive=jnp.asarray(h > 0),
        unit_energy=jnp.asarray(e),
    )


def _step(env, state, actions=None, key=0):
    acts = {a: jnp.int32(STOP) for a in env.agents}
    for i, v in (actions or {}).items():
        acts[env.agents[i]] = jnp.int32(v)
    return env.step_env(jax.random.PRNGKey(key), state, acts)


def test_heal_rate_and_cap(small):
    s = _inner_state(
        small,
        pos={A: (10.0, 10.0), 0: (12.0, 10.0), B: (10.0, 20.0), 1: (12.0, 20.0)},
        health={0: 20.0, 1: 123.0},
    )
    _, s2, _, _, _ = _step(small, s, {A: 5 + 0, B: 5 + 1})  # A heals the marine, B the marauder
    h, e = np.asarray(s2.unit_health), np.asarray(s2.unit_energy)
    np.testing.assert_allclose(h[0], 20.0 + HEAL_PER_STEP, rtol=1e-5)  # 6.3 hp in 0.5 s
    assert h[1] == 125.0  # capped at the marauder's maximum
    np.testing.assert_allclose(e[A], 50.0 - HEAL_PER_STEP / 3 + REGEN_PER_STEP, rtol=1e-5)
    np.testing.assert_allclose(e[B], 50.0 - 2.0 / 3 + REGEN_PER_STEP, rtol=1e-5)  # paid for 2 hp only
    # Both medivacs on one marauder (2 hp short): still capped at 125.
    s = _inner_state(small, pos={A: (10.0, 10.0), B: (14.0, 10.0), 1: (12.0, 10.0)}, health={1: 123.0})
    _, s2, _, _, _ = _step(small, s, {A: 5 + 1, B: 5 + 1})
    assert s2.unit_health[1] == 125.0


def test_heal_limited_by_energy(small):
    s = _inner_state(small, pos={A: (10.0, 10.0), 0: (12.0, 10.0)}, health={0: 20.0}, energy={A: 1.0})
    _, s2, _, _, _ = _step(small, s, {A: 5 + 0})
    hp, en = 20.0, 1.0  # the rule per world step, written out
    for _ in range(WORLD_STEPS):
        amount = min(12.6 * DT, 3.0 * en, 45.0 - hp)
        hp, en = hp + amount, min(max(en - amount / 3 + 0.7875 * DT, 0.0), 200.0)
    np.testing.assert_allclose(s2.unit_health[0], hp, rtol=1e-5)
    np.testing.assert_allclose(s2.unit_energy[A], en, rtol=1e-5)
    assert hp < 20.0 + HEAL_PER_STEP - 2.0


def test_no_heal_out_of_range_or_non_biological(small):
    s = _inner_state(
        small,
        pos={A: (10.0, 10.0), 2: (12.0, 10.0), B: (10.0, 20.0), 0: (14.5, 20.0)},
        health={0: 20.0, 2: 100.0},
    )
    _, s2, _, _, _ = _step(small, s, {A: 5 + 2, B: 5 + 0})  # A -> stalker, B -> marine 4.5 away
    assert s2.unit_health[2] == 100.0 and s2.unit_health[0] == 20.0
    np.testing.assert_allclose(np.asarray(s2.unit_energy)[[A, B]], 50.0 + REGEN_PER_STEP, rtol=1e-6)  # nothing spent
    # B -> medivac A (damaged, in range): medivacs are not biological.
    s = _inner_state(small, pos={A: (10.0, 10.0), B: (12.0, 10.0)}, health={A: 100.0})
    _, s2, _, _, _ = _step(small, s, {B: 5 + 3})
    assert s2.unit_health[A] == 100.0
    # Control: the same geometry heals a marine, so the two cases above fail only for their reason.
    s = _inner_state(small, pos={A: (10.0, 10.0), 0: (12.0, 10.0)}, health={0: 20.0})
    _, s2, _, _, _ = _step(small, s, {A: 5 + 0})
    assert s2.unit_health[0] > 20.0


def test_medivac_never_damages(small):
    # Every enemy within 2 of both ally medivacs; the enemy medivac next to every ally.
    s = _inner_state(
        small,
        pos={A: (15.0, 10.0), B: (15.0, 12.0), E_MARINE0: (16.0, 11.0), E_MARINE1: (17.0, 11.0),
             E_MEDIVAC: (16.0, 9.0), 0: (17.0, 8.5), 1: (15.0, 8.0), 2: (17.0, 13.0)},
    )
    full = np.asarray(s.unit_health)
    for k in range(4):
        _, s2, _, _, _ = _step(small, s, {A: 5 + k, B: 5 + k, E_MEDIVAC: 5 + k}, key=k)
        np.testing.assert_array_equal(np.asarray(s2.unit_health), full)


def test_enemies_damage_a_medivac(small):
    # Enemy marine 0 attacks ally A: enemy target slot k is ally n_allies - 1 - k, so A is slot 1.
    s = _inner_state(small, pos={A: (15.0, 10.0), E_MARINE0: (18.0, 10.0)})
    _, s2, _, _, _ = _step(small, s, {E_MARINE0: 5 + 1})
    assert s2.unit_health[A] == 150.0 - 9.0  # one marine shot (cooldown 0.61 s > 0.5 s step)


def test_reward_counts_damage_not_enemy_heals(small):
    # Ally marine shoots enemy marine 1 (9 hp); the enemy medivac heals enemy marine 0 (6.3 hp).
    s = _inner_state(
        small,
        pos={0: (20.0, 10.0), E_MARINE1: (23.0, 10.0), E_MEDIVAC: (26.0, 20.0), E_MARINE0: (28.0, 20.0)},
        health={E_MARINE0: 20.0},
    )
    _, s2, rew, _, _ = _step(small, s, {0: 5 + 1, E_MEDIVAC: 5 + 1})
    assert s2.unit_health[E_MARINE1] == 36.0 and s2.unit_health[E_MARINE0] > 20.0
    np.testing.assert_allclose(rew["ally_0"], (9.0 / 45.0) / 3, rtol=1e-5)  # SMAX's |net| would give 0.02


def _expected_heal_mask(env, s, i):
    """Independent: ally medivac i's target slots (numpy, from the stated rule)."""
    types, pos = np.asarray(s.unit_types), np.asarray(s.unit_positions)
    health, alive, energy = np.asarray(s.unit_health), np.asarray(s.unit_alive), np.asarray(s.unit_energy)
    max_h = np.asarray(env.unit_type_health)[types]
    mates = [j for j in range(env.num_allies) if j != i]
    out = np.zeros(env.num_ally_actions - 5, bool)
    for k, j in enumerate(mates):
        out[k] = (alive[i] and alive[j] and np.linalg.norm(pos[i] - pos[j]) < 4.0 and types[j] in (0, 1, 3, 4, 5)
                  and health[j] < max_h[j] and energy[i] > 0)
    return out


def test_action_masks(small):
    s = _inner_state(
        small,
        # around A: marine damaged in range, marauder full in range, stalker damaged in range,
        # B damaged in range; an enemy marine in range of A; B has no energy.
        pos={A: (15.0, 15.0), 0: (17.0, 15.0), 1: (15.0, 17.5), 2: (13.0, 15.0), B: (15.0, 12.5),
             E_MARINE0: (16.0, 14.0)},
        health={0: 30.0, 2: 100.0, B: 90.0},
        energy={B: 0.0},
    )
    av = {a: np.asarray(m) for a, m in small.get_avail_actions(s).items()}
    a_mask = av[small.agents[A]]
    np.testing.assert_array_equal(a_mask[:5], [1, 1, 1, 1, 1])
    np.testing.assert_array_equal(a_mask[5:].astype(bool), _expected_heal_mask(small, s, A))
    np.testing.assert_array_equal(a_mask[5:], [1, 0, 0, 0])  # only the damaged marine, never the enemy
    assert not av[small.agents[B]][5:].any()  # no energy, no heal
    # A medivac with an enemy in range and no damaged teammate has no target action.
    s_full = s.replace(unit_health=s.unit_health.at[0].set(45.0))
    assert not np.asarray(small.get_avail_actions(s_full)[small.agents[A]])[5:].any()
    # Every other unit: SMAX's own mask (plus the widened ally slot, closed).
    plain = SMAX(scenario=SMALL, unit_type_names=UNIT_TYPE_NAMES, unit_type_velocities=small.unit_type_velocities,
                 unit_type_attacks=small.unit_type_attacks, unit_type_attack_ranges=small.unit_type_attack_ranges,
                 unit_type_sight_ranges=small.unit_type_sight_ranges, unit_type_radiuses=small.unit_type_radiuses,
                 unit_type_health=small.unit_type_health, unit_type_weapon_cooldowns=small.unit_type_weapon_cooldowns)
    ref = plain.get_avail_actions(s)
    for i in (0, 1, 2, E_MARINE0, E_MARINE1):
        a = small.agents[i]
        n = ref[a].shape[0]
        np.testing.assert_array_equal(av[a][:n], np.asarray(ref[a]))
        assert not av[a][n:].any()
    assert av[small.agents[0]][5 + 0] and av[small.agents[E_MARINE0]][5 + 2]  # sanity: both shoot something


def test_obs_and_world_state_show_medivacs_and_healable(small):
    s = _inner_state(small, pos={A: (15.0, 15.0), 0: (17.0, 15.0)}, health={0: 30.0}, energy={A: 80.0})
    obs = small.get_obs(s)
    f = len(small.unit_features)
    assert small.unit_features[-1] == "healable" and small.unit_type_bits == 7
    # Ally 0 sees A as its block 2 (allies 1, 2, 3 = A, ...): medivac bit, energy in the cooldown slot.
    block = np.asarray(obs["ally_0"][2 * f : 3 * f])
    assert block[7 + MEDIVAC] == 1 and block[6] == pytest.approx(80.0 / 200.0) and block[-1] == 0
    # A sees the damaged marine (its block 0) as healable, the full marauder (block 1) as not.
    a_obs = np.asarray(obs[small.agents[A]])
    assert a_obs[0 * f + f - 1] == 1 and a_obs[1 * f + f - 1] == 0
    assert a_obs[-1] == 1 and a_obs[-8] == pytest.approx(80.0 / 200.0)  # own: health, x, y, energy, 7 type bits
    assert obs["ally_0"].shape == (small.obs_size,) == (f * (small.num_agents - 1) + len(small.own_features),)
    ws = np.asarray(small.get_world_state(s))
    n, fo = small.num_agents, len(small.own_features)
    assert ws.shape == (small.state_size,) == ((fo + 3) * n,)
    np.testing.assert_array_equal(ws[-n:], [1, 0, 0, 0, 0, 0, 0, 0])  # healable per unit
    assert ws[A * fo + 3] == pytest.approx(0.4) and ws[A * fo + 4 + MEDIVAC] == 1


def _outer_state(env, inner):
    _, st = env.reset(jax.random.PRNGKey(0))
    return st.replace(state=inner)


def test_only_medivacs_left_loses(mmm):
    inner = _inner_state(mmm._env)
    n_a = mmm.num_allies
    allies_gone = inner.unit_health.at[: n_a - 1].set(0.0)  # only the ally medivac (last ally) alive
    s = _outer_state(mmm, inner.replace(unit_health=allies_gone, unit_alive=allies_gone > 0))
    _, _, rew, dones, info = mmm.step_env(jax.random.PRNGKey(1), s, {a: jnp.int32(STOP) for a in mmm.agents})
    assert dones["__all__"] and info["terminated"] and not info["won"] and not info["truncated"]
    assert float(rew["ally_0"]) < 0.5  # no win bonus
    enemies_gone = inner.unit_health.at[n_a : -1].set(0.0)  # only the enemy medivac alive
    s = _outer_state(mmm, inner.replace(unit_health=enemies_gone, unit_alive=enemies_gone > 0))
    _, _, rew, dones, info = mmm.step_env(jax.random.PRNGKey(1), s, {a: jnp.int32(STOP) for a in mmm.agents})
    assert dones["__all__"] and info["terminated"] and info["won"]
    assert float(rew["ally_0"]) >= 1.0
    # With an enemy marine left as well, the game goes on.
    some_left = enemies_gone.at[n_a].set(45.0)
    s = _outer_state(mmm, inner.replace(unit_health=some_left, unit_alive=some_left > 0))
    _, _, _, dones, info = mmm.step_env(jax.random.PRNGKey(1), s, {a: jnp.int32(STOP) for a in mmm.agents})
    assert not dones["__all__"] and not info["won"]


def test_heuristic_enemy_medivac_heals_most_damaged(mmm):
    inner_env = mmm._env
    med = inner_env.num_agents - 1  # the enemy medivac
    marine, marauder = mmm.num_allies + 2, mmm.num_allies  # enemy marine (30/45) and marauder (100/125)
    inner = _inner_state(
        inner_env,
        pos={med: (26.0, 16.0), marine: (27.5, 16.0), marauder: (26.0, 17.5)},
        health={marine: 30.0, marauder: 100.0},
    )
    obs = inner_env.get_obs_unit_list(inner)["enemy_9"]
    action, _ = mmm.heuristic_policy(jax.random.PRNGKey(0), get_heuristic_policy_initial_state(), obs)
    slot = int(action) - 5
    assert int(inner_env._heal_target[med, slot]) == marine  # lowest health fraction, not most hp missing
    _, s2, _, _, _ = mmm.step_env(jax.random.PRNGKey(2), _outer_state(mmm, inner),
                                  {a: jnp.int32(STOP) for a in mmm.agents})
    np.testing.assert_allclose(s2.state.unit_health[marine], 30.0 + HEAL_PER_STEP, rtol=1e-5)
    assert s2.state.unit_health[marauder] == 100.0


def test_heuristic_enemy_medivac_follows_army(mmm):
    inner_env = mmm._env
    med = inner_env.num_agents - 1
    # The army it sees (y = 13 .. 23 at x = 29) lies south of it; SMAX's own heuristic would head for
    # the mirror point (3, 8), i.e. west.
    inner = _inner_state(inner_env, pos={med: (29.0, 24.0)})
    obs = inner_env.get_obs_unit_list(inner)["enemy_9"]
    action, _ = mmm.heuristic_policy(jax.random.PRNGKey(0), get_heuristic_policy_initial_state(), obs)
    assert int(action) == 2  # south = towards the army
    # Damaged teammate in range: heal instead of moving.
    inner = inner.replace(unit_health=inner.unit_health.at[med - 1].set(10.0),
                          unit_positions=inner.unit_positions.at[med - 1].set(jnp.array([29.0, 22.0])))
    obs = inner_env.get_obs_unit_list(inner)["enemy_9"]
    action, _ = mmm.heuristic_policy(jax.random.PRNGKey(0), get_heuristic_policy_initial_state(), obs)
    assert int(action) >= 5 and int(inner_env._heal_target[med, int(action) - 5]) == med - 1


def test_registered_with_smax_names_and_scenarios():
    names = envs_jax.names()
    assert "smax_MMM" in names and "smax_MMM2" in names
    # One smax_<map> namespace: every name listed once (a medivac map must not shadow one of JaxMARL's)
    # and every smax_ name builds the env of its own map, the medivac maps on the medivac env.
    assert len(names) == len(set(names))
    assert not set(medivac_maps()) & set(smax_maps())
    for name in (n for n in names if n.startswith("smax_")):
        env = envs_jax.make(name)
        assert isinstance(env, SMAXEnv) and env.map_name == name[len("smax_") :], name
        assert isinstance(env, MedivacSMAXEnv) == (name in ("smax_MMM", "smax_MMM2")), name
    from test_envs import CONTRACT_ENVS  # the env contract (jit, vmap, auto-reset, determinism) runs there

    assert "smax_MMM" in CONTRACT_ENVS and "smax_MMM2" in CONTRACT_ENVS
    for name, allies, enemies in (("smax_MMM", (1, 2, 7), (1, 2, 7)), ("smax_MMM2", (1, 2, 7), (1, 3, 8))):
        env = envs_jax.make(name)
        types = np.asarray(env._env.scenario)
        count = lambda t: tuple(int((t == u).sum()) for u in (MEDIVAC, MARAUDER, MARINE))
        assert count(types[: env.num_allies]) == allies and count(types[env.num_allies :]) == enemies
        # The learner's action space is SMAX's: 5 moves + one slot per enemy.
        assert env.action_spaces["ally_0"].n == 5 + env.num_enemies
    # The fields SMAXEnv.__init__ sets (MedivacSMAXEnv cannot call it) are all there.
    missing = set(vars(envs_jax.make("smax_3m"))) - set(vars(envs_jax.make("smax_MMM")))
    assert not missing, f"MedivacSMAXEnv lacks SMAXEnv's attributes {missing}"
    with pytest.raises(ValueError, match="MMM2"):
        MedivacSMAXEnv("MMM3")
