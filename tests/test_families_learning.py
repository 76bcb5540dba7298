"""A short learning check per env family (issue 30), in the slow set (`python -m pytest -m slow`).

Where ~1e5 env steps on a 2-core CPU show learning, one run per family trains through `resolve(Config(...))` +
`jbn.driver.loop.run` and its final joint evaluation must beat a uniformly random policy by a margin. The random
baseline is computed here, independently of the trainer: uniformly random available actions rolled out through
`envs_jax.ArrayEnv` for whole episodes. Each margin was checked on seeds 0 and 1 (bench/RESULTS.md, "Learning checks
per env family"); the tests run seed 0. Where learning needs far more steps than a test can afford (Overcooked,
RWARE, Connector, Cleaner), training runs 2 updates end to end with every DAG mode and with `--recurrent gru`
(none, full, context + GRU).
"""
import json
import math
import os
import sys

import jax
import jax.numpy as jnp
import pytest
from rich.console import Console

import envs_jax
from jbn.driver.loop import run
from jbn.training.config import Config, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # examples.same_colour:make is imported from the repository root
    sys.path.insert(0, ROOT)

pytestmark = pytest.mark.slow


def random_return(env_name: str, episodes: int = 256, seed: int = 0, **kwargs) -> float:
    """Mean return of the first episode of `episodes` envs under uniformly random available actions."""
    env = envs_jax.ArrayEnv(envs_jax.make(env_name, **kwargs))
    state, ts = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(seed), episodes))

    def body(carry, key):
        state, ts, ret, ended = carry
        act_key, step_key = jax.random.split(key)
        actions = jax.random.categorical(act_key, jnp.where(ts.avail, 0.0, -jnp.inf)).astype(jnp.int32)
        state, ts = jax.vmap(env.step)(jax.random.split(step_key, episodes), state, actions)
        first = ts.done & ~ended
        return (state, ts, jnp.where(first, ts.episode_return, ret), ended | ts.done), None

    init = (state, ts, jnp.zeros(episodes), jnp.zeros(episodes, bool))
    (_, _, ret, ended), _ = jax.jit(lambda c: jax.lax.scan(body, c, jax.random.split(
        jax.random.PRNGKey(seed + 1), env.max_steps + 1)))(init)
    assert bool(ended.all()), "an episode outlasted the env's own limit"
    return float(ret.mean())


def train(tmp_path, env_name: str, dag: str, **over) -> dict:
    cfg = resolve(Config(env=env_name, dag=dag, checkpoint=False, run_dir=str(tmp_path / "run"), **over))
    return run(cfg, console=Console(stderr=True, quiet=True))


# ------------------------------------------------------------------------------------------------ learning
# (env, dag, env steps, extra config, margin over the random return, absolute floor or None). Measured returns
# (final joint eval, 32 episodes; seeds 0 / 1) are in bench/RESULTS.md.
LEARNING = {
    # Claus & Boutilier's Climbing game, 25 steps: payoffs [[11, -30, 0], [-30, 7, 6], [0, 0, 5]] (a random joint
    # action pays -31/9 per step); independent learners are known to settle in the safe corner (b/c x b/c: 5 to 7)
    # rather than at the optimum 11: >= 4 per step (100) is out of reach of a policy that still hits the -30 cells.
    "climbing": ("matrax_Climbing-stateless", "none", 100_000, {}, 150.0, 100.0),
    # Penalty-100: [[-100, 0, 10], [0, 2, 0], [10, 0, -100]]: random -19.8 per step; the safe (1,1) pays 2, the
    # optima (0,2)/(2,0) 10: >= 1 per step (25) means the -100 cells are avoided.
    "penalty": ("matrax_Penalty-100-stateless", "none", 100_000, {}, 400.0, 25.0),
    # MPE simple_spread (3 agents, 26 steps, the sum of the agents' rewards): the landmarks get covered.
    "mpe": ("mpe_simple_spread", "none", 100_000, {}, 12.0, None),
    # LBF 8x8, 2 players, 2 foods, cooperative (every food needs both): the return is the share of food eaten
    # (Mava's sum of the agents' rewards, 1 when all is eaten); random players eat almost none (~0.02).
    "lbf": ("lbf_8x8-2p-2f-coop", "none", 100_000, {}, 0.15, None),
    # your own env: 3 agents agree on one of 3 colours for 1 per step over 10 steps; random agreement is 1/9
    # per step (1.1 per episode); a DAG lets later agents copy earlier ones (lr 2e-3: the custom preset's 2.5e-4
    # needs several times more steps).
    "own_env_full": ("examples.same_colour:make", "full", 100_000, {"lr": 2e-3}, 6.0, 8.0),
}


@pytest.mark.parametrize("case", sorted(LEARNING))
def test_a_short_run_beats_a_random_policy(tmp_path, case):
    env_name, dag, steps, over, margin, floor = LEARNING[case]
    baseline = random_return(env_name)
    summary = train(tmp_path, env_name, dag, total_steps=steps, eval_episodes=32, seed=0, **over)
    got = summary["eval"]["joint"]["return_mean"]
    print(f"{case}: trained {got:.2f}, random {baseline:.2f}")
    assert got > baseline + margin, (got, baseline)
    if floor is not None:
        assert got >= floor, (got, floor)


# ------------------------------------------------------------------------------------------------ runs end to end
RUNS_ONLY = ["overcooked_cramped_room", "rware_tiny-2ag", "connector_con-5x5x3a", "cleaner_clean-5x5x5a"]
# every DAG mode once and the GRU once (on context, the mode with the most moving parts): each run is one compile of
# ~1 minute on a loaded 2-core CPU, so the 12 runs stay within ~15 minutes
MODES = [("none", "none"), ("full", "none"), ("context", "gru")]


@pytest.mark.parametrize("dag, recurrent", MODES, ids=[f"{d}-{r}" for d, r in MODES])
@pytest.mark.parametrize("env_name", RUNS_ONLY)
def test_training_runs_two_updates_end_to_end(tmp_path, env_name, dag, recurrent):
    """2 updates of 4 envs x 16 steps (one update per chunk, each logged; no evaluation, to keep the compile short):
    every logged metric finite."""
    summary = train(tmp_path, env_name, dag, recurrent=recurrent, num_envs=4, num_steps=16, total_steps=2 * 4 * 16,
                    num_epochs=1, num_minibatches=1, updates_per_chunk=1, eval_episodes=0)
    assert summary["update"] == 2
    rows = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert [row["update"] for row in rows] == [1, 2]
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float):
                assert math.isfinite(value), (key, value)
