"""The paper's analyses (jbn/evaluation/analysis.py) against independent computations: the multi-modality KL against
exact enumeration of the BN joint distribution built from `log_prob` alone, the visibility / health / distance
statistics against hand counts on hand-made DAGs, each family's team geometry against the env state's own fields, and
what each family declares (the evaluation reads the declarations; nothing in jbn/evaluation tests an env's type)."""
import ast
import dataclasses
import itertools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.families.aloha import aloha_snapshot
from envs_jax.wrappers import ArrayEnv
from jbn.evaluation import analysis, declared_analyses
from jbn.policy import dag as dag_lib
from jbn.policy.joint import BNPolicy


def _sharp_params(pol, key):
    """Initial parameters with a larger output layer and parent block, so that the conditionals are far from
    uniform and the parents' actions visibly move them (the KL is then far from 0)."""
    params = pol.init(key)
    actor = jax.tree.map(lambda x: x, params["actor"])
    actor["params"]["out"]["kernel"] = 100.0 * actor["params"]["out"]["kernel"]
    if "parent_in" in actor["params"]:  # cg: the parent block adds to the logits directly (init scale 0.01)
        scale = 500.0 if pol.arch == "cg" else 5.0
        actor["params"]["parent_in"]["kernel"] = scale * actor["params"]["parent_in"]["kernel"]
    return {**params, "actor": actor}


def _exact_expected_kl(pol, params, obs, avail, visible, noise):
    """E_{a ~ π_BN}[KL_i] and the pointwise KL_i(a), by enumeration from `log_prob` outputs only.

    For each available joint action a, log_prob gives log π_i(a_i | o_i, a^{P_i}). Agent i's conditional given
    the parents' actions in a is read off by changing a_i alone (π_i does not depend on a_i's own entry), the
    decentralised marginal likewise from the mode-`none` policy. The joint probability is the product of the
    conditionals (a BN over the step's DAG).
    """
    n = pol.num_agents
    none = dataclasses.replace(pol, mode="none")
    av = np.asarray(avail)
    choices = [np.flatnonzero(av[i]) for i in range(n)]
    joints = list(itertools.product(*choices))
    acts = jnp.array(joints, jnp.int32)  # [J, N], every available joint action
    over_joints = (None, None, None, None, None, 0)
    lp_bn = jax.jit(jax.vmap(pol.log_prob, over_joints))(params, obs, avail, visible, noise, acts)[0]
    lp_0 = jax.jit(jax.vmap(none.log_prob, over_joints))(params, obs, avail, visible, None, acts)[0]
    logp = dict(zip(joints, np.asarray(lp_bn, np.float64)))
    logq = dict(zip(joints, np.asarray(lp_0, np.float64)))
    prob = {j: float(np.exp(logp[j].sum())) for j in joints}
    kl = {}
    for j in joints:
        k = np.zeros(n)
        for i in range(n):
            alts = [j[:i] + (b,) + j[i + 1:] for b in choices[i]]
            p = np.exp([logp[x][i] for x in alts])
            q = np.exp([logq[x][i] for x in alts])
            k[i] = np.sum(p * np.log(p / q))
        kl[j] = k
    return joints, prob, kl


@pytest.mark.parametrize(
    "n,a,arch,mode,kw,noise_key",
    [
        (2, 3, "smax", "full", {}, 0),
        (3, 2, "cg", "full", {}, 0),
        # noise key 4: order (1, 2, 0), edges 1->0, 1->2, 2->0; agent 0 cannot see 2, so G_eff drops 2->0.
        (3, 3, "smax", "context", {"learn_order": True, "mask_invisible_parents": True}, 4),
    ],
)
def test_multimodality_kl_equals_exact_enumeration(n, a, arch, mode, kw, noise_key):
    pol = BNPolicy(num_agents=n, obs_dim=3, state_dim=4, num_actions=a, mode=mode, arch=arch, hidden=16, **kw)
    params = _sharp_params(pol, jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (n, 3))
    avail = jnp.ones((n, a), bool)
    if a == 3:
        avail = avail.at[n - 1, 1].set(False)  # one unavailable action: the KL runs over available ones only
    visible = jnp.ones((n, n), bool).at[0, n - 1].set(False)  # agent 0 cannot see the last agent
    noise = pol.sample_noise(jax.random.PRNGKey(noise_key))
    g_eff = jax.jit(pol.dag)(params, obs, visible, noise)[1]
    assert float(jnp.sum(g_eff)) > 0  # the example has real parents

    joints, prob, kl = _exact_expected_kl(pol, params, obs, avail, visible, noise)
    assert abs(sum(prob.values()) - 1.0) < 1e-5
    f = jax.jit(jax.vmap(lambda act: analysis.multimodality_kl(pol, params, obs, avail, visible, noise, act)))
    ours = dict(zip(joints, np.asarray(f(jnp.array(joints, jnp.int32)), np.float64)))
    for j in joints:
        np.testing.assert_allclose(ours[j], kl[j], rtol=1e-4, atol=1e-6)
    expected = sum(prob[j] * kl[j] for j in joints)
    got = sum(prob[j] * ours[j] for j in joints)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    # Teeth: an agent with parents has a clearly non-zero expected KL; one without has exactly 0.
    has_parents = np.asarray(g_eff).sum(0) > 0
    assert np.all(expected[has_parents] > 1e-3), expected
    assert np.all(got[~has_parents] == 0.0)


def test_multimodality_kl_is_zero_without_a_dag():
    pol = BNPolicy(num_agents=3, obs_dim=3, state_dim=4, num_actions=3, mode="none", hidden=16)
    params = _sharp_params(pol, jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
    kl = analysis.multimodality_kl(pol, params, obs, jnp.ones((3, 3), bool), jnp.ones((3, 3), bool), None,
                                   jnp.array([2, 0, 1]))
    np.testing.assert_array_equal(kl, np.zeros(3))


def test_visible_parent_fraction_hand_count():
    # 4 agents. Parents: 1 <- {0}; 2 <- {0, 1}; 3 <- {0, 1, 2}; agent 0 has none.
    g = jnp.array([[0, 1, 1, 1],
                   [0, 0, 1, 1],
                   [0, 0, 0, 1],
                   [0, 0, 0, 0]], jnp.float32)
    visible = jnp.array([[1, 1, 1, 1],   # 0 sees everyone
                         [0, 1, 0, 0],   # 1 sees nobody else: parent 0 invisible
                         [1, 0, 1, 0],   # 2 sees 0, not 1
                         [1, 1, 0, 1]],  # 3 sees 0, 1, not 2
                        bool)
    t = jax.jit(analysis.visible_parent_fraction)(g, visible)
    np.testing.assert_array_equal(t.num, [0, 0, 1, 2])
    np.testing.assert_array_equal(t.den, [0, 1, 2, 3])
    # A dead child counts nothing.
    t2 = analysis.visible_parent_fraction(g, visible, alive=jnp.array([True, True, True, False]))
    np.testing.assert_array_equal(t2.num, [0, 0, 1, 0])
    np.testing.assert_array_equal(t2.den, [0, 1, 2, 0])
    # Averaging two steps (the second: everyone sees everyone) pools the edges.
    both = analysis.Tally(jnp.stack([t.num, t.den]), jnp.stack([t.den, t.den]))
    m = np.asarray(analysis.tally_mean(both))
    assert np.isnan(m[0])
    np.testing.assert_allclose(m[1:], [1 / 2, 3 / 4, 5 / 6])


def test_parent_health_and_distance_ratios_hand_example():
    # 4 agents on a line at x = 0, 1, 3, 6; health fractions 1.0, 0.5, 0.2, 0.8; agent 2 is dead.
    # Parents (G[j, i]): 1 <- {0}; 3 <- {0, 1, 2}; 2 <- {0}; agent 0 has none.
    g = jnp.array([[0, 1, 1, 1],
                   [0, 0, 0, 1],
                   [0, 0, 0, 1],
                   [0, 0, 0, 0]], jnp.float32)
    health = jnp.array([1.0, 0.5, 0.0, 0.8])
    positions = jnp.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0]])
    alive = jnp.array([True, True, False, True])
    # Living allies: of 1 -> {0, 3}, of 3 -> {0, 1}. Living parents: of 1 -> {0}, of 3 -> {0, 1} (2 is dead).
    # Health: child 1: 1.0 / mean(1.0, 0.8) = 1/0.9; child 3: mean(1.0, 0.5) / mean(1.0, 0.5) = 1.
    # Distance: child 1: d(1,0) = 1 / mean(1, 5) = 1/3; child 3: mean(6, 5) / mean(6, 5) = 1.
    # Child 0: no parents; child 2: dead -> undefined.
    h = jax.jit(analysis.parent_health_ratio)(g, health, alive)
    np.testing.assert_allclose(h.num, [0.0, 1 / 0.9, 0.0, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(h.den, [0, 1, 0, 1])
    d = jax.jit(analysis.parent_distance_ratio)(g, positions, alive)
    np.testing.assert_allclose(d.num, [0.0, 1 / 3, 0.0, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(d.den, [0, 1, 0, 1])
    # Child 3 choosing only agent 1 instead: health 0.5 / 0.75, distance 5 / 5.5.
    g2 = g.at[0, 3].set(0.0).at[2, 3].set(0.0)
    np.testing.assert_allclose(analysis.parent_health_ratio(g2, health, alive).num[3], 0.5 / 0.75, rtol=1e-6)
    np.testing.assert_allclose(analysis.parent_distance_ratio(g2, positions, alive).num[3], 5 / 5.5, rtol=1e-6)


def test_dag_degrees_hand_example():
    # order 2, 0, 3, 1 (positions: 0 -> 1, 1 -> 3, 2 -> 0, 3 -> 2); edges 2->0, 2->1, 3->1.
    g = jnp.zeros((4, 4)).at[2, 0].set(1).at[2, 1].set(1).at[3, 1].set(1)
    deg = jax.jit(analysis.dag_degrees)(g, jnp.array([2, 0, 3, 1]))
    np.testing.assert_array_equal(deg.in_degree, [1, 2, 0, 0])
    np.testing.assert_array_equal(deg.possible_parents, [1, 3, 0, 2])
    np.testing.assert_array_equal(deg.out_degree, [0, 0, 2, 1])
    np.testing.assert_array_equal(deg.possible_children, [2, 0, 3, 1])
    np.testing.assert_allclose(deg.in_degree.sum() / deg.possible_parents.sum(), dag_lib.density(g))


def test_smax_team_geometry_on_3m():
    env = ArrayEnv(envs_jax.make("smax_3m"))
    state, _ = env.reset(jax.random.PRNGKey(0))
    inner = state.env_state.state  # jaxmarl's SMAX State
    # Damage and kill some units so the health fraction is not trivially 1 (marine max hp 45).
    inner = inner.replace(unit_health=inner.unit_health.at[0].set(9.0).at[2].set(0.0).at[4].set(1.0),
                          unit_alive=inner.unit_alive.at[2].set(False))
    state = state.replace(env_state=state.env_state.replace(state=inner))
    allies = jax.jit(env.family.team_geometry)(state.env_state)
    assert allies.health.shape == (3,) and allies.positions.shape == (3, 2) and allies.alive.shape == (3,)
    np.testing.assert_allclose(allies.health, [9.0 / 45.0, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(allies.positions, inner.unit_positions[:3])
    np.testing.assert_array_equal(allies.alive, [True, True, False])
    # The same from the inner state.
    np.testing.assert_array_equal(env.family.team_geometry(inner).health, allies.health)


def test_aloha_snapshot_is_json():
    g = np.zeros((3, 3))
    g[0, 2] = g[1, 2] = 1  # agent 2 <- {0, 1}
    snap = aloha_snapshot(g, np.array([[1.0], [0.0], [3.0]]), np.array([0, 1, 1]), order=np.array([1, 0, 2]))
    assert json.loads(json.dumps(snap)) == {
        "agents": [
            {"agent": 0, "parents": [], "backlog": 1, "action": 0},
            {"agent": 1, "parents": [], "backlog": 0, "action": 1},
            {"agent": 2, "parents": [0, 1], "backlog": 3, "action": 1},
        ],
        "order": [1, 0, 2],
    }


# ------------------------------------------------------------------------------------------------ what families declare
@pytest.mark.parametrize("name, visibility, positions, health, snapshot", [
    ("smax_3m", True, True, True, None),
    ("aloha_10", False, False, False, "aloha_snapshot"),
    ("mpe_simple_spread", False, True, False, None),
    ("lbf_2s-10x10-3p-3f", True, True, False, None),
    ("rware_tiny-2ag", False, True, False, None),
    ("cg_3", False, False, False, None),
    ("matrax_Climbing-stateless", False, False, False, None),
    ("overcooked_cramped_room", False, True, False, None),
])
def test_each_family_declares_its_analyses(name, visibility, positions, health, snapshot):
    declared = declared_analyses(ArrayEnv(envs_jax.make(name)))
    assert (declared.visibility, declared.positions, declared.health) == (visibility, positions, health)
    assert (declared.snapshot and declared.snapshot.field) == snapshot


def _reset_raw(name, seed):
    env = ArrayEnv(envs_jax.make(name))
    state, _ = jax.jit(env.reset)(jax.random.PRNGKey(seed))
    return env, state.env_state


@pytest.mark.parametrize("seed", [0, 1])
def test_team_geometry_of_mpe_lbf_rware_is_the_agents_positions(seed):
    env, raw = _reset_raw("mpe_simple_spread", seed)  # p_pos: agents first, then landmarks
    geo = env.family.team_geometry(raw)
    np.testing.assert_array_equal(geo.positions, np.asarray(raw.p_pos)[:3])
    assert geo.health is None and np.asarray(geo.alive).tolist() == [True] * 3
    env, raw = _reset_raw("lbf_2s-10x10-3p-3f", seed)  # (row, col) cells
    geo = env.family.team_geometry(raw)
    np.testing.assert_array_equal(geo.positions, np.asarray(raw.agents.position, np.float32))
    assert geo.positions.dtype == jnp.float32 and geo.health is None and np.asarray(geo.alive).all()
    env, raw = _reset_raw("rware_tiny-4ag", seed)  # Position(x=row, y=col): the rows of the grid's agent channel
    geo = env.family.team_geometry(raw)
    occupied = np.argwhere(np.asarray(raw.grid)[1] > 0)  # Jumanji's agents channel: (row, col) of every agent
    assert sorted(map(tuple, np.asarray(geo.positions, int).tolist())) == sorted(map(tuple, occupied.tolist()))
    assert geo.positions.shape == (4, 2) and geo.health is None and np.asarray(geo.alive).all()
    env, raw = _reset_raw("overcooked_cramped_room", seed)  # the cooks' cells: the agents' channel of the layout grid
    geo = env.family.team_geometry(raw)
    cells = np.asarray(raw.maze_map)  # [H + 2p, W + 2p, 3]: object type per cell, padded
    pad = (cells.shape[0] - raw.wall_map.shape[0]) // 2
    from jaxmarl.environments.overcooked.common import OBJECT_TO_INDEX
    found = {(x - pad, y - pad) for y, x in np.argwhere(cells[..., 0] == OBJECT_TO_INDEX["agent"])}
    assert {tuple(p) for p in np.asarray(geo.positions, int).tolist()} == found
    assert geo.positions.shape == (2, 2) and geo.health is None and np.asarray(geo.alive).all()


def test_no_env_type_test_in_the_evaluation():
    """The evaluation computes what a family declares: no module in jbn/evaluation imports an env class of ours (SMAX,
    Aloha, ...) or tests an env's type with isinstance."""
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jbn", "evaluation")
    env_modules = ("envs_jax.smax", "envs_jax.smax_medivac", "envs_jax.aloha", "envs_jax.coordination_game")
    env_classes = {"SMAXEnv", "MedivacSMAXEnv", "Aloha", "CoordinationGame", "SimpleMPE", "LevelBasedForaging",
                   "RobotWarehouse"}
    found = []
    for f in sorted(os.listdir(root)):
        if not f.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(root, f)).read())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{f}: imports {m}" for m in mods if m in env_modules]
            elif isinstance(node, (ast.Name, ast.Attribute)):
                name = node.id if isinstance(node, ast.Name) else node.attr
                if name in env_classes:
                    found.append(f"{f}:{node.lineno}: {name}")
            elif isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
                if "env" in ast.unparse(node.args[0]):
                    found.append(f"{f}:{node.lineno}: {ast.unparse(node)}")
    assert not found, found
