"""The BN joint policy: sampling under lax.scan vs the parallel teacher-forced pass, the sampled
distribution vs exact enumeration, and gradients into the DAG nets."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jbn.policy import dag as dag_lib
from jbn.policy.joint import BNPolicy


def _policy(n, mode, a=3, d=4, **kw):
    return BNPolicy(num_agents=n, obs_dim=d, state_dim=5, num_actions=a, mode=mode, **kw)


def _sharpen(params, scale=200.0):
    """Scale the actor's output layer (initialised at 0.01) so conditionals are far from uniform but not
    deterministic, and parents' actions visibly change them."""
    actor = jax.tree.map(lambda x: x, params["actor"])
    actor["params"]["out"]["kernel"] = scale * actor["params"]["out"]["kernel"]
    return {**params, "actor": actor}


def _inputs(n, a, d, key, e=8):
    k1, k2 = jax.random.split(key)
    obs = jax.random.normal(k1, (e, n, d))
    avail = jax.random.bernoulli(k2, 0.7, (e, n, a)).at[..., 0].set(True)
    visible = jnp.ones((e, n, n), bool)
    return obs, avail, visible


@pytest.mark.parametrize(
    "n,mode,kw",
    [(n, m, {}) for n in (3, 6) for m in ("none", "line", "full", "context")]
    + [(3, "context", {"learn_order": False}), (3, "full", {"arch": "aloha", "parent_obs": True}),
       (3, "context", {"arch": "cg", "deepset_edges": True})],
)
def test_sampled_logp_equals_parallel_logp(n, mode, kw):
    pol = _policy(n, mode, **kw)
    params = pol.init(jax.random.PRNGKey(1))
    # Larger actor weights so that parent actions visibly change the conditionals.
    params = _sharpen(params)
    obs, avail, visible = _inputs(n, 3, 4, jax.random.PRNGKey(2))
    e = obs.shape[0]
    noise = pol.sample_noise(jax.random.PRNGKey(3), (e,))
    keys = jax.random.split(jax.random.PRNGKey(4), e)
    actions, logp, g = jax.jit(jax.vmap(pol.sample, (None, 0, 0, 0, 0, 0)))(params, obs, avail, visible, noise, keys)
    assert np.all(np.take_along_axis(np.asarray(avail), np.asarray(actions)[..., None], -1))
    logp2, ent, g2 = jax.jit(jax.vmap(pol.log_prob, (None, 0, 0, 0, 0, 0)))(params, obs, avail, visible, noise, actions)
    np.testing.assert_allclose(logp, logp2, atol=1e-5)
    np.testing.assert_array_equal(g, g2)
    # The loss's call: the whole batch at once, here with two leading dims [2, E/2] (the actor on the batch, no vmap)
    two = lambda x: x.reshape((2, e // 2) + x.shape[1:])  # noqa: E731
    logp3, ent3, g3 = jax.jit(pol.log_prob)(params, two(obs), two(avail), two(visible), jax.tree.map(two, noise),
                                            two(actions))
    np.testing.assert_allclose(np.asarray(logp3).reshape(logp.shape), logp, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ent3).reshape(ent.shape), ent, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(g3).reshape(np.shape(g)), g)
    if mode != "none":
        # The check has teeth: with parents' actions hidden the log-probs differ.
        none = BNPolicy(**{**pol.__dict__, "mode": "none"})
        logp0, _, _ = jax.vmap(none.log_prob, (None, 0, 0, 0, 0, 0))(params, obs, avail, visible, None, actions)
        if np.asarray(g).sum() > 0:
            assert not np.allclose(logp0, logp2, atol=1e-3)


def _smax_actor_numpy(p, obs_i, agent_id, parent_block):
    """Table 2's smax actor in float64 numpy: FC(Concat(o_i, id_i, a^P)) - ReLU - FC - ReLU - FC(A), with the
    first layer's kernel the stack of the module's own half and its parent half (a dense N*A block)."""
    p = jax.tree.map(lambda x: np.asarray(x, np.float64), p["params"])
    w0 = np.concatenate([p["own_in"]["kernel"], p["parent_in"]["kernel"]], 0)
    x = np.concatenate([obs_i, agent_id, parent_block])
    h = np.maximum(x @ w0 + p["own_in"]["bias"], 0.0)
    h = np.maximum(h @ p["mid"]["kernel"] + p["mid"]["bias"], 0.0)
    return h @ p["out"]["kernel"] + p["out"]["bias"]


def _exact_joint(pol, params, obs, avail, visible, g):
    """π(a) = Π_i softmax(actor(o_i, id_i, G[:, i] ⊙ onehot(a)))[a_i], by enumerating every joint action
    and evaluating the actor in numpy from its parameters (independent of the module, the scan and log_prob)."""
    n, a = pol.num_agents, pol.num_actions
    assert pol.arch == "smax"
    probs = {}
    for joint in itertools.product(range(a), repeat=n):
        onehot = np.eye(a)[list(joint)]
        p = 1.0
        for i in range(n):
            pa = (np.asarray(g)[:, i, None] * onehot).reshape(-1)
            logits = _smax_actor_numpy(params["actor"], np.asarray(obs[i], np.float64), np.eye(n)[i], pa)
            logits = np.where(np.asarray(avail[i]), np.asarray(logits, np.float64), -np.inf)
            pr = np.exp(logits - logits.max())
            p *= (pr / pr.sum())[joint[i]]
        probs[joint] = p
    return probs


@pytest.mark.parametrize("n,mode", [(2, "full"), (3, "full"), (3, "none")])
def test_sampled_joint_distribution_matches_exact(n, mode):
    a = 2 if n == 3 else 3
    pol = _policy(n, mode, a=a)
    params = pol.init(jax.random.PRNGKey(0))
    # Stronger weights on the parent-action inputs so the agents correlate.
    params["actor"]["params"]["parent_in"]["kernel"] = 5.0 * params["actor"]["params"]["parent_in"]["kernel"]
    params = _sharpen(params, 50.0)
    obs = jax.random.normal(jax.random.PRNGKey(5), (n, 4))
    avail = jnp.ones((n, a), bool)
    visible = jnp.ones((n, n), bool)
    g = dag_lib.fixed_dag(mode, n)
    exact = _exact_joint(pol, params, obs, avail, visible, g)
    num = 40000
    keys = jax.random.split(jax.random.PRNGKey(6), num)
    acts, _, _ = jax.jit(jax.vmap(pol.sample, (None, None, None, None, None, 0)))(params, obs, avail, visible, None, keys)
    idx = np.asarray(acts) @ (a ** np.arange(n))
    counts = np.bincount(idx, minlength=a**n)
    expected = np.array([exact[tuple((k // a**i) % a for i in range(n))] for k in range(a**n)]) * num
    assert abs(expected.sum() - num) < 1e-6 * num
    chi2 = stats.chisquare(counts, expected)
    assert chi2.pvalue > 1e-3, (counts, expected)
    joint = expected.reshape((a,) * n, order="F") / num
    marg = [joint.sum(axis=tuple(j for j in range(n) if j != i)) for i in range(n)]
    product = np.einsum(*sum(([m, [i]] for i, m in enumerate(marg)), []), list(range(n)))
    if mode == "none":  # independent agents: the joint is the product of its marginals
        np.testing.assert_allclose(joint, product, atol=1e-9)
    else:  # with the full DAG the agents are correlated for these weights
        assert np.abs(joint - product).max() > 1e-2


def _descendants(g):
    """desc[j, i]: there is a directed path j -> ... -> i in G (numpy transitive closure)."""
    n = g.shape[0]
    reach = np.asarray(g) > 0
    for k in range(n):
        reach = reach | (reach[:, k : k + 1] & reach[k : k + 1, :])
    return reach


def _violated(g, visit):
    """Some edge j -> i of G whose child i comes before its parent j when agents are visited in `visit`."""
    pos = np.argsort(visit)
    return any(pos[j] > pos[i] for j, i in zip(*np.nonzero(g)))


def test_sampling_follows_the_learned_order():
    """Context mode with a learned order: the scan visits agents in the sampled topological order.

    Structure: every sampled G is acyclic and parents sit earlier in the order. Behaviour, for one step
    (fixed obs, DAG noise and sampling key) whose order is a non-identity permutation that sampling in
    index order, reverse order or the inverse permutation would get wrong: force each agent j's action
    to each value c (its only available action) and sample. Then (a) agents that are not descendants of
    j in G keep their actions and log-probs bit for bit (an agent depends only on agents before it in
    the order, through G), and (b) every agent's recorded log-prob equals the teacher-forced one given
    the final joint action, so each child saw the actions its parents actually took (a child sampled
    before a parent would have seen the placeholder 0 where the parent was forced to c != 0)."""
    n, a = 5, 3
    pol = _policy(n, "context", a=a)
    params = jax.jit(pol.init)(jax.random.PRNGKey(7))
    # Peaked edge/perm logits: varied, confident DAGs. Stronger actor weights, on the parent-action
    # inputs above all, so that parents' actions visibly change the conditionals.
    params = {**params, "edge": jax.tree.map(lambda x: 30.0 * x, params["edge"]),
              "perm": jax.tree.map(lambda x: 30.0 * x, params["perm"])}
    params["actor"]["params"]["parent_in"]["kernel"] = 5.0 * params["actor"]["params"]["parent_in"]["kernel"]
    params = _sharpen(params, 50.0)
    obs, _, visible = _inputs(n, a, 4, jax.random.PRNGKey(8), e=64)
    noise = pol.sample_noise(jax.random.PRNGKey(9), (64,))
    g, _, order = jax.jit(jax.vmap(pol.dag, (None, 0, 0, 0)))(params, obs, visible, noise)
    g, order = np.asarray(g), np.asarray(order)
    assert len({tuple(o) for o in order}) > 1  # the order really varies with context and noise
    for ge, oe in zip(g, order):
        pos = np.argsort(oe)
        for j, i in zip(*np.nonzero(ge)):
            assert pos[j] < pos[i]
        assert np.all(np.linalg.matrix_power(ge, n) == 0)  # nilpotent: acyclic

    # One step whose order tells the right visiting order apart from the wrong ones.
    wrong = lambda o: (np.arange(n), np.arange(n)[::-1], np.argsort(o))
    telling = [k for k in range(64) if all(_violated(g[k], w) for w in wrong(order[k]))]
    assert telling, "no sampled step tells the order apart from identity, reverse and inverse"
    e = telling[0]
    ge, oe = g[e], order[e]
    assert not np.array_equal(oe, np.arange(n)) and not np.array_equal(np.argsort(oe), oe)
    desc = _descendants(ge)
    obs_e, vis_e = obs[e], visible[e]
    noise_e = jax.tree.map(lambda x: x[e], noise)

    # avail[j, c]: only action c for agent j (every other agent: all actions).
    jc = [(j, c) for j in range(n) for c in range(a)]
    forced = np.ones((len(jc), n, a), bool)
    for k, (j, c) in enumerate(jc):
        forced[k, j] = np.eye(a, dtype=bool)[c]
    forced = jnp.asarray(forced)
    key = jax.random.PRNGKey(10)
    acts, logp, _ = jax.jit(jax.vmap(pol.sample, (None, None, 0, None, None, None)))(
        params, obs_e, forced, vis_e, noise_e, key)
    logp_tf, _, _ = jax.jit(jax.vmap(pol.log_prob, (None, None, 0, None, None, 0)))(
        params, obs_e, forced, vis_e, noise_e, acts)
    acts, logp, logp_tf = (np.asarray(x).reshape(n, a, n) for x in (acts, logp, logp_tf))
    for j in range(n):
        np.testing.assert_array_equal(acts[j, :, j], np.arange(a))  # the forced action was taken
        others = ~desc[j] & (np.arange(n) != j)
        for c in range(1, a):
            np.testing.assert_array_equal(acts[j, c, others], acts[j, 0, others])
            np.testing.assert_array_equal(logp[j, c, others], logp[j, 0, others])
    np.testing.assert_allclose(logp, logp_tf, atol=1e-5)
    # The check has teeth: for every edge j -> i of G, changing the parent's action changes the child's
    # teacher-forced log-prob, so a child that saw a placeholder instead would disagree.
    parents, children = np.nonzero(ge)
    assert len(parents) > 0
    base = acts[0, 0]
    changed = np.repeat(base[None], len(parents) + 1, 0)  # row 0: base; row 1 + k: edge k's parent moved
    changed[1 + np.arange(len(parents)), parents] = (base[parents] + 1) % a
    lp, _, _ = jax.jit(jax.vmap(pol.log_prob, (None, None, None, None, None, 0)))(
        params, obs_e, jnp.ones((n, a), bool), vis_e, noise_e, jnp.asarray(changed))
    lp = np.asarray(lp)
    assert np.all(np.abs(lp[1:][np.arange(len(parents)), children] - lp[0, children]) > 1e-3)


def test_gradients_reach_edge_and_perm_nets():
    n = 4
    pol = _policy(n, "context")
    params = pol.init(jax.random.PRNGKey(0))
    params = _sharpen(params)
    obs, avail, visible = _inputs(n, 3, 4, jax.random.PRNGKey(1), e=16)
    noise = pol.sample_noise(jax.random.PRNGKey(2), (16,))
    actions, _, _ = jax.vmap(pol.sample, (None, 0, 0, 0, 0, 0))(params, obs, avail, visible, noise, jax.random.split(jax.random.PRNGKey(3), 16))

    def loss(p):
        logp, _, g = jax.vmap(pol.log_prob, (None, 0, 0, 0, 0, 0))(p, obs, avail, visible, noise, actions)
        return logp.sum() + dag_lib.density(g).sum()

    grads = jax.grad(loss)(params)
    for net in ("edge", "perm"):
        norm = sum(float(jnp.abs(x).sum()) for x in jax.tree.leaves(grads[net]))
        assert np.isfinite(norm) and norm > 0, net


def test_sinkhorn_iterations_change_the_perm_gradient_only():
    """L (sinkhorn_iters) enters the straight-through gradient alone: the sampled actions, DAGs and log-probs are
    the same for L = 1 and L = 20, the actor's and edge net's gradients too; the perm net's gradient differs."""
    import dataclasses

    n, e = 4, 8
    pol20 = _policy(n, "context")
    pol1 = dataclasses.replace(pol20, sinkhorn_iters=1)
    params = _sharpen(pol20.init(jax.random.PRNGKey(0)))
    obs, avail, visible = _inputs(n, 3, 4, jax.random.PRNGKey(1), e=e)
    noise = pol20.sample_noise(jax.random.PRNGKey(2), (e,))
    keys = jax.random.split(jax.random.PRNGKey(3), e)
    axes = (None, 0, 0, 0, 0, 0)

    @jax.jit  # one compile for both policies
    def run(params):
        out = []
        for pol in (pol20, pol1):
            sample = jax.vmap(pol.sample, axes)(params, obs, avail, visible, noise, keys)

            def f(p, pol=pol, actions=sample[0]):
                logp, _, g = jax.vmap(pol.log_prob, axes)(p, obs, avail, visible, noise, actions)
                return logp.sum() + dag_lib.density(g).sum(), logp

            out.append((sample, *jax.grad(f, has_aux=True)(params)))
        return out

    (s20, g20, lp20), (s1, g1, lp1) = run(params)
    for a, b in zip(s20, s1):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(lp20), np.asarray(lp1))
    for net in ("actor", "edge"):
        for a, b in zip(jax.tree.leaves(g20[net]), jax.tree.leaves(g1[net])):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
    diff = max(float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(g20["perm"]), jax.tree.leaves(g1["perm"])))
    scale = max(float(jnp.abs(a).max()) for a in jax.tree.leaves(g20["perm"]))
    assert diff > 1e-3 * scale > 0


def test_invisible_parents_contribute_nothing():
    n = 3
    pol = _policy(n, "full", mask_invisible_parents=True)
    params = pol.init(jax.random.PRNGKey(0))
    params = _sharpen(params)
    obs, avail, _ = _inputs(n, 3, 4, jax.random.PRNGKey(1), e=4)
    actions = jnp.array([[0, 1, 2]] * 4)
    blind = jnp.broadcast_to(jnp.eye(n, dtype=bool), (4, n, n))
    sees = jnp.ones((4, n, n), bool)
    lp_blind, _, _ = jax.vmap(pol.log_prob, (None, 0, 0, 0, None, 0))(params, obs, avail, blind, None, actions)
    none = BNPolicy(**{**pol.__dict__, "mode": "none"})
    lp_none, _, _ = jax.vmap(none.log_prob, (None, 0, 0, 0, None, 0))(params, obs, avail, sees, None, actions)
    lp_sees, _, _ = jax.vmap(pol.log_prob, (None, 0, 0, 0, None, 0))(params, obs, avail, sees, None, actions)
    np.testing.assert_allclose(lp_blind, lp_none, atol=1e-6)
    assert not np.allclose(lp_sees, lp_none, atol=1e-3)


def test_bad_dag_mode():
    with pytest.raises(ValueError, match="'tree'.*none, line, full, context"):
        _policy(3, "tree")


def test_parent_in_equals_dense_one_hot_block():
    """ParentIn gathers kernel rows; it must equal the dense layer on the one-hot parent block, in value and
    in its gradients w.r.t. the (straight-through, real-valued) parent weights and the kernel."""
    from jbn.policy.networks import ParentIn

    n, a, f, b = 4, 3, 5, 6
    layer = ParentIn(n, a, f)
    rng = np.random.default_rng(0)
    parents = jnp.asarray(rng.uniform(-1, 1, (b, n)), jnp.float32)
    actions = jnp.asarray(rng.integers(0, a, (b, n)), jnp.int32)
    params = layer.init(jax.random.PRNGKey(0), parents, actions)
    kernel = np.asarray(params["params"]["kernel"], np.float64)
    block = (np.asarray(parents, np.float64)[:, :, None] * np.eye(a)[np.asarray(actions)]).reshape(b, n * a)
    np.testing.assert_allclose(layer.apply(params, parents, actions), block @ kernel, atol=1e-5)
    w = rng.normal(size=(b, f))
    gp, gk = jax.grad(lambda p, k: jnp.sum(layer.apply({"params": {"kernel": k}}, p, actions) * w), (0, 1))(
        parents, params["params"]["kernel"])
    onehot = np.eye(a)[np.asarray(actions)]  # [b, n, a]
    np.testing.assert_allclose(gp, np.einsum("bna,naf,bf->bn", onehot, kernel.reshape(n, a, f), w), atol=1e-5)
    np.testing.assert_allclose(gk, block.T @ w, atol=1e-5)


@pytest.mark.parametrize("prior,kw", [(0.5, {}), (0.9, {}), (0.95, {"learn_order": False}),
                                      (0.2, {"arch": "cg", "deepset_edges": True})])
def test_edge_prior_sets_each_edges_probability_at_initialisation(prior, kw):
    """A freshly initialised edge net samples each edge of U with probability `edge_prior` (the Gumbel-argmax of
    two-class logits is Bernoulli(sigmoid(l1 - l0))): the mean density of many sampled DAGs is the prior, within
    binomial error, and the permuted DAG keeps it (G = Π^T U Π has the edges of U)."""
    n, draws = 4, 4000
    pol = _policy(n, "context", edge_prior=prior, **kw)
    params = pol.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (draws, n, 4))
    noise = pol.sample_noise(jax.random.PRNGKey(2), (draws,))
    visible = jnp.ones((draws, n, n), bool)
    g, _, _ = jax.vmap(pol.dag, (None, 0, 0, 0, None))(params, obs, visible, noise, False)
    pairs = n * (n - 1) // 2
    edges = np.asarray(g).sum((-2, -1))  # per draw, edges among the n(n-1)/2 pairs
    tolerance = 4 * np.sqrt(prior * (1 - prior) / (draws * pairs))  # 4 binomial standard errors
    assert abs(edges.mean() / pairs - prior) < tolerance + 0.02  # + the edge net's small weights (gain 0.01)
    assert np.all(np.asarray(g)[:, np.arange(n), np.arange(n)] == 0)


def test_edge_prior_one_half_is_the_unbiased_start():
    """The default (0.5) gives the edge net a zero output bias, the paper's initialisation."""
    params = _policy(3, "context").init(jax.random.PRNGKey(0))
    biases = [np.asarray(layer["bias"]) for layer in params["edge"]["params"].values()]
    assert all(np.all(b == 0) for b in biases)


def test_the_id_layer_is_a_dense_layer_on_the_concatenation():
    """networks.IdDense reads (x, one-hot id) without concatenating them: the same parameters as flax's Dense on
    Concat(x, id) from the same key (checkpoints load either way) and the same outputs, for a batch of agents and
    without an id."""
    import flax.linen as nn

    from jbn.policy.networks import IdDense

    key = jax.random.PRNGKey(3)
    x = jax.random.normal(jax.random.PRNGKey(4), (5, 3, 7))  # [batch, agents, D]
    ids = jnp.eye(3)
    dense = nn.Dense(4, kernel_init=nn.initializers.orthogonal(np.sqrt(2.0)), bias_init=nn.initializers.zeros)
    concat = jnp.concatenate([x, jnp.broadcast_to(ids, (5, 3, 3))], -1)
    p_dense = dense.init(key, concat)
    p_id = IdDense(4).init(key, x, ids)
    assert jax.tree.structure(p_dense) == jax.tree.structure(p_id)
    for a, b in zip(jax.tree.leaves(p_dense), jax.tree.leaves(p_id)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    p = jax.tree.map(lambda w: w + 0.1, p_id)  # a nonzero bias too
    np.testing.assert_allclose(IdDense(4).apply(p, x, ids), dense.apply(p, concat), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(IdDense(4).apply(IdDense(4).init(key, x), x),
                               dense.apply(dense.init(key, x), x), rtol=1e-5, atol=1e-6)
