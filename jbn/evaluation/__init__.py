"""Evaluation of trained joint policies (docs/architecture.md §4), with the paper's analyses, in one compiled pass.

    ev = make_evaluator(cfg, policy, env, num_episodes)       # Python setup; compiles on the first call
    rows = ev(params, key, update=U, env_steps=X, first_seed=cfg.seed)   # list[dict], JSON-ready

Files: kernel.py (the compiled episodes: `make_episodes`, its named scan `Carry`), rows.py (rows, summaries, the
evaluation seed), evaluator.py (`Evaluator`, `make_evaluator`), load.py (a run directory read back), tables.py (the
CLI's tables), on_real_game.py (the same rows from episodes played on the real StarCraft II, host side),
analysis.py (the paper's analyses of a learned DAG, one env step at a time), render.py (an episode as a GIF) and
cli.py (the command line `python -m jbn.evaluate`, whose thin module is jbn/evaluate.py). This package sits above
the training program and the host side: it may import jbn.host, jbn.training and jbn.policy, never the driver or
the results tooling (the driver imports it to evaluate during training).

For each seed, every combination of
  policy   joint (the DAG mode as trained) | decentralized (the same parameters with mode none: every agent acts
           on its own observation alone, as the annealed policy is meant to run; only when the mode is not none)
  sampling sampled | greedy (each agent takes the argmax of its conditional, in topological order, and the DAG is
           the most likely one: zero Gumbel noise, `BNPolicy.greedy`)
runs `num_episodes` parallel episodes (the first episode of each env, up to env.max_steps steps) and gives one row.
All combinations step together as one batch of C x M envs through one `lax.scan` (one env step traced, one
compile for all of them) and share their random numbers: the same initial states, env-step keys and action keys,
so two rows differ only through their policies (common random numbers; with mode none the joint and decentralized
rows are identical).

Row schema (one per seed x policy x sampling; floats, NaN -> null):
  update, env_steps, seed, policy ("joint" | "decentralized"), greedy (bool), return (mean episode return),
  length (mean episode length in env steps), episodes (M), win_rate (mean; only for envs with wins, SMAX),
  returns [M] (each episode's return, in episode order), wins [M] (0/1; envs with wins)
and on every joint row (sampled and greedy; all zeros / null for mode none), averaged over every step of the
evaluation episodes before each env's first episode end (jbn/evaluation/analysis.py):
  kl_by_agent [N]                     Fig. 10: KL(π_i(.|o_i, a^{P_i}) ‖ π_i(.|o_i, ∅)), over the steps where agent i is
                                      active (more than one available action: a dead SMAX unit has no choice)
  parents_by_agent [N]                mean in-degree Σ_j G[j, i] of the sampled G (before invisible-parent masking)
  dag_density                         mean ρ(G)
and those the env's family declares (envs_jax/families/base.py; `kernel.declared_analyses`):
  visible_parent_fraction             Fig. 7: Σ visible chosen parents / Σ chosen parents, pooled over agents; where the
                                      family has visibility (SMAX, LBF)
  parent_health_ratio_by_agent        Fig. 8 (`analysis.parent_health_ratio`, mean over the steps where defined); where
                                      its team geometry has health (SMAX)
  parent_distance_ratio_by_agent      Fig. 9 (`analysis.parent_distance_ratio`, likewise); where it has a team geometry
                                      (SMAX, MPE, LBF, RWARE)
  the step snapshot's field           Fig. 5: the family's picture of the first step of episode 0 (Aloha:
                                      aloha_snapshot, envs_jax/families/aloha.py)
"""
from .evaluator import Evaluator, evaluate, make_evaluator
from .kernel import POLICIES, Combo, Declared, EvalOut, combos_for, declared_analyses, make_episodes, policy_for
from .load import load_config, load_params, pick_checkpoint
from .rows import EVAL_SEED_OFFSET, eval_seed, rows_of, summarize

__all__ = ["Evaluator", "evaluate", "make_evaluator", "POLICIES", "Combo", "Declared", "EvalOut", "combos_for",
           "declared_analyses", "make_episodes", "policy_for", "load_config", "load_params", "pick_checkpoint",
           "EVAL_SEED_OFFSET", "eval_seed", "rows_of", "summarize"]
